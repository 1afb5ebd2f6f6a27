"""`Config.compile` against eager kernels, side by side: whole-training env steps/s and the compilation's seconds.

For each case and E, eager and compiled take turns in one process (the machine is shared and noisy), each a
fresh `build(Config(...))` + `agent.learn(...)`: the rate is the median `time/steps_per_s` of the epochs after
the first two (the compiled run compiles its functions in the first); "first epochs s" is what those two took,
compilation included, from an empty inductor cache unless `--warm-cache` (as on a new machine; later runs of
the same shapes load their kernels from the cache). Cases: CartPole-v1 with the
linear policy and the swing-up with the 64-64 ReLU Gaussian MLP (throughput.py's configurations), and
`swingup-gae` (64-64 tanh policy and value, GAE, 10 value fits) with its steps per rollout scaled to E.

    python benchmarks/compiled.py --out docs/compiled.json        # E 4096 and 65536 (~10 min here)
    python benchmarks/compiled.py --quick                          # CI smoke: tiny E, 3 epochs
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import emit_json  # noqa: E402  (benchmarks/common.py)
from throughput import ENVS  # noqa: E402

from reinforce import presets  # noqa: E402
from reinforce.config import Config  # noqa: E402
from reinforce.run.build import build  # noqa: E402

WARMUP = 2  # epochs left out of the rate: the compiled run's compilation falls in the first
CASES = ("cartpole", "swingup", "swingup-gae")


def config_for(case: str, num_envs: int, size: int, compile_: bool) -> Config:
    """`case` at E = num_envs with about `size` transitions an epoch."""
    steps = max(1, round(size / num_envs))
    common = dict(num_envs=num_envs, steps_per_rollout=steps, seed=0, backend="native", num_threads=None, compile=compile_)
    if case == "swingup-gae":
        return dataclasses.replace(presets.preset("swingup-gae"), **common)
    return Config(**ENVS[case], **common)


def measure(cfg: Config, epochs: int) -> dict:
    _, _, agent = build(cfg)
    started = time.perf_counter()
    agent.learn(WARMUP)
    first_s = time.perf_counter() - started
    rates = [m["time/steps_per_s"] for m in agent.learn(epochs)]
    return {"steps_per_s": statistics.median(rates), "epochs_steps_per_s": rates, "first_epochs_s": first_s,
            "steps_per_epoch": cfg.num_envs * cfg.steps_per_rollout}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CartPole and the ReLU swing-up at E = 64, 3 epochs (smoke test)")
    ap.add_argument("--cases", nargs="+", choices=CASES, default=list(CASES))
    ap.add_argument("--num-envs", nargs="+", type=int, default=[4096, 65536])
    ap.add_argument("--epochs", type=int, default=5, help="measured epochs per run (after the first two)")
    ap.add_argument("--size", type=int, default=500_000, help="transitions per epoch (T = size / E)")
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    ap.add_argument("--warm-cache", action="store_true",
                    help="keep inductor's on-disk cache of earlier runs (default: a fresh one, so the first epochs "
                         "pay the whole compilation, as on a new machine)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if not args.warm_cache:  # read when the first compile looks for its cache, not at import
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="reinforce-inductor-")
    if args.quick:
        args.cases, args.num_envs, args.epochs, args.size = ["cartpole", "swingup"], [64], 3, 64 * 8
    torch.set_num_threads(args.threads)
    rows = []
    for case in args.cases:
        for num_envs in args.num_envs:
            pair = {mode: measure(config_for(case, num_envs, args.size, mode == "compiled"), args.epochs)
                    for mode in ("eager", "compiled")}  # taking turns: both see the same minute of the machine
            rows.append({"case": case, "num_envs": num_envs, **pair,
                         "compiled_over_eager": pair["compiled"]["steps_per_s"] / pair["eager"]["steps_per_s"]})
    table = ["| case | E | eager steps/s | compiled steps/s | compiled ÷ eager | first 2 epochs s: eager | compiled |",
             "|" + " --- |" * 7]
    for r in rows:
        e, c = r["eager"], r["compiled"]
        table.append(f"| {r['case']} | {r['num_envs']} | {e['steps_per_s']:,.0f} | {c['steps_per_s']:,.0f} "
                     f"| {r['compiled_over_eager']:.2f}× | {e['first_epochs_s']:.1f} | {c['first_epochs_s']:.1f} |")
    emit_json({"threads": args.threads, "torch": torch.__version__, "cold_cache": not args.warm_cache, "rows": rows,
               "table": "\n".join(table)}, args.out)


if __name__ == "__main__":
    main()
