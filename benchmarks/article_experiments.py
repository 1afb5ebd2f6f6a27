"""The article's two experiments through the CLI, several seeds each, plus a random-policy reference.

Prints JSON: per run the first epoch reaching the env's threshold (CartPole-v0: 195), the final
mean episode return, wall seconds and median steps/s; for the swing-up the whole curve and a
uniformly random policy's mean return on the same env.

    python benchmarks/article_experiments.py --cartpole-seeds 0-4 --swingup-seeds 0-2 --out runs/article
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch


def seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def run(preset: str, seed: int, out: Path) -> dict:
    folder = out / f"{preset}-seed{seed}"
    subprocess.run(
        [sys.executable, "-m", "reinforce", "train", "--preset", preset, "--seed", str(seed), "--out", str(folder), "--force", "--quiet"],
        check=True,
    )
    m = pd.read_csv(folder / "metrics.csv")
    ret = m["rollout/ep_return_mean"]
    reached = m.loc[ret >= 195, "epoch"]
    return {
        "preset": preset,
        "seed": seed,
        "run": str(folder),
        "first_epoch_ge_195": int(reached.iloc[0]) if preset == "cartpole" and len(reached) else None,
        "final_return": float(ret.iloc[-1]),
        "final_article_avg_reward": float(m["rollout/article_avg_reward"].iloc[-1]),
        "wall_s": float(m["time/wall_s"].iloc[-1]),
        "median_steps_per_s": float(m["time/steps_per_s"].median()),
        "curve": [round(float(v), 1) for v in ret] if preset == "swingup" else None,
    }


def random_policy_return(env_id: str, num_envs: int = 256, steps: int = 1000, seed: int = 0) -> float:
    """Mean return of finished episodes under uniformly random actions in the action space."""
    from reinforce.envs.vector import make_vec_env

    env = make_vec_env(env_id, num_envs, seed=seed)
    env.reset(seed=seed)
    gen = torch.Generator().manual_seed(seed)
    low = torch.as_tensor(env.single_action_space.low)
    high = torch.as_tensor(env.single_action_space.high)
    running = torch.zeros(num_envs)
    finished = []
    for _ in range(steps):
        action = low + (high - low) * torch.rand((num_envs, *low.shape), generator=gen)
        _, reward, term, trunc, _ = env.step(action)
        running += reward
        done = term | trunc
        finished.append(running[done].clone())
        running[done] = 0
    return float(torch.cat(finished).mean())


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--cartpole-seeds", default="0-4")
    p.add_argument("--swingup-seeds", default="0-2")
    p.add_argument("--out", type=Path, default=Path("runs/article"))
    args = p.parse_args()
    results = [run("cartpole", s, args.out) for s in seeds(args.cartpole_seeds)]
    results += [run("swingup", s, args.out) for s in seeds(args.swingup_seeds)]
    cp = [r for r in results if r["preset"] == "cartpole"]
    summary = {
        "cartpole_solved": sum(r["first_epoch_ge_195"] is not None for r in cp),
        "cartpole_median_first_epoch_ge_195": statistics.median(
            [r["first_epoch_ge_195"] for r in cp if r["first_epoch_ge_195"] is not None] or [float("nan")]
        ),
        "swingup_random_policy_return": random_policy_return("reinforce/CartPoleSwingUp-v0"),
    }
    print(json.dumps({"runs": results, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
