"""EnvPool's own stepping rate when its caller works between steps, as every trainer does.

`time_to_target.py --env-alone` times EnvPool stepped back to back: the rate a trainer would reach if its
policy and update cost nothing. This script steps the same pool with a fixed busy gap of the calling thread
between steps (a spin: CPU work, like a policy's forward pass) and reports two rates: env steps per second of
the pool's own time (inside `step`), and of the whole loop. If the pool's own rate falls once there is any gap,
part of what a trainer loses against the back-to-back figure is the pool's (its worker threads wake up again
each step), not the trainer's. Optionally also with the worker threads pinned (`thread_affinity_offset=0`).

    python benchmarks/envpool_gaps.py --envs Hopper-v5:16 HalfCheetah-v5:32 --gaps-us 0 100 300 1000 --pinned \\
        --out docs/envpool_gaps.json
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import emit_json  # noqa: E402


def busy(seconds: float) -> None:
    """Keep the calling thread on its core for `seconds` (a gap of CPU work, not a sleep)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def rate(env_id: str, num_envs: int, gap_us: float, seconds: float, threads: int, pinned: bool, seed: int = 0) -> dict:
    """Steps/s of one pool with `gap_us` of busy work after each step: {"pool": inside step, "loop": overall}."""
    import envpool  # noqa: PLC0415  (optional extra)
    from native_envs import random_actions  # noqa: PLC0415  (benchmarks/native_envs.py: imports torch)

    kwargs = {"thread_affinity_offset": 0} if pinned else {}
    pool = envpool.make(env_id, env_type="gymnasium", num_envs=num_envs, seed=seed, num_threads=threads, **kwargs)
    pool.reset()
    actions = random_actions(pool.action_space, 64, num_envs, np.random.default_rng(seed))
    if hasattr(pool.action_space, "n"):  # EnvPool takes int32 for Discrete
        actions = [a.astype(np.int32) for a in actions]
    ids = np.arange(num_envs, dtype=np.int32)
    inside, n = 0.0, 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t = time.perf_counter()
        pool.step(actions[n % 64], ids)
        inside += time.perf_counter() - t
        n += 1
        busy(gap_us * 1e-6)
    wall = time.perf_counter() - start
    pool.close()
    return {"pool": round(n * num_envs / inside), "loop": round(n * num_envs / wall), "step_ms": round(1e3 * inside / n, 3)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--envs", nargs="+", default=["Hopper-v5:16", "HalfCheetah-v5:32"], help="ENV_ID:NUM_ENVS")
    p.add_argument("--gaps-us", nargs="+", type=float, default=[0.0, 100.0, 300.0, 1000.0])
    p.add_argument("--seconds", type=float, default=3.0, help="per measurement")
    p.add_argument("--rounds", type=int, default=2, help="the settings take turns this many times; medians reported")
    p.add_argument("--pinned", action="store_true", help="also with the worker threads pinned to cores 0..n-1")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    settings = [("default", 0, False), ("1_thread", 1, False)] + ([("pinned", 0, True)] if args.pinned else [])
    result: dict = {"benchmark": "envpool_gaps", "seconds": args.seconds, "rounds": args.rounds, "envs": {}}
    for item in args.envs:
        env_id, num_envs = item.rsplit(":", 1)
        runs: dict = {}
        for _ in range(args.rounds):  # taking turns: a slow minute of the machine hits every setting alike
            for name, threads, pinned in settings:
                for gap in args.gaps_us:
                    runs.setdefault((name, gap), []).append(rate(env_id, int(num_envs), gap, args.seconds, threads, pinned))
        rows = {}
        for (name, gap), samples in runs.items():
            rows.setdefault(name, {})[f"{gap:g}us"] = {
                key: float(np.median([s[key] for s in samples])) for key in ("pool", "loop", "step_ms")}
        result["envs"][env_id] = {"num_envs": int(num_envs), "rates": rows}
    emit_json(result, args.out)


if __name__ == "__main__":
    main()
