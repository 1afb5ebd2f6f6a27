"""Env stepping alone, native batched torch envs vs Gymnasium's sync vector env, side by side.

For each env with a native implementation: E copies stepped with uniformly random actions (drawn in
advance, so the policy costs nothing), auto-reset included, one torch thread. Each backend runs
`--repeats` times, alternating, and the median steps/s is reported with the ratio native ÷ sync.

    python benchmarks/native_envs.py --out docs/native_envs.json        # E = 1024, all native ids (~2 min)
    python benchmarks/native_envs.py --envs Acrobot-v1 --num-envs 64 --steps 50
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import emit_json  # noqa: E402

from reinforce.envs.native import NATIVE_ENVS  # noqa: E402
from reinforce.envs.vector import make_vec_env  # noqa: E402


def random_actions(space, steps: int, num_envs: int, rng: np.random.Generator) -> list[np.ndarray]:
    """`steps` batches of uniformly random actions for `num_envs` copies of `space`."""
    if hasattr(space, "n"):
        return [rng.integers(0, space.n, size=num_envs) for _ in range(steps)]
    low, high = space.low, space.high
    return [rng.uniform(low, high, size=(num_envs, *space.shape)).astype(np.float32) for _ in range(steps)]


def steps_per_s(env_id: str, backend: str, num_envs: int, steps: int) -> float:
    env = make_vec_env(env_id, num_envs, seed=0, backend=backend)
    try:
        acts = random_actions(env.single_action_space, steps + 5, num_envs, np.random.default_rng(0))
        acts = [torch.as_tensor(a) for a in acts]
        env.reset(seed=0)
        for a in acts[:5]:  # warm-up: first-call allocations, caches
            env.step(a)
        start = time.perf_counter()
        for a in acts[5:]:
            env.step(a)
        return steps * num_envs / (time.perf_counter() - start)
    finally:
        env.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--envs", nargs="+", default=[e for e in NATIVE_ENVS if not e.startswith("reinforce/")])
    ap.add_argument("--num-envs", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=200, help="steps per measurement (sync); native takes 10x")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = {}
    for env_id in args.envs:
        runs: dict[str, list[float]] = {"native": [], "sync": []}
        for _ in range(args.repeats):  # alternating, so drift in the machine's load hits both
            runs["native"].append(steps_per_s(env_id, "native", args.num_envs, args.steps * 10))
            runs["sync"].append(steps_per_s(env_id, "sync", args.num_envs, args.steps))
        med = {k: statistics.median(v) for k, v in runs.items()}
        rows[env_id] = {"native_steps_per_s": round(med["native"]), "sync_steps_per_s": round(med["sync"]),
                        "ratio": round(med["native"] / med["sync"], 1), "runs": {k: [round(x) for x in v] for k, v in runs.items()}}
    emit_json({"num_envs": args.num_envs, "threads": 1, "torch": torch.__version__, "machine": platform.machine(),
               "envs": rows}, args.out)


if __name__ == "__main__":
    main()
