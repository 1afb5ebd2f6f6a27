"""The training loop every run goes through: collect, update, time it, log it, let callbacks stop it.

`Reinforce.learn` and `reinforce train` both run `fit`; what differs (a progress bar, log files,
checkpoints, a signal handler, the user's callbacks) comes in as callbacks and logs. Metrics are
turned into numbers once per epoch.
"""
from __future__ import annotations

import math
import time
import warnings
from collections.abc import Sequence
from typing import Any, Protocol

import torch

from reinforce.dist import runtime
from reinforce.metrics import Metrics, to_numbers
from reinforce.run.callbacks import Callback, notify_end, notify_start
from reinforce.run.graphed import graphed_epochs
from reinforce.run.threads import ThreadChooser


class Logs(Protocol):
    def write(self, metrics: Metrics) -> None: ...


def progress_bar(total: int, initial: int) -> Any:
    """A tqdm bar over epochs (the same call in a notebook and a terminal)."""
    from tqdm.auto import tqdm  # imported when a bar is wanted: tqdm's auto mode probes for Jupyter

    return tqdm(total=total, initial=initial, unit="epoch", dynamic_ncols=True, leave=True)


def describe(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def fit(
    agent: Any,
    epochs: int,
    callbacks: Sequence[Callback] = (),
    logs: Sequence[Logs] = (),
    bar: Any = None,
) -> list[Metrics]:
    """`epochs` × (collect, update) on `agent`; each batch goes to the callbacks' `on_rollout_end`,
    each epoch's metrics get the time columns and the callbacks' `on_epoch_end` entries, go to every
    log and the bar, then to the callbacks' `on_update_end` (any returning False stops). Returns the
    metrics."""
    history: list[Metrics] = []
    config = getattr(agent, "config", None)
    if config is not None and config.num_threads == "auto" and agent.device.type == "cpu":
        callbacks = [ThreadChooser(agent, quiet=bar is None), *callbacks]
    started: list[Callback] = []
    try:
        notify_start(callbacks, agent, started)
        _epochs(agent, epochs, callbacks, logs, bar, history)
    finally:
        notify_end(started)  # only those that started: what they hold (envs, W&B runs) is released
    return history


def _epochs(agent: Any, epochs: int, callbacks: Sequence[Callback], logs: Sequence[Logs], bar: Any, history: list[Metrics]) -> None:
    graphed = graphed_epochs(agent)  # None: the eager collect() + step()
    if graphed is not None and any(type(cb).on_rollout_end is not Callback.on_rollout_end for cb in callbacks):
        warnings.warn("reinforce: each epoch runs as one CUDA graph (cuda_graph), so on_rollout_end sees the batch after "
                      "its update and cannot change it; cuda_graph='off' keeps the eager order", stacklevel=3)
    for _ in range(epochs):
        started = time.perf_counter()
        # graphed: one replay holds the rollout and the update, so the callbacks see the batch after it
        batch, metrics = (agent.collect(), None) if graphed is None else graphed.epoch()
        for cb in callbacks:
            cb.on_rollout_end(batch)
        numbers = to_numbers(agent.step(batch) if metrics is None else metrics)
        # The job's epoch takes as long as its slowest process.
        elapsed = float(agent.reducer.max(torch.tensor(time.perf_counter() - started, dtype=torch.float64)))
        agent.wall_s += elapsed
        steps = agent.collector.steps * agent.env.num_envs * agent.reducer.world_size  # the job's, this epoch
        numbers = {
            "epoch": numbers["epoch"],
            "time/env_steps": numbers["time/env_steps"],
            "time/wall_s": agent.wall_s,
            "time/steps_per_s": steps / elapsed if elapsed > 0 else float("nan"),
            **{k: v for k, v in numbers.items() if k not in ("epoch", "time/env_steps")},
        }
        for cb in callbacks:
            cb.on_epoch_end(numbers)
        history.append(numbers)
        for log in logs:
            log.write(numbers)
        if bar is not None:
            bar.set_postfix_str(f"return {describe(numbers['rollout/ep_return_mean'])}  {numbers['time/steps_per_s']:,.0f} steps/s")
            bar.update(1)
        stop = any([cb.on_update_end(numbers) is False for cb in callbacks])  # every one runs (a list, not a generator)
        # a callback may stop on one rank only (eval/ metrics exist on rank 0): all ranks stop together
        if runtime.any_rank(stop):
            break
