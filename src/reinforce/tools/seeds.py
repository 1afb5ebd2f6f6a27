"""Several seeds of one config, each in its own run folder, in parallel processes.

`ROOT/seed<k>/` gets the config with `seed = k` first; then each folder is trained by its own
`reinforce train --resume ROOT/seed<k>` process (a folder without a checkpoint starts at epoch 0),
at most `jobs` at a time. The same command resumes an interrupted set: `reinforce train --resume ROOT`.
Every process gets cores/jobs torch threads so that parallel seeds do not oversubscribe the CPU.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from reinforce import config as config_mod
from reinforce.checks import require_int
from reinforce.config import Config
from reinforce.dist.launch import available_cores
from reinforce.run.folder import clear_run_files


def parse_seeds(text: str) -> list[int]:
    """"0-4" -> [0, 1, 2, 3, 4]; "0,3,7" and "0-2,10" work too. Order kept, duplicates dropped."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        match = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", part)
        if not match:
            raise ValueError(f"--seeds takes ranges like 0-4 or lists like 0,3,7; got {text!r}")
        first, last = int(match[1]), int(match[2] or match[1])
        if last < first:
            raise ValueError(f"--seeds range {part!r} runs backwards")
        seeds += [s for s in range(first, last + 1) if s not in seeds]
    return seeds


def seed_dirs(root: Path) -> list[Path]:
    """The seed<k> run folders under `root`, in seed order."""
    found = [p for p in Path(root).glob("seed*") if p.is_dir() and re.fullmatch(r"seed\d+", p.name) and (p / "config.toml").exists()]
    return sorted(found, key=lambda p: int(p.name[4:]))


def prepare_seeds(cfg: Config, seeds: Sequence[int], root: Path, force: bool = False) -> list[Path]:
    """Create ROOT/seed<k>/config.toml for every seed; refuses existing non-empty folders unless `force`."""
    dirs = [Path(root) / f"seed{s}" for s in seeds]
    taken = [d for d in dirs if d.exists() and any(d.iterdir())]
    if taken and not force:
        raise FileExistsError(
            f"run folder {str(taken[0])!r} already exists and is not empty; pass --resume {root} to continue "
            "the seeds or --force to overwrite them"
        )
    for seed, d in zip(seeds, dirs):
        d.mkdir(parents=True, exist_ok=True)
        clear_run_files(d)
        config_mod.save(cfg.replace(seed=seed), d / "config.toml")
    return dirs


# Set in a seed process's environment: its --quiet still lets warnings through (reinforce.cli reads it).
KEEP_WARNINGS = "REINFORCE_KEEP_WARNINGS"


def run_parallel(
    run_dirs: Sequence[Path],
    jobs: int | None = None,
    checkpoint_every: int | None = None,
    tensorboard: bool = True,
    epochs: int | None = None,
    extra_args: Sequence[str] = (),
    keep_warnings: bool = False,
) -> tuple[dict[Path, int | None], bool]:
    """Train (or resume) every run folder in its own process, `jobs` at a time. The processes run with --quiet
    (no progress bars side by side); `keep_warnings` lets them print their warnings all the same.

    Returns each folder's exit code (None: never started) and whether a signal stopped the set.

    SIGINT (Ctrl-C reaches the children too) or SIGTERM (forwarded to them): the running seeds
    finish their epoch and checkpoint, the ones not started yet are not started.
    """
    for name, value in (("jobs", jobs), ("checkpoint_every", checkpoint_every), ("epochs", epochs)):
        if value is not None:
            require_int(name, value, 1)
    jobs = max(1, min(jobs or available_cores(), len(run_dirs)))
    threads = max(1, available_cores() // jobs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if keep_warnings:
        env[KEEP_WARNINGS] = "1"
    # No curve.png per seed: the caller plots all seeds together.
    command = [sys.executable, "-m", "reinforce", "train", "--quiet", "--no-plot"]
    if checkpoint_every is not None:
        command += ["--checkpoint-every", str(checkpoint_every)]
    if epochs is not None:
        command += ["--epochs", str(epochs)]
    if not tensorboard:
        command.append("--no-tensorboard")
    command += list(extra_args)  # further `train` flags every seed takes (--stop-at-threshold R)
    pending, running, codes = list(run_dirs), {}, {}
    stop: list[int] = []

    def on_signal(signum: int, frame) -> None:
        if not stop:
            print(f"\nreinforce: {signal.Signals(signum).name}: letting the running seeds checkpoint; no new ones start", file=sys.stderr)
        stop.append(signum)
        if signum != signal.SIGINT:  # Ctrl-C already reached the whole process group
            for proc in running.values():
                proc.send_signal(signum)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while pending or running:
            while pending and len(running) < jobs and not stop:
                run = pending.pop(0)
                running[run] = subprocess.Popen([*command, "--resume", str(run)], env=env)
            for run, proc in list(running.items()):
                if proc.poll() is not None:
                    codes[run] = proc.returncode
                    del running[run]
            if stop and not running:
                break
            time.sleep(0.1)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    for run in pending:
        codes[run] = None  # never started
    return codes, bool(stop)
