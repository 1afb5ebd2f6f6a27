"""Every failure a user can cause, by name: nothing lost, and one clear line instead of a traceback.

The items follow issue 13's list (data loss first, then errors); CLI cases check the exit code and
that stderr is one line without "Traceback".
"""
import errno
import os
import pathlib
import sys

import gymnasium as gym
import pandas as pd
import pytest
import torch

import reinforce
from reinforce.cli import main
from reinforce.run import checkpoint as ckpt_mod
from reinforce.run.logger import truncate_metrics
from reinforce.run.trainer import resume, train

TINY = ["--num-envs", "2", "--steps-per-rollout", "20", "--quiet", "--no-tensorboard"]


def small(**changes):
    return reinforce.Config(**{"env_id": "CartPole-v1", "num_envs": 2, "steps_per_rollout": 20, "epochs": 4, **changes})


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("reinforce: error: ") and err.count("\n") == 1, err
    return err


# -- 1. resume never deletes ----------------------------------------------------------------------
def test_resume_without_a_checkpoint_keeps_every_file(tmp_path, capsys):
    run = tmp_path / "run"
    train(small(), run, quiet=True)
    (run / "checkpoint.pt").unlink()
    (run / "checkpoint.prev.pt").unlink(missing_ok=True)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    err = one_line_error(capsys)
    assert f"no checkpoint in {run}; start a new run with --out NEW or drop --resume" in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_resume_of_a_prepared_folder_starts_it(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    reinforce.config.save(small(epochs=2), run / "config.toml")  # what --seeds leaves before it starts a seed
    assert len(resume(run, quiet=True)) == 2


# -- 2. one row per epoch after any crash -------------------------------------------------------------
def test_a_torn_last_row_is_dropped_and_resume_writes_each_epoch_once(tmp_path):
    run = tmp_path / "run"
    train(small(epochs=4), run, quiet=True, checkpoint_every=2)
    whole = pd.read_csv(run / "metrics.csv")
    # As if killed (or out of disk) while writing epoch 3's row, after the checkpoint at epoch 2:
    # the checkpoint says 2 epochs, the file holds rows 0-2 and a torn row whose epoch field reads "1".
    lines = (run / "metrics.csv").read_text().splitlines(keepends=True)
    (run / "metrics.csv").write_text("".join(lines[:4]) + "1,4")
    ckpt_mod.save_checkpoint(run, {**ckpt_mod.load_checkpoint(run / "checkpoint.prev.pt")})
    assert ckpt_mod.checkpoint_epoch(run / "checkpoint.pt") == 2
    resume(run, quiet=True)
    again = pd.read_csv(run / "metrics.csv")
    assert list(again["epoch"]) == [0, 1, 2, 3]
    pd.testing.assert_series_equal(again["rollout/ep_return_mean"], whole["rollout/ep_return_mean"])


def test_truncate_metrics_stops_at_a_torn_or_out_of_order_row(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("epoch,a,b\n0,1,2\n1,1,2\n2,1\n")  # row 2 is torn (a field missing)
    assert truncate_metrics(path, 3) == 1 and path.read_text() == "epoch,a,b\n0,1,2\n1,1,2\n"
    path.write_text("epoch,a,b\n0,1,2\n1,1,2\n1,1,2\n")  # a duplicated epoch
    assert truncate_metrics(path, 3) == 1


def test_stale_tmp_files_are_cleaned_on_resume(tmp_path):
    run = tmp_path / "run"
    train(small(epochs=2), run, quiet=True, checkpoint_every=1)
    for name in ("checkpoint.pt.tmp", "checkpoint.prev.pt.tmp", "policy.pt.tmp"):
        (run / name).write_bytes(b"half a file")
    resume(run, quiet=True, epochs=3)
    assert not list(run.glob("*.tmp"))


# -- 5. clear errors for bad values ------------------------------------------------------------------
@pytest.mark.parametrize("change, word", [({"lr": float("inf")}, "lr"), ({"max_grad_norm": float("nan")}, "max_grad_norm"),
                                          ({"value_iters": 0}, "value_iters"), ({"seed": -1}, "seed"), ({"seed": 10**23}, "seed")])
def test_bad_values_are_named(change, word):
    with pytest.raises(ValueError, match=word):
        small(**change)


def test_a_policy_that_does_not_fit_the_env_is_refused():
    env = reinforce.make_vec_env("CartPole-v1", num_envs=2, seed=0)
    with pytest.raises(ValueError, match="gives 5 actions, but the env has 4 and 2"):
        reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 5))
    with pytest.raises(ValueError, match="takes 3 observation values"):
        reinforce.Reinforce(env, reinforce.CategoricalPolicy(3, 2))
    with pytest.raises(ValueError, match="discrete"):
        reinforce.Reinforce(env, reinforce.DiagonalGaussianPolicy(4, 2))


