"""Whole-process latency of the command line: what a user waits for, start to exit.

Each command runs `--repeats` times as a fresh `python -m reinforce ...` process (the commands take turns,
so a slow patch of the machine hits all of them alike); the median wall seconds are reported. For
`train`, the training's own seconds (`time/wall_s` of the last row of its metrics.csv: collection and
updates) are read back, and the overhead is what is left once `import torch` (timed alone, as
`python -c "import torch"`) and the training are taken off:

    overhead = process - import torch - training

The plot helper competes with training for the CPU, which the overhead books as training; so each
train command also gets `vs_bare_process_s`, its process median minus that of the train command
without plot and events: what those outputs cost in whole-process time.

    python benchmarks/latency.py --out docs/latency.json           # 7 repeats (~2 min)
    python benchmarks/latency.py --repeats 1 --preset cartpole-fast
"""
from __future__ import annotations

import argparse
import csv
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import emit_json  # noqa: E402

BARE = "--no-plot --no-tensorboard"


def commands(preset: str, run_dir: Path, epochs: int | None = None) -> dict[str, list[str]]:
    """name -> argv after `python`: the bare import, the torch-free commands, and train with and without its outputs."""
    more = [] if epochs is None else ["--epochs", str(epochs)]
    train = ["-m", "reinforce", "train", "--preset", preset, *more, "--quiet", "--force", "--out"]
    return {
        "import torch": ["-c", "import torch"],
        "reinforce --help": ["-m", "reinforce", "--help"],
        "reinforce presets": ["-m", "reinforce", "presets"],
        "reinforce train (bad flag)": ["-m", "reinforce", "train", "--lr", "-1"],
        f"train --preset {preset}": [*train, str(run_dir / "full")],
        f"train --preset {preset} {BARE}": [*train, str(run_dir / "bare"), *BARE.split()],
    }


def time_once(argv: list[str]) -> tuple[float, float | None]:
    """Wall seconds of one process, and for a train command the training seconds of its run (None otherwise)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if "--out" not in argv:
        return wall, None
    if done.returncode != 0:
        raise SystemExit(f"latency.py: {' '.join(argv)} failed (exit {done.returncode}): {done.stderr.strip()[-500:]}")
    with (Path(argv[argv.index("--out") + 1]) / "metrics.csv").open(newline="") as f:
        return wall, float(list(csv.DictReader(f))[-1]["time/wall_s"])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cartpole-fast")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--epochs", type=int, default=None, help="train this many epochs instead of the preset's (smoke tests)")
    p.add_argument("--out", default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        todo = commands(args.preset, Path(tmp), args.epochs)
        walls: dict[str, list[float]] = {name: [] for name in todo}
        trained: dict[str, list[float]] = {name: [] for name in todo}
        for _ in range(args.repeats):
            for name, cmd in todo.items():
                wall, train_s = time_once(cmd)
                walls[name].append(wall)
                if train_s is not None:
                    trained[name].append(train_s)
    torch_s = statistics.median(walls["import torch"])
    rows = {}
    for name in todo:
        row = {"process_s": round(statistics.median(walls[name]), 3), "runs_s": [round(w, 3) for w in walls[name]]}
        if trained[name]:
            train_s = statistics.median(trained[name])
            # per run, then the median: a slow repeat's process and training time go together
            overheads = [w - torch_s - t for w, t in zip(walls[name], trained[name])]
            row.update(training_s=round(train_s, 3), overhead_s=round(statistics.median(overheads), 3))
        rows[name] = row
    bare = next(rows[name]["process_s"] for name in todo if name.endswith(BARE))
    for name in todo:
        if "training_s" in rows[name]:
            rows[name]["vs_bare_process_s"] = round(rows[name]["process_s"] - bare, 3)
    emit_json({"benchmark": "latency", "python": platform.python_version(), "repeats": args.repeats,
               "import_torch_s": round(torch_s, 3), "commands": rows}, args.out)


if __name__ == "__main__":
    main()
