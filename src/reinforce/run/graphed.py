"""`GraphedEpoch`: a whole epoch (rollout and update) as one fixed sequence of kernels, replayed from a CUDA graph.

On a GPU an epoch of small tensors is mostly kernel launches and host syncs (~0.6 ms a rollout step at
E = 4096, issue 16). LeanRL's recipe removes both: nothing inside the epoch reads a value back to the host,
what changes between epochs (the learning rate, the noise gain) lives in device tensors, and the epoch is
captured once in a CUDA graph and replayed. The body is the library's own code — `RolloutCollector.rollout`,
`PolicyGradient.targets_and_loss` and `descend` — run with native envs that auto-reset by selection
(`select_resets`), Adam with `capturable=True` and a 0-dim device learning rate, and the episode statistics
as masked sums. After each replay the host reads the epoch once: the finite-loss flag, the episode lists and
the metrics.

A replayed graph cannot stop before its Adam step when the loss is not finite, so the body first copies the
learned tensors (parameters, buffers, optimiser moments) aside, and the check after the replay puts them
back before raising: as in the eager path, nothing is learned from that batch.

On CPU nothing is captured ("capture is a no-op"): the same body runs eagerly, which is how the path is
tested without a GPU. Where the env's generator cannot be registered with a graph, epochs run eagerly
with a one-line warning; a capture that fails stops the run with a one-line error naming
`--cuda-graph off` (a half-finished capture can leave the stream and the allocator in capture state).
"""
from __future__ import annotations

import time
import warnings
from typing import Any

import torch

from reinforce import autoregressive as ar
from reinforce.algorithm import PolicyGradient
from reinforce.config import CUDA_GRAPH_MODES as MODES
from reinforce.envs.torch_env import TorchVectorEnv
from reinforce.metrics import Metrics
from reinforce.rollout import Batch


class GraphCaptureError(ValueError):
    """Capturing the epoch in a CUDA graph failed; `cuda_graph="off"` runs it eagerly."""


def unsupported(agent: PolicyGradient) -> str | None:
    """Why `agent`'s epoch cannot be graphed (None when it can)."""
    if not isinstance(agent.env, TorchVectorEnv):
        return f"the env must be a native batched env (backend native), not {type(agent.env).__name__}"
    if ar.is_autoregressive(agent.policy):
        return "autoregressive exploration carries per-env state between steps that the graphed epoch does not hold yet"
    if agent.reducer.world_size > 1:
        return "torchrun jobs exchange gradients between processes: the epoch stays eager"
    return None  # (native envs give no action masks)


def wants_graph(agent: PolicyGradient, mode: str) -> bool:
    """Whether `mode` (auto: on CUDA with a native env; on; off) graphs `agent`'s epochs; "on" raises a
    ValueError naming the reason where it cannot."""
    if mode not in MODES:
        raise ValueError(f"cuda_graph must be one of {', '.join(MODES)}, got {mode!r}")
    if mode == "off":
        return False
    reason = unsupported(agent)
    if mode == "on" and reason is not None:
        raise ValueError(f"cuda_graph='on': {reason}")
    return reason is None and (mode == "on" or agent.device.type == "cuda")