@pytest.mark.parametrize(
    "damage, words",
    [
        (lambda p: p["agent"].__setitem__("epoch", -5), "agent.epoch is -5"),
        (lambda p: p.pop("config"), "has no config"),
        (lambda p: p["agent"].pop("policy"), "has no agent.policy"),
        (lambda p: p["rng"].__setitem__("torch", torch.zeros(3)), "RNG state"),
    ],
)
def test_a_damaged_checkpoint_is_named(tmp_path, capsys, damage, words):
    run = tmp_path / "run"
    train(small(epochs=1), run, quiet=True)
    payload = ckpt_mod.load_checkpoint(run / "checkpoint.pt")
    damage(payload)
    torch.save(payload, run / "checkpoint.pt")
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 2
    assert words in one_line_error(capsys)


def test_a_binary_file_given_as_config_is_named(tmp_path, capsys):
    binary = tmp_path / "weights.toml"
    binary.write_bytes(bytes(range(256)))
    assert main(["train", "--config", str(binary), "--quiet"]) == 2
    assert str(binary) in one_line_error(capsys)


# -- 6. missing optional packages: one line naming the extra -----------------------------------------
def test_missing_box2d_names_the_extra(tmp_path, capsys, monkeypatch):
    # make and CI install box2d (the lunarlander preset needs it), so its absence is simulated:
    # a None entry in sys.modules makes `import Box2D` raise ImportError, as on a machine without it
    for name in [n for n in sys.modules if n.startswith(("Box2D", "gymnasium.envs.box2d"))]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "Box2D", None)
    assert main(["train", "--env", "LunarLander-v3", "--out", str(tmp_path / "ll"), *TINY]) == 2
    assert "pip install 'reinforce[box2d]'" in one_line_error(capsys)
    assert not (tmp_path / "ll").exists()


def test_missing_tensorboard_names_the_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as if tensorboard were not installed
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "run"), "--num-envs", "2", "--quiet"]) == 2
    assert "--no-tensorboard" in one_line_error(capsys)


# -- 8. a full disk or a read-only folder ------------------------------------------------------------
def test_full_disk_while_writing_metrics_is_one_line_and_keeps_the_checkpoint(tmp_path, capsys, monkeypatch):
    from reinforce.run import logger as logger_mod

    real_write, rows = logger_mod.MetricsWriter.write, []

    def full_disk(self, metrics):
        rows.append(metrics["epoch"])
        if len(rows) == 4:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(self, metrics)

    monkeypatch.setattr(logger_mod.MetricsWriter, "write", full_disk)
    run = tmp_path / "run"
    assert main(["train", "--epochs", "6", "--checkpoint-every", "2", "--out", str(run), *TINY]) == 1
    err = one_line_error(capsys)
    assert "metrics.csv" in err and "errno 28" in err and "last good checkpoint (end of epoch 1)" in err
    assert ckpt_mod.checkpoint_epoch(run / "checkpoint.pt") == 2


def test_read_only_run_folder_is_one_line_and_exit_1(tmp_path, capsys, monkeypatch):
    # Simulated (the tests run as root, who may write anywhere): every write into the folder fails with EROFS.
    def read_only(cfg, path):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))

    monkeypatch.setattr(reinforce.config, "save", read_only)
    assert main(["train", "--epochs", "1", "--out", str(tmp_path / "run"), "--num-envs", "2", "--quiet"]) == 1
    err = one_line_error(capsys)
    assert "could not write the run folder" in err and f"errno {errno.EROFS}" in err


def test_tensorboard_failure_only_ends_the_events(tmp_path, capsys, monkeypatch):
    from reinforce.run import logger as logger_mod

    def broken(self, metrics):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(logger_mod.TensorBoardWriter, "write", broken)
    run = tmp_path / "run"
    assert main(["train", "--epochs", "2", "--out", str(run), "--num-envs", "2", "--steps-per-rollout", "20", "--quiet"]) == 0
    assert capsys.readouterr().err.count("TensorBoard events stopped") == 1
    assert len(pd.read_csv(run / "metrics.csv")) == 2


# -- 10. papercuts -----------------------------------------------------------------------------------
def test_our_own_v0_envs_make_no_deprecation_warning():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        for env_id in ("reinforce/CartPoleSwingUp-v0", "CartPole-v0"):
            reinforce.make_vec_env(env_id, num_envs=1, seed=0, backend="sync").close()
    assert gym.spec("reinforce/CartPoleSwingUp-v1")  # the newer id exists, which is what triggers the warning


# -- 9. torchrun through `--nproc`: one line, a checkpoint kept, the documented exit code -----------
def _launch(tmp_path, *extra):
    import subprocess

    argv = [sys.executable, "-m", "reinforce", "train", "--nproc", "2", "--out", str(tmp_path / "run"), *TINY, *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def _wait_for_rows(path, rows: int, proc, timeout: float = 60.0) -> None:
    import time

    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        if path.exists() and path.read_text().count("\n") > rows:
            return
        time.sleep(0.1)
    raise AssertionError(f"no {rows} rows in {path} (exit {proc.poll()}: {proc.stderr.read() if proc.poll() is not None else ''})")


@pytest.mark.slow
def test_nproc_refused_start_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "notes.txt").write_text("someone else's file")
    proc = _launch(tmp_path, "--epochs", "2")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in err and err.count("\n") == 1, err
    assert "already exists" in err and (tmp_path / "run" / "notes.txt").exists()


