"""Data-parallel training (reinforce.dist: runtime, JobReducer, launch) on 2 CPU processes with gloo.

- 2 ranks × E envs = 1 process × 2E envs: the same recorded transitions give the same parameters,
  value function, observation statistics and metrics (float tolerance), for every option.
- after several real updates (each rank its own envs) the ranks' parameters are bit-identical.
- a rank killed with SIGKILL ends the torchrun job quickly, non-zero, naming the dead rank.
- with --max-restarts the job resumes from the last checkpoint.

The 2-rank tests fork from the test process (no second torch import: seconds, not tens of seconds,
on a loaded 2-core machine); the failure tests run the real launcher, torchrun, on tests/dist_worker.py.
"""
from __future__ import annotations

import copy
import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import reinforce
from reinforce.dist import launch
from reinforce.dist import runtime as rd
from reinforce.dist.reducer import JobReducer
from reinforce.rollout import Batch
from reinforce.run.checkpoint import gather_rank_states, payload_for_rank

WORKER = Path(__file__).parent / "dist_worker.py"
E, T = 3, 20

# (env id, policy hidden sizes, Reinforce options): every option with a batch-wide statistic or a second model.
CASES = [
    ("CartPole-v1", (), {}),  # the default: reward_to_go, no baseline
    ("CartPole-v1", (), {"returns": "total", "baseline": "mean", "normalize_advantages": True, "entropy_coef": 0.01}),
    ("CartPole-v1", (8,), {"baseline": "value", "max_grad_norm": 0.05, "value_iters": 3, "normalize_observations": True}),
    (
        "reinforce/CartPoleSwingUp-v0",
        (16, 16),
        {"baseline": "gae", "gae_lambda": 0.9, "normalize_advantages": True, "value_iters": 2, "max_grad_norm": 1.0,
         "normalize_observations": True},
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_two_ranks(fn, *args) -> None:
    """fn(rank, *args) in 2 forked processes joined into a gloo group by init_from_env (as under torchrun)."""
    # Lazy imports (torch._dynamo on the first optimiser: seconds here) happen once, before the fork.
    for env_id, hidden, options in CASES:
        _make(env_id, hidden, options, 2, 0).update(_make(env_id, hidden, options, 2, 0).collect())
    port = _free_port()
    mp.start_processes(_entry, args=(port, fn, args), nprocs=2, join=True, start_method="fork")


def _entry(rank: int, port: int, fn, args) -> None:
    os.environ.update(
        {"RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    )
    torch.set_num_threads(1)
    assert rd.init_from_env(timeout=60) == (rank, 2, rank)
    try:
        fn(rank, *args)
    finally:
        rd.destroy()


def _make(env_id: str, hidden, options: dict, num_envs: int, seed: int, distributed: bool = False):
    """An agent on `num_envs` native envs seeded `seed` (which seeds torch's sampling stream too);
    `distributed`: reduced over the process group (rank 0's initial weights everywhere)."""
    torch.manual_seed(0)
    options = dict(options)
    normalize = options.pop("normalize_observations", False)
    env = reinforce.make_vec_env(env_id, num_envs=num_envs, seed=seed, backend="native")
    policy = reinforce.make_policy(env.single_observation_space, env.single_action_space, hidden_sizes=hidden,
                                   normalize_observations=normalize)
    extra = {"reducer": JobReducer()} if distributed else {}
    return reinforce.Reinforce(env, policy, lr=0.05, gamma=0.99, steps_per_rollout=T, **options, **extra)


def _state(agent) -> dict[str, torch.Tensor]:
    out = {f"policy.{k}": v.clone() for k, v in agent.policy.state_dict().items()}
    if agent.value_fn is not None:
        out.update({f"value.{k}": v.clone() for k, v in agent.value_fn.state_dict().items()})
    return out


def _assert_close_metrics(got: dict, want: dict, where: str) -> None:
    assert set(got) == set(want), where
    for key in want:
        g, w = float(got[key]), float(want[key])
        assert (math.isnan(g) and math.isnan(w)) or math.isclose(g, w, rel_tol=2e-5, abs_tol=1e-6), f"{where}: {key} {g} != {w}"


def _equivalence(rank: int) -> None:
    for env_id, hidden, options in CASES:
        where = f"{env_id} {options}"
        # One process with 2E envs, starting from the same parameters (rank 0's, broadcast at construction).
        reference = _make(env_id, hidden, options, 2 * E, 0)
        agent = _make(env_id, hidden, options, E, rd.rank_seed(0, rank, E), distributed=True)
        reference.policy.load_state_dict(agent.policy.state_dict())
        if agent.value_fn is not None:
            reference.value_fn.load_state_dict(agent.value_fn.state_dict())
        for step in range(2):  # the second update also checks the merged observation statistics and Adam state
            batch = agent.collect()
            batches = [None, None]
            dist.all_gather_object(batches, batch)
            assert not torch.equal(batches[0].obs, batches[1].obs), "ranks must collect different data"
            metrics = agent.update(batch)
            want = reference.update(Batch.concat(batches))
            for key in ("time/steps_per_s", "time/wall_s"):  # timings (added by the training loop, not update): not comparable
                metrics.pop(key, None), want.pop(key, None)
            _assert_close_metrics(metrics, want, f"{where}, update {step}")
            got_state, want_state = _state(agent), _state(reference)
            for key, value in want_state.items():
                torch.testing.assert_close(got_state[key], value, rtol=1e-5, atol=1e-6, msg=f"{where}, update {step}: {key}")
        assert metrics["rollout/episodes"] == want["rollout/episodes"]
        assert agent.env_steps == 2 * 2 * T * E
        assert agent.reducer.in_sync(agent.modules()), where


def test_two_ranks_equal_one_process_on_the_concatenated_batch():
    _run_two_ranks(_equivalence)


def _stay_in_sync(rank: int) -> None:
    options = {"baseline": "value", "normalize_advantages": True, "value_iters": 2}
    agent = _make("reinforce/CartPoleSwingUp-v0", (16, 16), options, E, rd.rank_seed(0, rank, E), distributed=True)
    initial = copy.deepcopy(agent.policy.state_dict())
    history = agent.learn(4)
    assert agent.reducer.in_sync(agent.modules())
    assert any(not torch.equal(initial[k], v) for k, v in agent.policy.state_dict().items())
    assert [m["time/env_steps"] for m in history] == [2 * T * E * (i + 1) for i in range(4)]
    # Reduced metrics are the same on every rank.
    table = [None, None]
    dist.all_gather_object(table, history)
    assert json.dumps(table[0]) == json.dumps(table[1])
    # Stop agreement: one rank asking is enough.
    assert rd.any_rank(rank == 1) is True and rd.any_rank(False) is False
    # Rank 0's result (or its error) reaches every rank.
    assert rd.broadcast_from_main(lambda: rd.get_rank() * 10 + 7) == 7
    with pytest.raises(FileExistsError, match="exists") as raised:
        rd.broadcast_from_main(lambda: (_ for _ in ()).throw(FileExistsError("run folder exists")))
    assert getattr(raised.value, "raised_on_rank0", False) == (rank == 1)  # rank 0 reports it, the others need not
    # Checkpoint parts: rank 0 receives every rank's.
    ranks = gather_rank_states({"collector": {"rank": rank}, "env": None, "rng": None, "agent": {}})["ranks"]
    assert ranks == ([{"collector": {"rank": 0}, "env": None, "rng": None}, {"collector": {"rank": 1}, "env": None, "rng": None}]
                     if rank == 0 else None)


def test_parameters_stay_identical_over_real_updates():
    _run_two_ranks(_stay_in_sync)


def _resume_exactly(rank: int) -> None:
    from reinforce.run.checkpoint import restore_training_state, training_state
    from reinforce.config import Config

    case = ("CartPole-v1", (8,), {"baseline": "value", "value_iters": 2, "normalize_observations": True})
    seed = rd.rank_seed(0, rank, E)
    cfg = Config(env_id="CartPole-v1", num_envs=E, steps_per_rollout=T, seed=0)
    agent = _make(*case, E, seed, distributed=True)
    agent.learn(2)
    state = training_state(cfg, agent, 1)
    gathered = gather_rank_states(state)  # every rank takes part; rank 0 gets the list
    # As if written and read back by rank 0 (a copy: the state holds the live tensors training goes on with).
    payload = rd.broadcast_from_main(lambda: copy.deepcopy(gathered))
    uninterrupted = [{k: v for k, v in m.items() if not k.startswith("time/") or k == "time/env_steps"} for m in agent.learn(2)]
    # A fresh job of the same world size resumes from the checkpoint: each rank gets its own envs back.
    resumed = _make(*case, E, seed, distributed=True)
    mine, same_world = payload_for_rank(payload, rank, 2)
    assert same_world and restore_training_state(mine, resumed) == "full"
    again = [{k: v for k, v in m.items() if not k.startswith("time/") or k == "time/env_steps"} for m in resumed.learn(2)]
    assert json.dumps(again) == json.dumps(uninterrupted)
    for key, value in _state(agent).items():
        assert torch.equal(_state(resumed)[key], value), key


def test_resume_with_the_same_world_size_is_exact():
    _run_two_ranks(_resume_exactly)


def _mismatch(rank: int) -> None:
    with pytest.raises(ValueError, match="same config"):
        _make("CartPole-v1", (), {}, E + rank, 0, distributed=True)


def test_ranks_with_different_configs_are_refused():
    _run_two_ranks(_mismatch)


def test_helpers_without_a_process_group(monkeypatch):
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert rd.init_from_env() == (0, 1, 0) and not dist.is_initialized()
    assert rd.is_main_process() and rd.get_world_size() == 1 and not rd.is_distributed()
    assert rd.any_rank(True) and rd.broadcast_from_main(lambda: 5) == 5
    assert rd.rank_seed(10, 2, 32) == 74
    assert launch.remove_flag(["train", "--nproc", "2", "--nproc=3", "--seed", "1"], "--nproc") == ["train", "--seed", "1"]
    command = launch.torchrun_command(2, ["train", "--quiet"], max_restarts=1)
    assert command[1:3] == ["-m", "torch.distributed.run"] and command[-4:] == ["-m", "reinforce", "train", "--quiet"]
    assert "--nproc-per-node=2" in command and "--max-restarts=1" in command
    with pytest.raises(RuntimeError, match="init_from_env"):
        _make("CartPole-v1", (), {}, E, 0, distributed=True)
    monkeypatch.setenv(rd.TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match=rd.TIMEOUT_ENV):
        rd.timeout_s()


def test_payload_for_rank_picks_the_rank_state_or_drops_env_state():
    payload = {"agent": {"epoch": 3}, "collector": {"obs": 0}, "env": "e0", "rng": "r0",
               "ranks": [{"collector": {"obs": 0}, "env": "e0", "rng": "r0"}, {"collector": {"obs": 1}, "env": "e1", "rng": "r1"}],
               "world_size": 2}
    mine, exact = payload_for_rank(payload, 1, 2)
    assert exact and mine["env"] == "e1" and mine["rng"] == "r1" and mine["agent"] == {"epoch": 3}
    other, exact = payload_for_rank(payload, 0, 3)
    assert not exact and other["env"] is None and other["collector"] is None and other["rng"] == "r0"
    single, same = payload_for_rank(payload, 0, 1)  # one process continues rank 0's envs
    assert single is payload and not same
    plain = {k: v for k, v in payload.items() if k not in ("ranks", "world_size")}
    assert payload_for_rank(plain, 0, 1) == (plain, True)
    assert payload_for_rank(plain, 1, 2)[0]["env"] is None


def _torchrun(tmp_path: Path, scenario: str, max_restarts: int = 0, timeout: float = 150) -> tuple[subprocess.CompletedProcess, float]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
               f"--max-restarts={max_restarts}", "--monitor-interval=0.1", str(WORKER), scenario, str(tmp_path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    return proc, time.time()


def test_killed_rank_ends_the_job_or_restarts_it_from_the_checkpoint(tmp_path):
    """One torchrun job with --max-restarts=1 (each launch costs seconds of imports): rank 1 is
    SIGKILLed at epoch 3, torchrun restarts the group, which resumes from the checkpoint after
    epoch 3; rank 1 is SIGKILLed again at epoch 5, no restart is left, the job ends."""
    proc, ended = _torchrun(tmp_path, "crash", max_restarts=1)
    out = proc.stdout + proc.stderr
    resumed = json.loads((tmp_path / "resumed.json").read_text())
    assert resumed == {"attempt": 1, "resumed_from": 3, "in_sync": True, "level": "full"}, out[-3000:]
    assert proc.returncode != 0, out[-3000:]
    killed_at = float((tmp_path / "killed").read_text())
    assert ended - killed_at < 30, f"the job took {ended - killed_at:.1f} s to stop after rank 1 died"
    # torchrun names the dead rank and its signal as the root cause (the survivor, whose collective
    # failed, waits PEER_FAILURE_GRACE_S before raising, so it is not mistaken for the cause).
    root_cause = out[out.rindex("Root Cause"):]
    assert "rank      : 1" in root_cause and "SIGKILL" in root_cause, out[-3000:]


def test_the_same_error_of_every_rank_is_printed_once():
    import io

    def shown(lines: list[str]) -> str:
        out = io.StringIO()
        output = launch.TorchrunOutput(out)
        for line in lines:
            output.feed(line)
        output.finish()
        assert output.reported
        return out.getvalue()

    msg = "device 'cuda' is not available: this torch build or machine has no CUDA GPU; use --device cpu"
    same = [f"reinforce: error: rank {r} of 2: {msg}\n" for r in (1, 0)]
    assert shown(same) == f"reinforce: error: all 2 ranks: {msg}\n"
    different = [same[0], "reinforce: error: rank 0 of 2: something else\n"]
    assert shown(different) == "".join(different)  # each rank's own, in their order
    assert shown(same[:1]) == same[0]  # one rank of two: its line as it was
    once = f"reinforce: error: all 2 ranks: {msg}\n"
    assert shown(["a warning\n", *same, *same]) == "a warning\n" + once + once  # a restarted group: once per attempt
