"""A run folder's files: their names, and clearing the ones an earlier run left."""
from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

CONFIG = "config.toml"
METRICS = "metrics.csv"
CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
POLICY = "policy.pt"
CURVE = "curve.png"
BEST = "best.pt"  # --eval-every's best policy, with best.pt.json (its score)
WANDB_ID = "wandb_id.txt"  # --wandb's run id, so a resume continues the same W&B run
# What a run writes; `--force` removes these, its event files and eval_<N>.json files (and only those) before a fresh start.
RUN_FILES = (METRICS, CURVE, POLICY, CHECKPOINT, PREVIOUS, BEST, f"{BEST}.json", WANDB_ID,
             f"{CHECKPOINT}.tmp", f"{PREVIOUS}.tmp", f"{POLICY}.tmp", f"{BEST}.tmp", f"{BEST}.json.tmp")


class RunWriteError(OSError):
    """Writing a run folder's file failed (a full disk, a read-only folder); what is on disk is intact
    up to the last whole write (the last good checkpoint is never touched)."""


def event_files(run_dir: str | Path) -> Sequence[Path]:
    """TensorBoard's event files in `run_dir`."""
    return sorted(Path(run_dir).glob("events.out.tfevents.*"))


def is_prepared(run_dir: str | Path) -> bool:
    """True if `run_dir` holds a config.toml and nothing else: a run set up but never started."""
    return [p.name for p in Path(run_dir).iterdir()] == [CONFIG]


def clear_stale_tmp(run_dir: str | Path) -> None:
    """Remove the temporary files an interrupted atomic write left (their targets are intact)."""
    for name in RUN_FILES:
        if name.endswith(".tmp"):
            (Path(run_dir) / name).unlink(missing_ok=True)
    for path in Path(run_dir).glob(f"{METRICS}.tmp"):
        path.unlink()


def eval_files(run_dir: str | Path) -> Sequence[Path]:
    """The eval_<N>.json files in `run_dir` (`reinforce evaluate RUN --episodes N --json > RUN/eval_N.json`, as the
    README suggests): they score the run's policy, so a fresh start makes them stale."""
    return sorted(p for p in Path(run_dir).glob("eval_*.json") if re.fullmatch(r"eval_\d+\.json", p.name))


def clear_run_files(run_dir: str | Path) -> None:
    """Remove the files an earlier run wrote into `run_dir`, its TensorBoard events and the eval_<N>.json
    files that scored its policy (config.toml and anything foreign stay)."""
    run_dir = Path(run_dir)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for path in [*event_files(run_dir), *eval_files(run_dir)]:
        path.unlink()


def fresh_folder(base: Path) -> Path:
    """`base`, or `base-2`, `base-3`, ... : the first that does not exist or is empty."""
    candidate, k = base, 1
    while candidate.exists() and any(candidate.iterdir()):
        k += 1
        candidate = base.with_name(f"{base.name}-{k}")
    return candidate


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write `text` to `path` through `path.tmp` and a rename: a kill mid-write leaves the previous file whole."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
    return path