@pytest.mark.slow
def test_sigint_to_the_nproc_launcher_checkpoints_and_exits_0(tmp_path):
    import signal

    proc = _launch(tmp_path, "--epochs", "100000")
    _wait_for_rows(tmp_path / "run" / "metrics.csv", 3, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "Traceback" not in err, err
    assert "Resume with: reinforce train --resume" in err and "--nproc 2" in err
    assert ckpt_mod.load_checkpoint(tmp_path / "run" / "checkpoint.pt")["world_size"] == 2


@pytest.mark.slow
def test_a_killed_rank_ends_the_nproc_job_quickly_with_one_line(tmp_path):
    import signal
    import subprocess
    import time

    proc = _launch(tmp_path, "--epochs", "100000")
    _wait_for_rows(tmp_path / "run" / "metrics.csv", 3, proc)
    workers = subprocess.run(["pgrep", "-f", "--", f"-m reinforce train --out {tmp_path / 'run'}"], capture_output=True, text=True)
    pids = [int(p) for p in workers.stdout.split()
            if b"torch.distributed.run" not in pathlib.Path(f"/proc/{p}/cmdline").read_bytes()]  # the workers, not torchrun
    assert len(pids) == 2, workers.stdout
    killed = time.time()
    os.kill(pids[-1], signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    took = time.time() - killed
    assert proc.returncode != 0 and "Traceback" not in err, err
    assert "killed by SIGKILL" in err or "another rank" in err, err
    # A hang guard, not a benchmark (measured: ~2.4 s idle). Once in CI under load it took 30.9 s (stop 31): most
    # likely torchrun's 30 s SIGTERM-to-SIGKILL grace, the survivor's graceful stop waiting in a collective with the
    # dead rank (not verified); a hang would be the collective's own timeout, 30 minutes.
    assert took < 60, f"the job took {took:.1f} s to stop"
    assert proc.returncode == 1


def test_max_restarts_below_zero_is_one_line(tmp_path, capsys):
    assert main(["train", "--nproc", "2", "--max-restarts", "-1", "--out", str(tmp_path / "run"), "--quiet"]) == 2
    assert "--max-restarts" in one_line_error(capsys)


# -- 7. bad environments and devices ---------------------------------------------------------------
class _Broken(gym.Env):
    """A one-value env that misbehaves in the way `mode` says, from its `after`-th step on."""

    observation_space = gym.spaces.Box(-10, 10, (2,), dtype="float32")
    action_space = gym.spaces.Discrete(2)

    def __init__(self, mode: str = "raise", after: int = 3):
        self.mode, self.after, self.t = mode, after, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample() * 0, {}

    def step(self, action):
        import numpy as np

        self.t += 1
        obs = np.zeros(2, np.float32)
        if self.t >= self.after:
            if self.mode == "raise":
                raise ZeroDivisionError("the simulator diverged")
            if self.mode == "shape":
                obs = np.zeros(5, np.float32)
            if self.mode == "nan_final":
                obs = np.full(2, np.nan, np.float32)
                return obs, 1.0, True, False, {}  # the episode ends on a NaN observation
        return obs, 1.0, False, False, {}


@pytest.mark.parametrize("mode, words", [("raise", "step raised ZeroDivisionError at rollout step 2: the simulator diverged"),
                                         ("shape", "step raised ValueError at rollout step 2: Output array is the wrong shape"),
                                         ("nan_final", "NaN or inf final observations")])
def test_a_misbehaving_env_is_one_line(tmp_path, capsys, mode, words):
    env_id = f"tests/Broken-{mode}-v0"
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=_Broken, kwargs={"mode": mode})
    argv = ["train", "--env", env_id, "--backend", "sync", "--baseline", "value", "--epochs", "1",
            "--num-envs", "1", "--steps-per-rollout", "8", "--out", str(tmp_path / "run"), "--quiet", "--no-tensorboard"]
    assert main(argv) == 2
    assert words in one_line_error(capsys)


def test_unavailable_device_and_absurd_sizes_are_one_line(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert main(["train", "--device", "cuda", "--out", str(tmp_path / "a"), *TINY]) == 2
    assert "no CUDA GPU" in one_line_error(capsys) and not (tmp_path / "a").exists()
    assert main(["train", "--device", "bogus", "--out", str(tmp_path / "b"), *TINY]) == 2
    assert "device must be cpu, cuda, cuda:N or mps" in one_line_error(capsys)
    assert main(["train", "--hidden-sizes", "1000000000", "--out", str(tmp_path / "c"), *TINY]) == 2
    assert "hidden_sizes must be a list of integers in [1, 65536]" in one_line_error(capsys)