class GraphedEpoch:
    """Runs `agent`'s epochs through one captured graph (CUDA) or the same body eagerly (CPU).

    `epoch()` returns the rollout's Batch (its tensors are overwritten by the next epoch: copy what you keep)
    and the epoch's metrics as tensors, like `collect()` + `step()`. `warmup` eager epochs come before the
    capture (cuBLAS, autograd and the optimiser state are set up by them). `capture_s` is the capture's wall time.
    """

    def __init__(self, agent: PolicyGradient, warmup: int = 2, capture: bool | None = None):
        reason = unsupported(agent)
        if reason is not None:
            raise ValueError(f"cannot graph this epoch: {reason}")
        if int(warmup) < 1:
            raise ValueError(f"warmup must be >= 1 (the seeded first reset and the optimiser state happen eagerly), got {warmup}")
        self.agent, self.warmup = agent, int(warmup)
        self.capture = agent.device.type == "cuda" if capture is None else capture
        agent.env.select_resets = True  # no nonzero(): the reset is a selection, as on CUDA
        agent.select_final_values = True  # and so is V at the episodes' final observations
        self._graph: Any = None
        self._outputs: Any = None  # the captured body's outputs: static tensors, refilled by every replay
        self._identity: tuple[Any, ...] = ()  # the objects the graph reads and writes (see _tensors)
        self._backed_up: list[torch.Tensor] = []  # the learned tensors as the last body saw them ...
        self._backup: list[torch.Tensor] = []  # ... and their copies from before its update
        self._eager_epochs = 0
        self.capture_s: float | None = None
        if self.capture:  # every epoch, warm-up included, steps the same (capturable) Adam: a resume stays exact
            self._to_capturable()

    # -- the body ----------------------------------------------------------------------------------
    def _learned(self) -> list[torch.Tensor]:
        """What one update changes in place: parameters, buffers and optimiser state tensors."""
        tensors = [t for m in self.agent.modules() for t in (*m.parameters(), *m.buffers())]
        for opt in self._optimizers():
            for state in opt.state.values():
                tensors += [v for v in state.values() if isinstance(v, torch.Tensor)]
        return tensors

    def _carried(self) -> list[tuple[Any, str, torch.Tensor]]:
        """(owner, name, tensor) for every tensor attribute of the env and the collector: what a body may
        replace (the env's state and step counters, the current observation, the noise) and the next
        epoch reads. Parameters, buffers and optimiser state are updated in place instead."""
        owners = (self.agent.env, self.agent.collector)
        return [(o, name, v) for o in owners for name, v in vars(o).items() if isinstance(v, torch.Tensor)]

    def _body(self) -> tuple[Batch, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        a = self.agent
        batch, return_TE, length_TE = a.collector.rollout()
        # Under capture the clones are recorded like any kernel: every replay refills these same tensors.
        self._backed_up = self._learned()
        self._backup = [t.detach().clone() for t in self._backed_up]
        batch, loss, entropy = a.targets_and_loss(batch)
        train = a.descend(batch, loss)
        dones_TE = batch.dones
        episodes = (
            torch.where(dones_TE, return_TE, 0.0).sum(dtype=torch.float64),
            torch.where(dones_TE, length_TE, 0).sum(dtype=torch.float64),
            dones_TE.sum(dtype=torch.float64),
        )
        train = {**train, "train/loss": loss.detach(), "train/entropy": entropy.detach(), "finite": torch.isfinite(loss)}
        return batch, return_TE, length_TE, {**train, **dict(zip(("ret", "len", "n"), episodes))}

    # -- running it ----------------------------------------------------------------------------------
    def _optimizers(self) -> list[torch.optim.Optimizer]:
        a = self.agent
        return [a.optimizer] + ([a.value_optimizer] if a.value_fn is not None else [])

    def _tensors(self) -> tuple[Any, ...]:
        """The objects a captured graph holds: learned and carried tensors, and the optimisers' lr tensors."""
        lrs = [g["lr"] for opt in self._optimizers() for g in opt.param_groups]
        return (*self._learned(), *(t for _, _, t in self._carried()), *lrs)

    def _same_objects(self) -> bool:
        now = self._tensors()
        return len(now) == len(self._identity) and all(a is b for a, b in zip(now, self._identity))

    def epoch(self) -> tuple[Batch, dict[str, torch.Tensor | int]]:
        """One epoch: the batch and the metrics (tensors), as `collect()` then `step()` would give."""
        a = self.agent
        a._apply_lr_schedule()
        a.apply_noise_gain()
        if self._graph is not None and not self._same_objects():
            # something was loaded or restarted in between: warm up eagerly again (a seeded reset among it), recapture
            self._graph = self._outputs = self._identity = None
            self._eager_epochs = 0
            self._to_capturable()  # a loaded optimiser state comes back with a float lr and capturable off
        if self._graph is not None:
            self._graph.replay()
            outputs = self._outputs
        elif self.capture and self._eager_epochs >= self.warmup:
            outputs = self._capture()
        else:
            outputs = self._eager()
        return self._finish(*outputs)

    def _eager(self) -> Any:
        self._eager_epochs += 1
        if self.capture:  # warm-up on a side stream, as torch.cuda.graphs recommends before capturing
            stream = torch.cuda.Stream()
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                outputs = self._body()
            torch.cuda.current_stream().wait_stream(stream)
            return outputs
        return self._body()

    def _capture(self) -> Any:
        carried = self._carried()
        started = time.perf_counter()
        graph = torch.cuda.CUDAGraph()
        try:
            graph.register_generator_state(self.agent.env._gen)  # the env's own generator advances on replay too
        except Exception as err:  # noqa: BLE001 - nothing is captured yet: going on eagerly is safe
            warnings.warn(f"reinforce: no CUDA graph ({type(err).__name__}: {err}); running eagerly", stacklevel=3)
            self.capture = False
            return self._body()
        try:
            with torch.cuda.graph(graph):
                outputs = self._body()
                for owner, name, static in carried:  # the next replay reads them where this one reads them
                    if getattr(owner, name) is not static:
                        static.copy_(getattr(owner, name))
                        setattr(owner, name, static)
        except Exception as err:
            # A failed capture can leave the stream and the allocator's pool in capture state: stop with a way out
            # rather than run on in a state nothing here can check.
            raise GraphCaptureError(f"the CUDA graph capture of an epoch failed ({type(err).__name__}: {err}); "
                                    "run with --cuda-graph off (cuda_graph='off') for eager epochs") from err
        self.capture_s = time.perf_counter() - started
        self._graph, self._outputs, self._identity = graph, outputs, self._tensors()
        graph.replay()  # capture only recorded the epoch: this runs it
        return outputs

    def _to_capturable(self) -> None:
        """Adam with capturable=True and a 0-dim device lr (its state steps move to the device)."""
        a = self.agent
        for opt in self._optimizers():
            state = opt.state_dict()
            for group in state["param_groups"]:
                group["capturable"] = True
            opt.load_state_dict(state)
            for group in opt.param_groups:
                group["lr"] = torch.tensor(float(group["lr"]), device=a.device)

    def _finish(self, batch: Batch, return_TE: torch.Tensor, length_TE: torch.Tensor, out: dict[str, torch.Tensor]) -> tuple[Batch, Metrics]:
        a = self.agent
        if not bool(out["finite"]):  # the one read of the epoch; put back what the step learned from it
            torch._foreach_copy_([t.detach() for t in self._backed_up], self._backup)
            if len(self._learned()) != len(self._backed_up):  # the first step made the optimiser state: drop it
                for opt in self._optimizers():
                    opt.state.clear()
            raise FloatingPointError(a._diagnose_nonfinite(batch, out["train/loss"]))
        batch.keep_episodes(return_TE, length_TE)
        train = {k: v.clone() for k, v in out.items() if k.startswith("train/")}  # the next replay overwrites `out`
        return batch, a.finish_epoch(batch, (out["ret"], out["len"], out["n"]), train)


def graphed_epochs(agent: Any) -> GraphedEpoch | None:
    """The agent's GraphedEpoch when its `cuda_graph` mode graphs it (made once, kept on the agent), else None."""
    if not isinstance(agent, PolicyGradient) or not wants_graph(agent, getattr(agent, "cuda_graph", "off")):
        return None
    if getattr(agent, "graphed", None) is None:
        agent.graphed = GraphedEpoch(agent)
    return agent.graphed
