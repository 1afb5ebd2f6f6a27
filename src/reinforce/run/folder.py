"""A run folder's files: their names, and clearing the ones an earlier run left."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

CONFIG = "config.toml"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
POLICY = "policy.pt"
CURVE = "curve.png"
# What a run writes; `--force` removes these (and only these) before a fresh start.
RUN_FILES = (METRICS, CURVE, POLICY, CHECKPOINT, PREVIOUS, f"{CHECKPOINT}.tmp", f"{PREVIOUS}.tmp", f"{POLICY}.tmp")


def event_files(run_dir: str | Path) -> Sequence[Path]:
    """TensorBoard's event files in `run_dir`."""
    return sorted(Path(run_dir).glob("events.out.tfevents.*"))


def clear_run_files(run_dir: str | Path) -> None:
    """Remove the files an earlier run wrote into `run_dir` (config.toml and anything foreign stay)."""
    run_dir = Path(run_dir)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for path in event_files(run_dir):
        path.unlink()
