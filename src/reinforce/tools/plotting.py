"""Learning-curve plots from run folders (their `metrics.csv` and `config.toml`)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers or in CI
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from reinforce import config as config_mod  # noqa: E402
from reinforce.envs.vector import reward_threshold  # noqa: E402


def load_runs(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """All runs' metrics stacked, with `run`, `env_id` and `seed` columns added."""
    frames = []
    for run in map(Path, run_dirs):
        csv_path = run / "metrics.csv"
        if not csv_path.exists():
            raise FileNotFoundError(f"{str(run)!r} is not a run folder: it has no metrics.csv")
        frame = pd.read_csv(csv_path)
        cfg = config_mod.load(run) if (run / "config.toml").exists() else None
        frame["run"] = str(run)
        frame["env_id"] = cfg.env_id if cfg else "?"
        frame["seed"] = cfg.seed if cfg else -1
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def plot_runs(
    run_dirs: Sequence[str | Path] | None,
    out_png: str | Path,
    metric: str = "rollout/ep_return_mean",
    x: str = "epoch",
    threshold: float | None = None,
    *,
    runs: pd.DataFrame | None = None,
) -> Path:
    """Plot `metric` against `x` into `out_png`; several runs of one env give their mean and a 95% bootstrap band.

    The data: `runs`, a frame from `load_runs` (so a caller that also summarises reads each
    metrics.csv once), or else the runs in `run_dirs`. A dashed line marks `threshold`, or by default
    each env's registered reward_threshold.
    """
    if runs is None and run_dirs is None:
        raise ValueError("plot_runs needs run_dirs or runs")
    data = load_runs(run_dirs) if runs is None else runs
    sns.set_theme(style="darkgrid")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    n_runs = data["run"].nunique()
    hue = "env_id" if data["env_id"].nunique() > 1 else None
    sns.lineplot(
        data=data,
        x=x,
        y=metric,
        hue=hue,
        errorbar=("ci", 95) if n_runs > 1 else None,
        n_boot=1000,
        seed=0,
        ax=ax,
        label=None if hue else (f"mean of {n_runs} runs (95% bootstrap band)" if n_runs > 1 else "one run"),
    )
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    for env_id in data["env_id"].unique() if threshold is None else ():
        level = reward_threshold(env_id)
        if level is not None:
            ax.axhline(level, color="black", linestyle="--", linewidth=1, label=f"{env_id} threshold {level:g}")
    labels = {
        "epoch": "epoch (one policy update each)",
        "time/env_steps": "environment steps (all envs)",
        "time/wall_s": "wall-clock seconds",
        "rollout/ep_return_mean": "mean return of episodes finished in the epoch",
    }
    ax.set_xlabel(labels.get(x, x))
    ax.set_ylabel(labels.get(metric, metric))
    ax.set_title(", ".join(data["env_id"].unique()))
    ax.legend(loc="lower right")
    fig.tight_layout()
    out_png = Path(out_png)
    fig.savefig(out_png, dpi=120)
    plt.close(fig)
    return out_png
