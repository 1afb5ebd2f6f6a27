"""The graph-ready epoch (reinforce.run.graphed): the same numbers as the eager path, no host sync inside,
nothing learned from a non-finite loss, exact resume. On CPU nothing is captured; the CUDA test runs where a
GPU is."""
import os
import signal
import traceback

import pandas as pd
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from reinforce import config as config_mod
from reinforce.api import resolve
from reinforce.run.build import build
from reinforce.run.graphed import GraphedEpoch, graphed_epochs
from reinforce.run.trainer import resume, train

# Ops that read a device value back to the host (or copy host data to it): each would stop a CUDA graph capture.
HOST_OPS = {"aten._local_scalar_dense", "aten.nonzero", "aten.masked_select", "aten.lift_fresh", "aten.item", "aten.unique"}


class HostReads(TorchDispatchMode):
    """Records every host-syncing op run under it, with where it was called from."""

    def __init__(self):
        super().__init__()
        self.seen: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func.overloadpacket)
        bool_index = name == "aten.index" and any(
            isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in args[1] if i is not None
        )
        if name in HOST_OPS or bool_index:
            stack = traceback.extract_stack(limit=14)
            # CPU Adam reads its step count as a number; capturable Adam (what the CUDA graph uses) does not
            if not any(f.name == "_get_value" and "torch/optim" in f.filename for f in stack):
                self.seen.append(f"{name} at " + " <- ".join(f"{os.path.basename(f.filename)}:{f.lineno}" for f in stack[-5:-1]))
        return func(*args, **(kwargs or {}))


PRESETS = [  # the hot paths: linear categorical; GAE + value fit + obs normaliser; correlated noise, squashing
    ("cartpole-fast", {}),
    ("acrobot-fast", {}),
    ("swingup-solved", dict(num_envs=16, steps_per_rollout=32)),
    ("pendulum-fast", dict(lr_schedule="linear", correlated_noise_steps=5.0, correlated_noise_decay_steps=2000, squash=True)),
]


def agent_for(preset, mode, **changes):
    return build(resolve(preset, cuda_graph=mode, **changes))[2]


@pytest.mark.parametrize("preset, changes", PRESETS, ids=[p for p, _ in PRESETS])
def test_graphed_epochs_give_the_eager_numbers(preset, changes):
    eager = agent_for(preset, "off", **changes)  # each built (seeding torch) and trained in turn
    eager.env.select_resets = True  # the graphed path's auto-reset (a selection, as on CUDA)
    eager.select_final_values = True  # and its V at final observations (all rows, selected: the same bits)
    eager_metrics = eager.learn(epochs=4)
    graphed = agent_for(preset, "on", **changes)
    graphed_metrics = graphed.learn(epochs=4)
    assert graphed.graphed is not None and eager.graphed is None
    for key, value in eager.policy.state_dict().items():
        assert torch.equal(value, graphed.policy.state_dict()[key]), key
    for mine, theirs in zip(eager_metrics, graphed_metrics):
        for key, value in mine.items():
            if not key.startswith("time/") or key == "time/env_steps":
                assert theirs[key] == pytest.approx(value, rel=1e-12, nan_ok=True), key


@pytest.mark.parametrize("preset, changes", PRESETS, ids=[p for p, _ in PRESETS])
def test_the_graphed_body_never_reads_the_device(preset, changes):
    agent = agent_for(preset, "on", **changes)
    runner = GraphedEpoch(agent)
    runner.epoch(), runner.epoch()  # warm: optimiser state, normaliser statistics, cached constants
    with HostReads() as watch:
        runner._body()
    assert watch.seen == []
    with HostReads() as control:  # the eager collect reads its episode lists with a boolean index
        agent.collector.collect()
    assert any(s.startswith("aten.index") or s.startswith("aten.nonzero") for s in control.seen)


@pytest.mark.parametrize("preset, changes", PRESETS, ids=[p for p, _ in PRESETS])
def test_the_body_rebinds_no_tensor_but_the_carried_ones(preset, changes):
    """A replayed graph reads and writes the tensors it was captured with: a tensor attribute the body replaces
    must be one the capture copies back (`_carried`: the env's and the collector's), or the next replay would
    read a stale one; the learned tensors must be updated in place."""
    agent = agent_for(preset, "on", **changes)
    runner = GraphedEpoch(agent)
    runner.epoch(), runner.epoch()
    owners = {"env": agent.env, "collector": agent.collector, "agent": agent}
    owners.update({f"module:{name}": m for i, root in enumerate(agent.modules()) for name, m in root.named_modules(prefix=str(i))})

    def tensors():
        # the tensors themselves, not their ids: holding them keeps a freed tensor's address from being reused by
        # its replacement, which would make a rebound attribute look unchanged
        seen = {(o, k): v for o, obj in owners.items() for k, v in vars(obj).items() if isinstance(v, torch.Tensor)}
        for o, obj in owners.items():
            if isinstance(obj, torch.nn.Module):
                seen.update({(o, k): v for k, v in [*obj._parameters.items(), *obj._buffers.items()] if v is not None})
        return seen, list(runner._learned())

    (before, learned_before), carried = tensors(), {(n, a) for o, a, _ in runner._carried() for n, obj in owners.items() if obj is o}
    runner._body()
    after, learned_after = tensors()
    # parameters, buffers, optimiser state: updated in place
    assert len(learned_after) == len(learned_before) and all(a is b for a, b in zip(learned_after, learned_before))
    rebound = {key for key in before.keys() | after.keys() if before.get(key) is not after.get(key)}
    assert rebound <= carried and ("env", "_state") in rebound  # (a control: the env's state is replaced every step)


