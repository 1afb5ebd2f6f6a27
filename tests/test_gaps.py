"""Paths no other test walks: `train --nproc 2` and `--max-restarts`, resuming a `--seeds` folder, the async
backend, squashed Gaussians, `plot --x/--threshold`, `record --deterministic/--fps`, and the mutation audit.

Command-line paths run as the user runs them, in a subprocess (`python -m reinforce ...`): exit code 0
and no traceback on stderr, then the files they wrote are checked.
"""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

import reinforce
from reinforce import config as config_mod
from reinforce.run.checkpoint import load_checkpoint
from reinforce.tools.episodes import run_episodes
from reinforce.tools.evaluate import load_run_policy

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--num-envs", "2", "--steps-per-rollout", "20", "--quiet", "--no-tensorboard"]


def cli(*args, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "reinforce", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, (proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def curve(run: Path) -> pd.DataFrame:
    frame = pd.read_csv(run / "metrics.csv")
    return frame[[c for c in frame.columns if not c.startswith("time/") or c == "time/env_steps"]]


# -- torchrun through the command line ----------------------------------------------------------------
@pytest.mark.slow
def test_train_nproc_2_writes_one_run_with_both_ranks_state(tmp_path):
    cli("train", "--preset", "cartpole", "--nproc", "2", "--max-restarts", "1", "--epochs", "2", *TINY, "--no-plot",
        "--out", "run", cwd=tmp_path)
    run = tmp_path / "run"
    payload = load_checkpoint(run / "checkpoint.pt")
    assert payload["world_size"] == 2 and len(payload["ranks"]) == 2
    assert payload["agent"]["epoch"] == 2
    rank_obs = [r["collector"]["obs"] for r in payload["ranks"]]
    assert not torch.equal(*rank_obs)  # each rank ran its own envs (seeded seed + rank·E)
    torch.testing.assert_close(payload["collector"]["obs"], rank_obs[0])  # rank 0's at the top level
    # metrics are the job's: 2 ranks × 2 envs × 20 steps per epoch
    assert pd.read_csv(run / "metrics.csv")["time/env_steps"].tolist() == [80, 160]


def test_max_restarts_is_handed_to_torchrun(monkeypatch, tmp_path):
    from reinforce import cli as cli_mod
    from reinforce.dist import launch

    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "TORCHELASTIC_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    calls = []
    monkeypatch.setattr(launch, "launch_local", lambda nproc, argv, max_restarts=0: calls.append((nproc, list(argv), max_restarts)) or 0)
    rest = ["--preset", "cartpole", "--epochs", "1", "--out", str(tmp_path / "run")]
    assert cli_mod.main(["train", "--nproc", "2", *rest[:2], "--max-restarts", "3", *rest[2:]]) == 0
    assert calls == [(2, ["train", *rest], 3)]  # the launcher's own flags are not passed on to the workers
    command = launch.torchrun_command(*calls[0])
    assert "--max-restarts=3" in command and "--nproc-per-node=2" in command and command[-len(rest) - 1:] == ["train", *rest]
    assert not (tmp_path / "run").exists()


# -- a folder of seeds, resumed -----------------------------------------------------------------------
@pytest.mark.slow
def test_resuming_a_seeds_folder_continues_every_seed_exactly(tmp_path):
    cli("train", "--preset", "cartpole", "--seeds", "0-1", "--jobs", "2", "--epochs", "2", *TINY, "--out", "seeds",
        cwd=tmp_path)
    before = {s: curve(tmp_path / "seeds" / f"seed{s}") for s in (0, 1)}
    cli("train", "--resume", "seeds", "--epochs", "3", "--jobs", "2", "--quiet", "--no-tensorboard", cwd=tmp_path)
    for s in (0, 1):
        run = tmp_path / "seeds" / f"seed{s}"
        after = curve(run)
        assert after["epoch"].tolist() == [0, 1, 2]
        pd.testing.assert_frame_equal(after.iloc[:2], before[s])
        assert load_checkpoint(run / "checkpoint.pt")["agent"]["epoch"] == 3
        # native CartPole resumes exactly: the same curve as 3 epochs in one go
        cfg = config_mod.load(run).replace(epochs=3)
        straight = reinforce.train(cfg, tmp_path / f"straight{s}", tensorboard=False)
        pd.testing.assert_frame_equal(after, curve(straight))
    assert (tmp_path / "seeds" / "curve_summary.csv").exists()


# -- the async backend, squashed Gaussians ------------------------------------------------------------
def test_async_backend_trains_like_sync():
    """AsyncVectorEnv (one process per env) seeds its sub-envs as SyncVectorEnv does: the same epoch."""
    histories = {}
    for backend in ("sync", "async"):
        env = reinforce.make_vec_env("CartPole-v1", num_envs=2, seed=0, backend=backend)
        try:
            agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), lr=0.05, steps_per_rollout=30)
            histories[backend] = [{k: v for k, v in m.items() if not k.startswith("time/") or k == "time/env_steps"}
                                  for m in agent.learn(1)]
        finally:
            env.close()
    assert histories["async"][0]["rollout/episodes"] > 0 and math.isfinite(histories["async"][0]["train/loss"])
    assert histories["async"] == histories["sync"]


