"""Checkpoints, exact resume and the hard inputs: each bad case gives one clear line and loses nothing."""
import errno
import os
import shutil
import signal

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

from reinforce.run import checkpoint as ckpt_mod
from reinforce import config as config_mod
from reinforce.run.agent import Reinforce
from reinforce.cli import main
from reinforce.run.trainer import resume, train


def small(**changes):
    """A config that trains in a fraction of a second."""
    base = dict(env_id="CartPole-v0", num_envs=4, steps_per_rollout=40, epochs=5, lr=0.05, hidden_sizes=())
    return config_mod.from_dict({**base, **changes})


def curve(run):
    """metrics.csv without the time columns (they depend on the machine's speed)."""
    frame = pd.read_csv(run / "metrics.csv")
    return frame[[c for c in frame.columns if not c.startswith("time/")]]


def stop_at(monkeypatch, epoch, how="signal"):
    """Send ourselves SIGINT after `epoch` updates, or crash in the update after those."""
    original = Reinforce.step  # the update the training loop calls

    def step(self, batch):
        if how == "crash" and self.epoch == epoch:  # in the middle of epoch `epoch`
            raise RuntimeError("simulated crash")
        metrics = original(self, batch)
        if how == "signal" and self.epoch == epoch:  # just as epoch `epoch` - 1 ends
            os.kill(os.getpid(), signal.SIGINT)
        return metrics

    monkeypatch.setattr(Reinforce, "step", step)


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("reinforce: error: ") and err.count("\n") == 1, err
    return err


# -- exact resume ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes, how",
    [
        # native env, episodes running across epochs, value baseline and obs normaliser: all state must travel
        (dict(reset_each_epoch=False, baseline="value", value_iters=2, normalize_observations=True), "signal"),
        # Gymnasium sync env: its np_random generators are restored; crash after the periodic checkpoint
        (dict(env_id="CartPole-v1", backend="sync"), "crash"),
        # correlated exploration noise: its last ξ per env is collector state, its scale a weight
        (dict(env_id="reinforce/CartPoleSwingUp-v0", hidden_sizes=(8,), squash=True, reset_each_epoch=False,
              correlated_noise_steps=20.0), "signal"),
        # autoregressive exploration: the previous obs, action and episode start per env are collector state
        (dict(env_id="reinforce/CartPoleSwingUp-v0", hidden_sizes=(8,), squash=True, reset_each_epoch=False,
              autoregressive_noise_steps=20.0), "signal"),
    ],
)
def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path, monkeypatch, capsys, changes, how):
    cfg = small(**changes)
    train(cfg, tmp_path / "whole", quiet=True, checkpoint_every=2)

    stop_at(monkeypatch, 3, how)
    part = tmp_path / "part"
    if how == "signal":
        train(cfg, part, quiet=True, checkpoint_every=2)
        assert "Resume with: reinforce train --resume" in capsys.readouterr().err
        assert ckpt_mod.checkpoint_epoch(part / "checkpoint.pt") == 3  # the epoch in flight finished first
    else:
        with pytest.raises(RuntimeError, match="simulated crash"):
            train(cfg, part, quiet=True, checkpoint_every=2)
        assert ckpt_mod.checkpoint_epoch(part / "checkpoint.pt") == 2
        assert len(pd.read_csv(part / "metrics.csv")) == 3  # a row past the checkpoint, rewritten on resume
    monkeypatch.undo()

    resume(part, quiet=True)
    pd.testing.assert_frame_equal(curve(part), curve(tmp_path / "whole"))
    whole_policy = torch.load(tmp_path / "whole" / "policy.pt", weights_only=True)
    part_policy = torch.load(part / "policy.pt", weights_only=True)
    assert all(torch.equal(whole_policy[k], part_policy[k]) for k in whole_policy)


def test_checkpoint_contents_rotation_and_resume_of_a_finished_run(tmp_path, capsys):
    run = tmp_path / "run"
    train(small(epochs=5), run, quiet=True, checkpoint_every=2)
    payload = torch.load(run / "checkpoint.pt", weights_only=True)  # plain data only
    assert payload["agent"]["epoch"] == 5 and payload["config"]["num_envs"] == 4
    assert {"torch", "numpy", "python"} <= set(payload["rng"]) and payload["env"]["kind"] == "full"
    assert ckpt_mod.checkpoint_epoch(run / "checkpoint.prev.pt") == 4  # the one before is kept
    assert not list(run.glob("*.tmp"))
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "already complete (5 of 5 epochs)" in capsys.readouterr().out
    assert main(["train", "--resume", str(run), "--epochs", "7", "--quiet", "--no-tensorboard"]) == 0
    assert len(pd.read_csv(run / "metrics.csv")) == 7 and config_mod.load(run).epochs == 7


