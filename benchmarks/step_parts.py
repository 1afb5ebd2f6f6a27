"""Where a rollout step's time goes at small E: the policy's sample, the env's step, the whole collect, the update.

One process, one torch thread, a preset's own E and T (default `cartpole-fast`: E 384, T 24), after a
few warm-up epochs. Prints JSON (microseconds per step, milliseconds per update).

    python benchmarks/step_parts.py                       # cartpole-fast
    python benchmarks/step_parts.py --preset swingup-solved --steps 500
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import emit_json  # noqa: E402

from reinforce import presets  # noqa: E402
from reinforce.run.build import build  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="cartpole-fast")
    p.add_argument("--steps", type=int, default=2000, help="policy samples and env steps timed")
    p.add_argument("--epochs", type=int, default=50, help="collects and updates timed")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = presets.preset(args.preset).replace(num_threads=1)
    env, policy, agent = build(cfg)
    agent.learn(3)
    obs, _ = env.reset()
    with torch.inference_mode():
        action = policy.sample(obs)
        started = time.perf_counter()
        for _ in range(args.steps):
            action = policy.sample(obs)
        sampled = time.perf_counter()
        for _ in range(args.steps):
            env.step(action)
        stepped = time.perf_counter()
    for _ in range(args.epochs):
        batch = agent.collect()
    collected = time.perf_counter()
    for _ in range(args.epochs):
        agent.step(batch)
    updated = time.perf_counter()
    env.close()
    emit_json({
        "benchmark": "step_parts", "preset": args.preset, "num_envs": cfg.num_envs, "steps_per_rollout": cfg.steps_per_rollout,
        "sample_us": round(1e6 * (sampled - started) / args.steps, 1),
        "env_step_us": round(1e6 * (stepped - sampled) / args.steps, 1),
        "collect_per_step_us": round(1e6 * (collected - stepped) / args.epochs / cfg.steps_per_rollout, 1),
        "update_ms": round(1e3 * (updated - collected) / args.epochs, 2),
    }, args.out)


if __name__ == "__main__":
    main()
