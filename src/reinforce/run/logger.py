"""Per-epoch metric logs of a run folder: `metrics.csv` and TensorBoard event files beside it."""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path

from reinforce.metrics import METRIC_NAMES, Metrics
from reinforce.run.folder import event_files


def metric_columns(first: Metrics) -> list[str]:
    """CSV columns: `METRIC_NAMES` first, then the first epoch's extra keys in their order."""
    return [*METRIC_NAMES, *(k for k in first if k not in METRIC_NAMES)]


class MetricsWriter:
    """Appends one CSV row per epoch and flushes it, so a crash keeps every finished epoch.

    The columns are fixed by the first row written (or by the header of an existing file, when a
    resumed run appends to it); keys that appear only later are not written.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = None
        self._writer: csv.DictWriter | None = None

    def write(self, metrics: Metrics) -> None:
        if self._writer is None:
            columns = read_header(self.path) or metric_columns(metrics)
            new = not self.path.exists() or self.path.stat().st_size == 0
            self._file = self.path.open("a", newline="")
            self._writer = csv.DictWriter(self._file, fieldnames=columns, extrasaction="ignore", restval="")
            if new:
                self._writer.writeheader()
        self._writer.writerow(metrics)
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file, self._writer = None, None


def read_header(path: Path) -> list[str] | None:
    if not path.exists():
        return None
    with path.open(newline="") as f:
        return next(csv.reader(f), None)


def truncate_metrics(path: Path, epochs: int) -> int:
    """Keep only the rows of epochs < `epochs` (a resumed run rewrites the ones after its checkpoint).

    Returns the number of rows dropped. The file is replaced atomically.
    """
    if not path.exists():
        return 0
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns, rows = reader.fieldnames, list(reader)
    keep = [r for r in rows if r.get("epoch", "") != "" and int(float(r["epoch"])) < epochs]
    if len(keep) == len(rows):
        return 0
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(keep)
    os.replace(tmp, path)
    return len(rows) - len(keep)


class TensorBoardWriter:
    """Scalars under the same names as `metrics.csv` (step = epoch) and the config as text.

    `start_epoch > 0` (a resumed run) purges events at or after it that an earlier, interrupted
    session wrote past its last checkpoint, so TensorBoard shows each epoch once.
    """

    def __init__(self, log_dir: Path, config_toml: str | None = None, start_epoch: int = 0):
        from torch.utils.tensorboard import SummaryWriter  # imported lazily: it pulls in tensorboard

        self._writer = SummaryWriter(log_dir=str(log_dir), purge_step=start_epoch or None, flush_secs=30)
        if config_toml is not None:
            # TensorBoard renders text as Markdown: indent by four spaces for a code block.
            self._writer.add_text("config", "".join(f"    {line}\n" for line in config_toml.splitlines()), 0)

    def write(self, metrics: Metrics) -> None:
        step = int(metrics["epoch"])
        for name, value in metrics.items():
            if name != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self._writer.add_scalar(name, value if math.isfinite(value) else float("nan"), step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class RunLogger:
    """Both logs together: `write(metrics)` once per epoch, `flush()` at checkpoints."""

    def __init__(self, run_dir: Path, config_toml: str, start_epoch: int = 0, tensorboard: bool = True):
        self.csv = MetricsWriter(Path(run_dir) / "metrics.csv")
        self.tb: TensorBoardWriter | None = None
        if tensorboard:
            self.tb = TensorBoardWriter(run_dir, config_toml if start_epoch == 0 else None, start_epoch)

    def write(self, metrics: Metrics) -> None:
        self.csv.write(metrics)
        if self.tb is not None:
            self.tb.write(metrics)

    def flush(self) -> None:
        if self.tb is not None:
            self.tb.flush()

    def close(self) -> None:
        self.csv.close()
        if self.tb is not None:
            self.tb.close()