def test_a_run_trained_longer_stretches_its_linear_lr_schedule(tmp_path, capsys):
    """A finished run of 2 epochs with the linear schedule (lr 0 reached at epoch 2) resumed to 4: the added epochs
    decay over the new total (lr·(1 − e/4)), not at lr 0, and a note says so; an interrupted run resumed with its
    own total keeps its schedule (the exact-resume tests above)."""
    run = tmp_path / "run"
    train(small(epochs=2, lr_schedule="linear"), run, quiet=True)
    assert main(["train", "--resume", str(run), "--epochs", "4", "--no-tensorboard"]) == 0
    assert "linear lr schedule now decays to 0 over 4 epochs (it was 2)" in capsys.readouterr().err
    lrs = pd.read_csv(run / "metrics.csv")["train/lr"].tolist()
    assert lrs == pytest.approx([0.05, 0.025, 0.05 * (1 - 2 / 4), 0.05 * (1 - 3 / 4)])


def test_sigterm_finishes_the_epoch_checkpoints_and_exits_0(tmp_path, monkeypatch, capsys):
    original = Reinforce.collect

    def collect(self):  # SIGTERM arrives in the middle of epoch 2's rollout
        if self.epoch == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return original(self)

    monkeypatch.setattr(Reinforce, "collect", collect)
    handler_before = signal.getsignal(signal.SIGTERM)
    run = tmp_path / "run"
    argv = ["train", "--epochs", "100", "--num-envs", "2", "--steps-per-rollout", "20", "--checkpoint-every", "50"]
    assert main([*argv, "--no-tensorboard", "--no-plot", "--quiet", "--out", str(run)]) == 0
    out, err = capsys.readouterr()
    assert f"stopped by SIGTERM; checkpoint saved. Resume with: reinforce train --resume {run}" in err
    assert "stopped after 3 of 100 epochs" in out  # epoch 2 was finished, not thrown away
    assert ckpt_mod.checkpoint_epoch(run / "checkpoint.pt") == len(pd.read_csv(run / "metrics.csv")) == 3
    assert (run / "policy.pt").exists()
    assert signal.getsignal(signal.SIGTERM) is handler_before  # ours is gone again


# -- unsafe, corrupt and foreign checkpoints ------------------------------------------------------
class Payload:
    """Unpickling this runs code: it writes a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def test_pickle_payload_in_a_checkpoint_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    train(small(epochs=1), run, quiet=True)
    marker = tmp_path / "pwned.txt"
    torch.save({"format": ckpt_mod.FORMAT, "agent": Payload(marker)}, run / "checkpoint.pt")
    torch.load(run / "checkpoint.pt", weights_only=False)  # what a plain torch.load would do ...
    assert marker.exists()
    marker.unlink()
    capsys.readouterr()
    for argv in (["train", "--resume", str(run)], ["evaluate", str(run), "--episodes", "1"]):
        assert main(argv) == 2
        err = one_line_error(capsys)
        assert "refusing to load" in err and "could run code" in err and "(it calls exec)" in err
        assert not marker.exists()  # ... and what ours does not


@pytest.mark.parametrize("damage", ["truncated", "flipped", "garbage", "empty"])
def test_corrupt_checkpoint_is_refused_and_left_alone(tmp_path, capsys, damage):
    run = tmp_path / "run"
    train(small(epochs=2), run, quiet=True, checkpoint_every=1)
    data = (run / "checkpoint.pt").read_bytes()
    bad = {
        "truncated": data[: len(data) // 2],
        "flipped": data[:2000] + bytes(b ^ 0xFF for b in data[2000:2100]) + data[2100:],
        "garbage": b"not a checkpoint at all",
        "empty": b"",
    }[damage]
    (run / "checkpoint.pt").write_bytes(bad)
    capsys.readouterr()
    assert main(["train", "--resume", str(run)]) == 2
    err = one_line_error(capsys)
    assert "corrupt" in err and "checkpoint.prev.pt (end of epoch 0) is intact" in err
    assert (run / "checkpoint.pt").read_bytes() == bad and len(pd.read_csv(run / "metrics.csv")) == 2


def test_checkpoint_from_another_env_or_policy_shape_is_refused(tmp_path, capsys):
    linear, mlp = tmp_path / "linear", tmp_path / "mlp"
    train(small(epochs=1), linear, quiet=True)
    train(small(epochs=1, hidden_sizes=(8,)), mlp, quiet=True)

    shutil.copy(linear / "checkpoint.pt", mlp / "checkpoint.pt")  # another policy shape
    capsys.readouterr()
    assert main(["train", "--resume", str(mlp)]) == 2
    assert "does not match this run's config (hidden_sizes: () in the checkpoint, (8,) in config.toml)" in one_line_error(capsys)

    config_mod.save(small(epochs=1, env_id="CartPole-v1"), linear / "config.toml")  # another env
    assert main(["evaluate", str(linear), "--episodes", "1"]) == 2
    assert "written for env 'CartPole-v0', but this run's config is for 'CartPole-v1'" in one_line_error(capsys)

    for name in ("checkpoint.pt", "checkpoint.prev.pt"):  # only policy.pt left: the shape check speaks
        (mlp / name).unlink(missing_ok=True)
    shutil.copy(linear / "policy.pt", mlp / "policy.pt")
    assert main(["evaluate", str(mlp), "--episodes", "1"]) == 2
    assert "holds a policy of another shape (logits.0.weight is (2, 4) in the file but (8, 4) here)" in one_line_error(capsys)


# -- NaN, out of disk -----------------------------------------------------------------------------
class NaNAfter(gym.Env):
    """CartPole-like obs; after `after` steps in total it returns NaN observations (or rewards)."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, after=150, what="obs"):
        self.after, self.what, self.steps = after, what, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, np.float32), {}

    def step(self, action):
        self.steps += 1
        bad = self.steps > self.after
        obs = np.full(4, np.nan if bad and self.what == "obs" else 0.1, np.float32)
        reward = float("inf") if bad and self.what == "reward" else 1.0
        return obs, reward, self.steps % 10 == 0, False, {}


