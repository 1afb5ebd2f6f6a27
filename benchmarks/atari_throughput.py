"""ALE/Pong-v5 through the Nature-CNN path: env steps per second, Gymnasium sync vs EnvPool, side by side.

For each backend: the env alone (random actions through our VecEnv adapter) and whole training epochs
(collect + update, one process, `--threads` torch threads), E envs × T steps. Gymnasium's env gets
AtariPreprocessing(frame_skip=1) + FrameStackObservation(4) on top of v5's own frame skip of 4; EnvPool
does the same preprocessing in C++. Medians over `--repeats` timings; prints JSON.

    python benchmarks/atari_throughput.py --out docs/atari_throughput.json
"""
from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from common import emit_json

from reinforce import Config
from reinforce.run.build import build

WRAPPERS = ("AtariPreprocessing(frame_skip=1)", "FrameStackObservation(stack_size=4)")


def measure(backend: str, num_envs: int, steps: int, repeats: int, threads: int) -> dict:
    cfg = Config(env_id="ALE/Pong-v5", backend=backend, wrappers=WRAPPERS if backend == "sync" else (),
                 num_envs=num_envs, steps_per_rollout=steps, lr=2.5e-4, gamma=0.99, reset_each_epoch=False,
                 baseline="gae", normalize_advantages=True, value_iters=1, num_threads=threads, epochs=repeats + 1)
    env, policy, agent = build(cfg)
    try:
        n = torch.Size([num_envs])
        env.reset(seed=0)
        raw = []
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(steps):
                env.step(torch.randint(0, 6, n))
            raw.append(num_envs * steps / (time.perf_counter() - t))
        agent.learn(epochs=1)  # warm-up
        train = []
        for _ in range(repeats):
            t = time.perf_counter()
            agent.learn(epochs=1)
            train.append(num_envs * steps / (time.perf_counter() - t))
    finally:
        env.close()
    return {"backend": backend, "num_envs": num_envs, "steps_per_rollout": steps, "threads": threads,
            "env_only_steps_per_s": round(statistics.median(raw)), "training_steps_per_s": round(statistics.median(train))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out")
    a = p.parse_args()
    warnings.simplefilter("ignore")
    rows = [measure(b, a.num_envs, a.steps, a.repeats, a.threads) for b in ("sync", "envpool")]
    emit_json({"env_id": "ALE/Pong-v5", "encoder": "nature_cnn", "rows": rows,
               "envpool_over_sync": {k: round(rows[1][k] / rows[0][k], 2)
                                     for k in ("env_only_steps_per_s", "training_steps_per_s")}}, a.out)


if __name__ == "__main__":
    main()
