"""Whole-epoch wall time of the small presets (collect + update + the loop's bookkeeping), one torch thread.

At a thousand rows an epoch or fewer (acrobot-fast, pendulum-fast, cartpole-fast) an epoch costs the number of
torch calls more than their arithmetic, and it is what decides those presets' time to a target
(time_to_target.py): they need a fixed-ish number of epochs. Prints JSON: per preset the median over rounds of
milliseconds per epoch (each round a fresh process: 5 warm-up epochs, then `--epochs` timed).

`--vs DIR` times another checkout's `src` in the same run, the two taking turns round by round, and adds the
ratio (theirs ÷ ours: > 1 when this tree is faster):

    python benchmarks/epoch_cost.py
    git worktree add /tmp/before <commit> && python benchmarks/epoch_cost.py --vs /tmp/before --out docs/epoch_cost.json
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import emit_json  # noqa: E402

PRESETS = ("acrobot-fast", "pendulum-fast", "cartpole-fast")
SRC = Path(__file__).resolve().parents[1] / "src"


def worker(presets: list[str], epochs: int) -> dict[str, float]:
    """ms per epoch of each preset, in this process (whatever `reinforce` it imports)."""
    import dataclasses

    import torch

    from reinforce import presets as known
    from reinforce.run.build import build

    torch.set_num_threads(1)
    out = {}
    for name in presets:
        cfg = dataclasses.replace(known.preset(name), num_threads=1)
        env, _, agent = build(cfg)
        agent.learn(5)
        started = time.perf_counter()
        agent.learn(epochs)
        out[name] = 1e3 * (time.perf_counter() - started) / epochs
        env.close()
    return out


def _round(src: Path, presets: list[str], epochs: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    cmd = [sys.executable, __file__, "--worker", "--presets", *presets, "--epochs", str(epochs)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--presets", nargs="+", default=list(PRESETS))
    p.add_argument("--epochs", type=int, default=40, help="timed epochs per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--vs", default=None, help="another checkout (its src/ is imported) to time beside this one")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.presets, args.epochs)))
        return
    trees = {"this": SRC} | ({"vs": Path(args.vs).resolve() / "src"} if args.vs else {})
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, src in trees.items():  # taking turns: machine load falls on both alike
            runs[name].append(_round(src, args.presets, args.epochs))
    result: dict = {"benchmark": "epoch_cost", "epochs": args.epochs, "rounds": args.rounds, "threads": 1,
                    "vs": args.vs, "ms_per_epoch": {}}
    for preset in args.presets:
        row = {name: round(statistics.median(r[preset] for r in rs), 2) for name, rs in runs.items()}
        if args.vs:
            row["vs_over_this"] = round(row["vs"] / row["this"], 3)
        result["ms_per_epoch"][preset] = row
    emit_json(result, args.out)


if __name__ == "__main__":
    main()
