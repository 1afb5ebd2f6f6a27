"""Learning curves of the article's configuration vs our best variant, several seeds per env.

Each (preset, seed) trains through the CLI into runs/variants/<preset>/seed<k>; the script then
prints JSON and draws one PNG per env (mean with a 95% band, x = env steps) into docs/. Two
measures of the final stochastic policy, per seed, with their mean and 95% bootstrap interval over
seeds: `train_return` (the last 3 epochs' mean return of finished training episodes) and
`eval_return` (100 fresh episodes of the saved policy, on Gymnasium's own env where training used
EnvPool, so the number is for the reference implementation).

    python benchmarks/variants.py --seeds 0-4 --jobs 2
    python benchmarks/variants.py --envs Pendulum-v1 --seeds 0-2
    python benchmarks/variants.py --envs HalfCheetah-v5,Hopper-v5 --backend envpool
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from common import emit_json
from reinforce.tools.seeds import parse_seeds  # benchmarks/common.py; the script's folder is on sys.path

PAIRS = {
    "CartPole-v1": ("cartpole-v1-article", "cartpole-v1-gae"),
    "Acrobot-v1": ("acrobot-article", "acrobot-gae"),
    "Pendulum-v1": ("pendulum-article", "pendulum-gae"),
    "reinforce/CartPoleSwingUp-v0": ("swingup", "swingup-gae"),
    # optional `mujoco` extra; `--backend envpool` runs EnvPool's C++ port of the same v5 envs
    "HalfCheetah-v5": ("halfcheetah-article", "halfcheetah-gae"),
    "Hopper-v5": ("hopper-article", "hopper-gae"),
    # any Gymnasium space (issue 15): one preset each, no article counterpart
    "MiniGrid-DoorKey-5x5-v0": ("doorkey",),
    "Taxi-v4": ("taxi",),
    "LunarLander-v3": ("lunarlander",),  # the box2d extra
    "MinAtar/Breakout-v1": ("minatar-breakout",),  # the minatar extra
}


def train(preset: str, seed: int, root: Path, backend: str = "auto") -> Path:
    out = root / preset / f"seed{seed}"
    if not (out / "policy.pt").exists():  # finished runs are reused
        subprocess.run(
            [sys.executable, "-m", "reinforce", "train", "--preset", preset, "--seed", str(seed), "--out", str(out),
             "--backend", backend, "--force", "--quiet"],
            check=True,
            stdout=sys.stderr,  # the training summary lines; stdout stays pure JSON
        )
    return out


def final_return(run: Path, tail: int = 3) -> float:
    """Mean of the last `tail` epochs' mean episode return (epochs with no finished episode skipped)."""
    ret = pd.read_csv(run / "metrics.csv")["rollout/ep_return_mean"].dropna()
    return float(ret.iloc[-tail:].mean())


def eval_return(run: Path, episodes: int) -> float:
    """Mean return of `episodes` fresh episodes of the run's final stochastic policy."""
    import torch

    from reinforce.config import load
    from reinforce.tools.evaluate import evaluate_run

    torch.set_num_threads(1)  # small batches; 1 thread measured fastest here (docs/benchmarks.md)

    cached = run / f"eval_{episodes}.json"  # like the training runs, finished evaluations are reused
    if cached.exists():
        return json.loads(cached.read_text())["return"]["mean"]
    trained_on = load(run / "config.toml").backend
    reference = "sync" if trained_on == "envpool" else None  # EnvPool's port -> Gymnasium's own env
    result = evaluate_run(run, episodes, backend=reference)
    cached.write_text(json.dumps(result, indent=1))
    return result["return"]["mean"]


def bootstrap_ci(values: list[float], n: int = 10_000, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(n, len(values))).mean(1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def plot(env_id: str, presets: dict[str, list[Path]], out_png: Path, bins: int = 60) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    frames = []
    for preset, runs in presets.items():
        for run in runs:
            m = pd.read_csv(run / "metrics.csv")[["time/env_steps", "rollout/ep_return_mean"]]
            # One point per bin of env steps (the same bins for every seed of a preset), so that
            # runs whose episodes end at different steps line up and the band is over seeds.
            width = max(float(m["time/env_steps"].max()) / bins, 1.0)
            m = m.dropna()
            m["time/env_steps"] = (np.ceil(m["time/env_steps"] / width) * width).round()
            m = m.groupby("time/env_steps", as_index=False)["rollout/ep_return_mean"].mean()
            m["preset"], m["run"] = preset, str(run)
            frames.append(m)
    data = pd.concat(frames)
    sns.set_theme(style="darkgrid")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    sns.lineplot(data=data, x="time/env_steps", y="rollout/ep_return_mean", hue="preset", errorbar=("ci", 95), n_boot=1000, seed=0, ax=ax)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("mean return of finished episodes")
    counts = sorted({len(runs) for runs in presets.values()})
    ax.set_title(f"{env_id}: mean of {'/'.join(map(str, counts))} seeds, 95% bootstrap band")
    fig.tight_layout()
    fig.savefig(out_png, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seeds", default="0-4")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--envs", default=",".join(PAIRS), help="comma-separated env ids from the table")
    p.add_argument("--root", type=Path, default=Path("runs/variants"))
    p.add_argument("--backend", default="auto", help="vector env backend for every run (envpool is faster for MuJoCo)")
    p.add_argument("--eval-episodes", type=int, default=100)
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.add_argument("--docs", type=Path, default=Path("docs"))
    p.add_argument("--finished-only", action="store_true", help="train nothing: report the seeds whose runs finished")
    args = p.parse_args()
    seeds = parse_seeds(args.seeds)
    envs = [e for e in args.envs.split(",") if e]
    jobs = [(preset, s) for env in envs for preset in PAIRS[env] for s in seeds]
    if args.finished_only:
        jobs = [(preset, s) for preset, s in jobs if (args.root / preset / f"seed{s}" / "policy.pt").exists()]
        runs = [args.root / preset / f"seed{s}" for preset, s in jobs]
    else:
        with ThreadPoolExecutor(args.jobs) as pool:
            runs = list(pool.map(lambda job: train(*job, args.root, args.backend), jobs))
    by_preset: dict[str, list[Path]] = {}
    for (preset, _), run in zip(jobs, runs):
        by_preset.setdefault(preset, []).append(run)
    report = {}
    for env in envs:
        for preset in PAIRS[env]:
            steps = int(pd.read_csv(by_preset[preset][0] / "metrics.csv")["time/env_steps"].iloc[-1])
            report[preset] = {"env_id": env, "env_steps": steps, "seeds": [int(r.name[4:]) for r in by_preset[preset]]}
            measures = {
                "train_return": [final_return(r) for r in by_preset[preset]],
                "eval_return": [eval_return(r, args.eval_episodes) for r in by_preset[preset]],
            }
            for name, values in measures.items():
                report[preset][f"{name}_per_seed"] = [round(v, 1) for v in values]
                report[preset][f"{name}_mean"] = round(float(np.mean(values)), 1)
                report[preset][f"{name}_ci95"] = [round(v, 1) for v in bootstrap_ci(values)]
        png = args.docs / f"variants-{env.split('/')[-1]}.png"
        plot(env, {k: by_preset[k] for k in PAIRS[env]}, png)
    emit_json(report, args.out)


if __name__ == "__main__":
    main()