@pytest.mark.filterwarnings("ignore::UserWarning")  # gymnasium's env checker also notices the NaNs
@pytest.mark.parametrize("what", ["obs", "reward"])
def test_nan_from_the_env_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys, what):
    env_id = f"tests/NaNAfter-{what}-v0"
    if env_id not in gym.registry:
        gym.register(env_id, entry_point=NaNAfter, kwargs={"after": 150, "what": what})
    run = tmp_path / "run"
    # 50 steps per epoch per env: epochs 0-2 are clean, epoch 3 sees the NaN
    argv = ["train", "--env", env_id, "--num-envs", "1", "--steps-per-rollout", "50", "--epochs", "6"]
    assert main([*argv, "--checkpoint-every", "1", "--out", str(run), "--quiet"]) == 2
    err = one_line_error(capsys)
    name = "observations" if what == "obs" else "rewards"
    assert f"NaN or inf {name} at epoch 3" in err and "last good checkpoint (end of epoch 2)" in err
    assert ckpt_mod.checkpoint_epoch(run / "checkpoint.pt") == 3 and len(pd.read_csv(run / "metrics.csv")) == 3


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    original = Reinforce._loss_and_entropy

    def loss(self, batch):
        value, entropy = original(self, batch)
        return (value * float("nan"), entropy) if self.epoch == 4 else (value, entropy)

    monkeypatch.setattr(Reinforce, "_loss_and_entropy", loss)
    run = tmp_path / "run"
    argv = ["train", "--epochs", "6", "--num-envs", "2", "--steps-per-rollout", "30", "--checkpoint-every", "2"]
    assert main([*argv, "--out", str(run), "--quiet"]) == 2
    err = one_line_error(capsys)
    assert "the loss became nan at epoch 4" in err and "last good checkpoint (end of epoch 3)" in err
    assert ckpt_mod.checkpoint_epoch(run / "checkpoint.pt") == 4


def test_out_of_disk_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch, capsys):
    real_write, calls = ckpt_mod._write_file, []

    def full_disk(path, data):
        calls.append(path)
        if len(calls) == 2:  # the second checkpoint: half of it fits, then the disk is full
            path.write_bytes(bytes(data[: len(data) // 2]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(path, data)

    monkeypatch.setattr(ckpt_mod, "_write_file", full_disk)
    run = tmp_path / "run"
    argv = ["train", "--epochs", "6", "--num-envs", "2", "--steps-per-rollout", "30", "--checkpoint-every", "2"]
    assert main([*argv, "--out", str(run), "--quiet", "--no-tensorboard"]) == 1  # a full disk is a runtime failure: exit 1
    err = one_line_error(capsys)
    assert "No space left on device" in err and "last good checkpoint (end of epoch 1)" in err
    assert ckpt_mod.checkpoint_epoch(run / "checkpoint.pt") == 2 and not list(run.glob("*.tmp"))
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "--quiet"]) == 0  # space freed: it goes on
    assert len(pd.read_csv(run / "metrics.csv")) == 6


def test_existing_run_folder_needs_resume_or_force(tmp_path, capsys):
    run = tmp_path / "run"
    train(small(epochs=1), run, quiet=True)
    before = (run / "checkpoint.pt").read_bytes()
    assert main(["train", "--epochs", "1", "--out", str(run), "--quiet"]) == 2
    assert "pass --resume" in one_line_error(capsys) and (run / "checkpoint.pt").read_bytes() == before
    assert main(["train", "--epochs", "1", "--num-envs", "2", "--out", str(run), "--quiet", "--force"]) == 0
    assert config_mod.load(run).num_envs == 2


def test_a_resumed_run_shows_each_epoch_once_in_tensorboard_on_an_env_step_axis(tmp_path):
    """Epochs 3-4 were logged after the checkpoint of epoch 2 that the run resumes from: the new
    session's events replace them (purged past the checkpoint's env steps), the checkpoint's own kept."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    cfg = small(epochs=4, num_envs=2, steps_per_rollout=30)
    train(cfg, run, quiet=True, checkpoint_every=2)
    shutil.copy(run / "checkpoint.prev.pt", run / "checkpoint.pt")  # as if killed after epoch 4's logs
    assert ckpt_mod.checkpoint_epoch(run / "checkpoint.pt") == 2
    resume(run, quiet=True)
    events = EventAccumulator(str(run))
    events.Reload()
    assert [e.step for e in events.Scalars("epoch")] == [60, 120, 180, 240]
    assert [e.value for e in events.Scalars("epoch")] == [0.0, 1.0, 2.0, 3.0]