def test_a_non_finite_loss_raises_and_learns_nothing():
    agent = agent_for("acrobot-fast", "on")
    agent.learn(epochs=2)
    before = {k: v.clone() for k, v in agent.policy.state_dict().items()}
    value_before = {k: v.clone() for k, v in agent.value_fn.state_dict().items()}
    adam_before = [v.clone() for s in agent.optimizer.state.values() for v in s.values()]
    original = agent._loss_and_entropy
    agent._loss_and_entropy = lambda batch: (lambda loss, ent: (loss * float("nan"), ent))(*original(batch))
    with pytest.raises(FloatingPointError, match="the loss became nan at epoch 2"):
        agent.learn(epochs=1)
    assert all(torch.equal(before[k], v) for k, v in agent.policy.state_dict().items())
    assert all(torch.equal(value_before[k], v) for k, v in agent.value_fn.state_dict().items())
    assert all(torch.equal(a, b) for a, b in zip(adam_before, [v for s in agent.optimizer.state.values() for v in s.values()]))
    assert agent.epoch == 2


def test_modes_auto_off_and_what_cannot_be_graphed():
    assert graphed_epochs(agent_for("cartpole-fast", "auto")) is None  # auto graphs CUDA runs only
    assert graphed_epochs(agent_for("cartpole-fast", "off")) is None
    assert isinstance(graphed_epochs(agent_for("cartpole-fast", "on")), GraphedEpoch)
    with pytest.raises(ValueError, match="cuda_graph='on': the env must be a native batched env"):
        graphed_epochs(agent_for("cartpole-fast", "on", backend="sync"))
    with pytest.raises(ValueError, match="cuda_graph must be one of auto, on, off, got 'yes'"):
        config_mod.from_dict({"cuda_graph": "yes"})


def test_a_graphed_run_resumes_exactly(tmp_path, monkeypatch, capsys):
    cfg = config_mod.from_dict(dict(env_id="CartPole-v1", num_envs=8, steps_per_rollout=16, epochs=6, lr=0.05,
                                    reset_each_epoch=False, baseline="value", value_iters=2,
                                    normalize_observations=True, cuda_graph="on"))
    train(cfg, tmp_path / "whole", quiet=True, checkpoint_every=2)
    original = GraphedEpoch.epoch

    def epoch(self):
        out = original(self)
        if self.agent.epoch == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(GraphedEpoch, "epoch", epoch)
    train(cfg, tmp_path / "part", quiet=True, checkpoint_every=2)
    assert "Resume with" in capsys.readouterr().err
    monkeypatch.undo()
    resume(tmp_path / "part", quiet=True)
    columns = lambda run: (lambda f: f[[c for c in f.columns if not c.startswith("time/")]])(pd.read_csv(run / "metrics.csv"))
    pd.testing.assert_frame_equal(columns(tmp_path / "part"), columns(tmp_path / "whole"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")
def test_the_captured_epoch_matches_eager_on_cuda():
    eager = agent_for("acrobot-fast", "off", device="cuda")
    eager.learn(epochs=6)
    graphed = agent_for("acrobot-fast", "on", device="cuda")
    graphed.learn(epochs=6)
    assert graphed.graphed._graph is not None and graphed.graphed.capture_s > 0  # captured after 2 warm-up epochs
    for key, value in eager.policy.state_dict().items():  # capturable Adam computes its step size on the device
        torch.testing.assert_close(graphed.policy.state_dict()[key], value, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("preset", ["cartpole-fast", "acrobot-fast"])
def test_graphed_epochs_with_compiled_kernels_give_the_compiled_eager_numbers(preset):
    """`compile` and the graph-ready body together (LeanRL's pair; on CPU nothing is captured): the same
    compiled kernels on the same inputs as the eager epochs, so the same numbers."""
    eager = agent_for(preset, "off", compile=True)
    eager.env.select_resets = True
    eager.select_final_values = True
    eager_metrics = eager.learn(epochs=3)
    graphed = agent_for(preset, "on", compile=True)
    graphed_metrics = graphed.learn(epochs=3)
    assert graphed.graphed is not None and graphed.hot.compiled and eager.hot.compiled
    for key, value in eager.policy.state_dict().items():
        assert torch.equal(value, graphed.policy.state_dict()[key]), key
    assert [m["train/loss"] for m in graphed_metrics] == [m["train/loss"] for m in eager_metrics]
