"""Callbacks: code of yours that runs inside the training loop, as SB3 users know them.

    agent.learn(callback=[StopOnReward(475, min_episodes=20), CheckpointCallback(every=10, folder="ckpt")])

A callback object overrides any of `on_training_start(agent)`, `on_rollout_end(batch)`,
`on_epoch_end(metrics)` (may add entries, which are then logged), `on_update_end(metrics)` (returning
False stops training after that epoch) and `on_training_end()`. A plain function `f(metrics)` is an
`on_update_end`. The evaluation callback (`EvalCallback`) lives in
`reinforce.tools.eval_callback`, beside the evaluation it runs.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from reinforce.checks import require_int
from reinforce.dist import runtime
from reinforce.metrics import Metrics


class Callback:
    """Does nothing by default; subclass and override the moments you need."""

    def on_training_start(self, agent: Any) -> None:
        """Before the first epoch of a `learn` / `reinforce train` call; `agent` is the `Reinforce`."""

    def on_rollout_end(self, batch: Any) -> None:
        """After each rollout, before the update; `batch` is the `Batch` (T×E tensors). Under a CUDA graph
        (cuda_graph, reinforce.run.graphed) it comes after the update, and the next epoch overwrites it."""

    def on_epoch_end(self, metrics: Metrics) -> None:
        """After each update, before the epoch's metrics are logged: entries added here (e.g.
        `eval/return_mean`) go to metrics.csv and TensorBoard. Add the same keys every epoch (None where
        there is no value): the CSV's columns are fixed by its first row."""

    def on_update_end(self, metrics: Metrics) -> bool | None:
        """After each update with the epoch's metrics (numbers), once they are logged; False stops
        training after it."""
        return None

    def on_training_end(self) -> None:
        """When training ends, normally or not: release what `on_training_start` took (envs, files)."""


class FunctionCallback(Callback):
    """`f(metrics)` as a callback (the form `learn(callback=f)` has always taken)."""

    def __init__(self, fn: Callable[[Metrics], bool | None]):
        self.fn = fn

    def on_update_end(self, metrics: Metrics) -> bool | None:
        return self.fn(metrics)


def as_callbacks(callback: Any) -> list[Callback]:
    """None, a Callback, a function of the metrics, or a list of those -> a list of Callbacks."""
    if callback is None:
        return []
    items = list(callback) if isinstance(callback, (list, tuple)) else [callback]
    out: list[Callback] = []
    for item in items:
        if isinstance(item, Callback):
            out.append(item)
        elif callable(item):
            out.append(FunctionCallback(item))
        else:
            raise TypeError(
                f"callback must be a reinforce Callback, a function of the epoch's metrics, or a list of those; got "
                f"{type(item).__name__}"
            )
    return out


class StopOnReward(Callback):
    """Stops once the most recent `min_episodes` (or more) finished training episodes average at least
    `threshold`.

    The window is whole epochs, newest first, until it holds `min_episodes` episodes: CartPole's
    500-step episodes finish a few at a time, so one epoch's mean can rest on a lucky handful.
    `reached` holds the stopping epoch's metrics afterwards, `window_mean` the mean it saw.
    """

    def __init__(self, threshold: float, min_episodes: int = 20):
        if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not math.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number, got {threshold!r}")
        self.threshold = float(threshold)
        self.min_episodes = require_int("min_episodes", min_episodes, 1)
        self.recent: list[tuple[float, int]] = []  # (epoch mean return, episodes), newest last
        self.reached: Metrics | None = None
        self.window_mean: float | None = None

    def on_update_end(self, metrics: Metrics) -> bool | None:
        ret, episodes = metrics.get("rollout/ep_return_mean"), int(metrics.get("rollout/episodes", 0) or 0)
        if ret is None or math.isnan(ret) or episodes == 0:
            return None
        self.recent.append((float(ret), episodes))
        total, weighted, keep = 0, 0.0, 0
        for mean, count in reversed(self.recent):
            total, weighted, keep = total + count, weighted + mean * count, keep + 1
            if total >= self.min_episodes:
                break
        self.recent = self.recent[-keep:]  # older epochs can never be in the window again
        if total >= self.min_episodes and weighted / total >= self.threshold:
            self.reached, self.window_mean = metrics, weighted / total
            return False
        return None


class CheckpointCallback(Callback):
    """`agent.save(folder / f"{prefix}_{epoch}.pt")` every `every` epochs (atomic writes)."""

    def __init__(self, every: int, folder: str | Path, prefix: str = "agent"):
        self.every = require_int("every", every, 1)
        self.folder, self.prefix = Path(folder), prefix
        self.agent: Any = None
        self.saved: list[Path] = []

    def on_training_start(self, agent: Any) -> None:
        self.agent = agent
        self.folder.mkdir(parents=True, exist_ok=True)

    def on_update_end(self, metrics: Metrics) -> bool | None:
        epochs_done = int(metrics["epoch"]) + 1
        if epochs_done % self.every == 0 and runtime.is_main_process():  # one file, written by rank 0
            self.saved.append(self.agent.save(self.folder / f"{self.prefix}_{epochs_done}.pt"))
        return None


def notify_start(callbacks: Iterable[Callback], agent: Any, started: list[Callback]) -> None:
    """`on_training_start` of each callback in order; `started` collects those that returned."""
    for cb in callbacks:
        cb.on_training_start(agent)
        started.append(cb)


def notify_end(callbacks: Iterable[Callback]) -> None:
    """`on_training_end` of every callback, even when one of them fails (the first error is raised after)."""
    error: BaseException | None = None
    for cb in callbacks:
        try:
            cb.on_training_end()
        except BaseException as err:  # noqa: BLE001 - the others must still release what they hold
            error = error or err
    if error is not None:
        raise error
