"""Weights & Biases logging as a callback (the `wandb` extra): every epoch's metrics, x-axis env steps.

    reinforce train --preset cartpole --wandb                     # project "reinforce"
    WANDB_MODE=offline reinforce train --preset cartpole --wandb my-project   # no account, files only
    agent.learn(100, callback=WandbCallback(project="my-project"))

The config goes to the W&B run's config; metrics go under the names of metrics.csv, charted against
`time/env_steps` (a step metric, as TensorBoard's x-axis). W&B's own step is left to count the log
calls: W&B drops a row whose step is below one it has seen, so an epoch a resumed run replays (logged
once before an interruption, then again after the checkpoint it resumed from) would be lost if the
env steps were the step; as a step metric they are charted twice, at the same x. With `run_dir`, the W&B files go there (`run_dir/wandb/`)
and the W&B run id is kept in `run_dir/wandb_id.txt`, so `reinforce train --resume` continues the same
W&B run. Only the main process of a torchrun job logs.
"""
from __future__ import annotations

import dataclasses
import math
import secrets
from pathlib import Path
from typing import Any

from reinforce.dist import runtime
from reinforce.metrics import Metrics
from reinforce.run.callbacks import Callback
from reinforce.run.folder import WANDB_ID

MISSING = "W&B logging needs the wandb package: pip install 'reinforce[wandb]' (or leave out --wandb)"


class WandbCallback(Callback):
    """Logs each epoch's numeric metrics to a W&B run (`project`, optional `name`, extra `init` keywords)."""

    def __init__(self, project: str = "reinforce", name: str | None = None, run_dir: str | Path | None = None,
                 quiet: bool = False, **init: Any):
        try:
            import wandb  # an optional extra: imported only when W&B logging is asked for
        except ImportError:
            raise ImportError(MISSING) from None
        self.wandb, self.project, self.name, self.init = wandb, project, name, init
        if quiet:  # --quiet promises the summary line only: no "wandb: ..." banner
            self.init.setdefault("settings", wandb.Settings(silent=True))
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.run: Any = None

    def on_training_start(self, agent: Any) -> None:
        if not runtime.is_main_process():
            return
        kwargs: dict[str, Any] = {"project": self.project, "name": self.name, "config": _config_of(agent), **self.init}
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            id_file = self.run_dir / WANDB_ID
            run_id = id_file.read_text().strip() if id_file.is_file() else secrets.token_hex(4)
            kwargs.update(dir=str(self.run_dir), id=run_id, resume="allow")
        try:
            self.run = self.wandb.init(**kwargs)
        except Exception as err:  # noqa: BLE001 - no API key, no network, a bad project name: one line, not a traceback
            raise ValueError(f"W&B could not start ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); "
                             "log in with `wandb login`, or set WANDB_MODE=offline to keep the logs on disk") from None
        if self.run_dir is not None:
            (self.run_dir / WANDB_ID).write_text(run_id + "\n")  # only once the run exists
        self.run.define_metric("*", step_metric="time/env_steps")

    def on_update_end(self, metrics: Metrics) -> bool | None:
        if self.run is not None:
            numbers = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
                       and math.isfinite(v)}
            self.run.log(numbers)
        return None

    def on_training_end(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None


def _config_of(agent: Any) -> dict[str, Any]:
    try:
        return dataclasses.asdict(agent.describe())
    except ValueError:  # an agent on an unregistered env: its options are still worth recording
        return dataclasses.asdict(agent.options)
