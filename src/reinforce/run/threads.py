"""`num_threads = "auto"`: torch's intra-op thread count chosen by timing the first epochs.

Which count is fastest depends on the batch (small tensors gain nothing from a second thread and pay
for waking it), on the cores and on what else runs there, so it is measured, not guessed: after one
warm-up epoch the candidates (1, 2 and every core) take turns for `rounds` epochs each, and the one
with the best median steps/s is kept for the rest of the run and saved in its checkpoints, so a
resumed run keeps it. The thread count changes the order of float sums, so two machines that choose
differently give runs that differ in the last bits: a fixed count (the default 1) is bit-reproducible.
"""
from __future__ import annotations

import os
import statistics
import sys
from typing import Any

import torch

from reinforce.metrics import Metrics
from reinforce.run.callbacks import Callback


def candidates(cores: int | None = None) -> list[int]:
    """1, 2 and the core count, those the machine has, ascending."""
    cores = cores or os.cpu_count() or 1
    return sorted({n for n in (1, 2, cores) if n <= cores})


class ThreadChooser(Callback):
    """Times `rounds` epochs per candidate, round-robin after `warmup` epochs, then sets the fastest
    (`agent.num_threads_chosen`) and says so on stderr unless `quiet`. `timings` maps count -> steps/s."""

    def __init__(self, agent: Any, options: list[int] | None = None, rounds: int = 2, warmup: int = 1, quiet: bool = False):
        self.agent, self.quiet = agent, quiet
        self.options = options or candidates()
        self.schedule = [n for _ in range(rounds) for n in self.options]  # 1, 2, 1, 2: alternating evens out drift
        self.warmup = warmup
        self.timings: dict[int, list[float]] = {n: [] for n in self.options}
        self.seen = 0

    def on_training_start(self, agent: Any) -> None:
        torch.set_num_threads(self.schedule[0] if agent.num_threads_chosen is None else agent.num_threads_chosen)

    def on_epoch_end(self, metrics: Metrics) -> None:
        metrics["time/num_threads"] = torch.get_num_threads()  # the count this epoch ran with

    def on_update_end(self, metrics: Metrics) -> bool | None:
        if self.agent.num_threads_chosen is not None:
            return None
        self.seen += 1
        measured = self.seen - self.warmup  # epochs timed so far, this one included
        if measured >= 1:
            self.timings[self.schedule[measured - 1]].append(float(metrics["time/steps_per_s"]))
        if measured >= len(self.schedule):
            self.choose()
        else:
            torch.set_num_threads(self.schedule[max(measured, 0)])
        return None

    def on_training_end(self) -> None:
        """A run shorter than the measurement keeps the fastest of what it saw (1 if nothing)."""
        if self.agent.num_threads_chosen is None and any(self.timings.values()):
            self.choose()

    def choose(self) -> None:
        medians = {n: statistics.median(t) for n, t in self.timings.items() if t}
        best = max(medians, key=medians.__getitem__)
        self.agent.num_threads_chosen = best
        torch.set_num_threads(best)
        if not self.quiet:
            seen = ", ".join(f"{n}: {v:,.0f}" for n, v in medians.items())
            print(f"reinforce: num_threads auto: {best} (median steps/s {seen})", file=sys.stderr, flush=True)