def test_make_policy_squash_keeps_actions_inside_the_bounds_with_finite_log_probs():
    obs_space = gym.spaces.Box(-np.inf, np.inf, (3,), np.float32)
    act_space = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 0.5], np.float32))
    policy = reinforce.make_policy(obs_space, act_space, squash=True, log_std_init=2.0)  # wide: many samples saturate
    assert isinstance(policy, reinforce.DiagonalGaussianPolicy) and policy.squash
    obs = torch.randn(4096, 3) * 10
    actions = policy.act(obs)
    low, high = torch.tensor(act_space.low), torch.tensor(act_space.high)
    assert ((actions > low) & (actions < high)).all()
    assert (actions < low + 0.01).any() and (actions > high - 0.01).any()  # the bounds are reached, not crossed
    log_prob = policy.pi(obs).log_prob(actions)
    assert log_prob.shape == (4096,) and torch.isfinite(log_prob).all()
    torch.testing.assert_close(policy.act(obs[:5], deterministic=True), (low + high) / 2 + (high - low) / 2 * torch.tanh(policy.mu(obs[:5])))
    # and it trains: a squashed Pendulum policy takes finite steps, its stored actions inside [-2, 2]
    env = reinforce.make_vec_env("Pendulum-v1", num_envs=4, seed=0)
    pendulum = reinforce.make_policy(env.single_observation_space, env.single_action_space, squash=True, log_std_init=1.0)
    agent = reinforce.Reinforce(env, pendulum, lr=0.01, steps_per_rollout=50)
    batch = agent.collect()
    assert (batch.actions.abs() < 2).all()
    assert math.isfinite(agent.update(batch)["train/loss"])


# -- plot and record ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    """Two short CartPole-v1 runs (seeds 0, 1) of the cartpole-fast preset with 64-step rollouts at lr 0.3 (pinned:
    not the preset's own, which may be retuned): seed 0 passes 100, seed 1 does not."""
    root = tmp_path_factory.mktemp("runs")
    return [reinforce.train("cartpole-fast", root / f"seed{s}", tensorboard=False, epochs=10, seed=s, num_envs=128,
                            steps_per_rollout=64, lr=0.3)
            for s in (0, 1)]


def test_plot_against_env_steps_with_a_threshold(runs, tmp_path):
    cli("plot", *runs, "--x", "time/env_steps", "--threshold", "100", "--out", "steps.png", cwd=tmp_path)
    table = pd.read_csv(tmp_path / "steps_summary.csv")
    assert (table["threshold"] == 100).all()
    reached = []
    for run, row in zip(runs, table.itertuples()):
        returns = pd.read_csv(run / "metrics.csv")["rollout/ep_return_mean"]
        first = next((i for i, r in enumerate(returns) if r >= 100), None)
        want = None if first is None else first + 1  # epochs until it first reached 100
        assert (None if pd.isna(row.epochs_to_threshold) else int(row.epochs_to_threshold)) == want, (run, returns.tolist())
        reached.append(want is not None)
    assert reached == [True, False], "the runs should straddle the threshold"
    assert "1 of 2 reached 100" in (tmp_path / "steps_summary.md").read_text()
    # the x axis is taken from the flag: against epochs the same runs give another picture
    cli("plot", *runs, "--threshold", "100", "--out", "epochs.png", cwd=tmp_path)
    assert (tmp_path / "steps.png").read_bytes() != (tmp_path / "epochs.png").read_bytes()


def test_record_deterministic_at_10_fps(runs, tmp_path):
    from PIL import Image, ImageSequence

    run, seed = runs[1], 3
    proc = cli("record", run, "--out", "policy.gif", "--deterministic", "--fps", "10", "--seed", seed, cwd=tmp_path)
    match = re.search(r"(\d+) frames at 10 fps, episode returns ([\d.]+)", proc.stdout)
    assert match, proc.stdout
    frames, recorded = int(match.group(1)), float(match.group(2))
    with Image.open(tmp_path / "policy.gif") as gif:  # the GIF merges identical frames, adding their durations
        durations = [frame.info["duration"] for frame in ImageSequence.Iterator(gif)]
    assert sum(durations) == 100 * frames and set(durations) <= {100 * k for k in range(1, frames + 1)}  # 10 per second
    # --deterministic: the policy's mode from the episode's seeded start, whatever torch's seed
    policy = load_run_policy(run).policy
    returns = {}
    for deterministic in (True, False):
        env = reinforce.make_vec_env("CartPole-v1", 1, backend="sync")
        with torch.random.fork_rng():
            torch.manual_seed(seed + 1)
            returns[deterministic] = float(run_episodes(policy, env, 1, deterministic, seed=seed)[0][0])
        env.close()
    assert recorded == returns[True] and frames == recorded + 1  # the start frame, then one per step
    assert returns[False] != returns[True], "test has no power: a sampled episode scores the same"


# -- the mutation audit ---------------------------------------------------------------------------------
def test_every_planted_bug_still_applies_to_the_source():
    """Each bug's exact text is found once in src/reinforce and the mutant compiles (else the audit would test nothing)."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mutations.py"), "--check"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.slow
def test_mutation_audit_catches_a_planted_bug(tmp_path):
    """The audit end to end on one cheap bug and one test file: control passes, the mutant is caught."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "mutations.py"), "--only", "loss_wrong_sign",
                           "--files", "test_algorithm.py"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["control"] == {"test_algorithm.py": "passed"} and result["survivors"] == []
    caught = result["bugs"]["loss_wrong_sign"]["caught_by"]
    assert list(caught) == ["test_algorithm.py"] and caught["test_algorithm.py"].startswith("tests/test_algorithm.py::")
