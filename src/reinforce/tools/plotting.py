"""Plots of run folders (their `metrics.csv` and `config.toml`): learning curves, and the performance
profiles `reinforce compare` draws of their final scores.

Several runs of one env are drawn as their mean with a 95% confidence band for that mean: mean ±
t(0.975, n-1) · s/√n over the n runs at each x (s: the runs' sample std). Unlike a bootstrap band,
which for 3 seeds is little more than their min–max, the t-interval widens honestly when n is small
(t = 12.7 at n = 2, 4.3 at n = 3). Mean and band are drawn where every run has data (up to the
shortest run's end: no jump where one run stops); with 5 runs or fewer each run is also drawn, thin,
over its whole length.
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers or in CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from reinforce import config as config_mod  # noqa: E402

# seaborn's "deep" palette
DEEP = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"]
from reinforce.checks import require_finite, require_int  # noqa: E402
from reinforce.envs.plugins import reward_threshold  # noqa: E402

# x-axis names accepted by plot_runs (short forms for the command line) -> metrics.csv column.
X_AXES = {
    "epoch": "epoch",
    "steps": "time/env_steps",
    "env_steps": "time/env_steps",
    "time/env_steps": "time/env_steps",
    "wall": "time/wall_s",
    "wall_s": "time/wall_s",
    "time/wall_s": "time/wall_s",
}
LABELS = {
    "epoch": "epoch (one policy update each)",
    "time/env_steps": "environment steps (all envs)",
    "time/wall_s": "wall-clock seconds",
    "rollout/ep_return_mean": "mean return of episodes finished in the epoch",
}
SHOW_RUNS_UP_TO = 5  # with this many runs or fewer, each run's own curve is drawn too

# t(0.975, df) for df = 1..30: the two-sided 95% quantile of Student's t (standard tables).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)


def t_quantile_975(df: int) -> float:
    """t(0.975, df), the factor of a 95% two-sided t-interval; beyond the table a Cornish-Fisher
    expansion around z = 1.96 (error < 1e-3 for df > 30)."""
    df = require_int("df", df, 1)
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def load_runs(run_dirs: Sequence[str | Path]) -> pd.DataFrame:
    """All runs' metrics stacked, with `run`, `env_id` and `seed` columns added."""
    frames = []
    for run in map(Path, run_dirs):
        csv_path = run / "metrics.csv"
        if not csv_path.exists():
            raise FileNotFoundError(f"{str(run)!r} is not a run folder: it has no metrics.csv")
        frame = _read_metrics(csv_path)
        cfg = config_mod.load(run) if (run / "config.toml").exists() else None
        frame["run"] = str(run)
        frame["env_id"] = cfg.env_id if cfg else "?"
        frame["seed"] = cfg.seed if cfg else -1
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def _read_metrics(csv_path: Path) -> pd.DataFrame:
    """A run's metrics.csv; one without a row of data (a run stopped before its first epoch wrote one) is an
    error naming the file: every report below needs at least one epoch."""
    try:
        frame = pd.read_csv(csv_path)
    except pd.errors.EmptyDataError:  # not even the header
        frame = pd.DataFrame()
    if frame.empty:
        raise ValueError(f"{csv_path} has no epochs yet (the run stopped before its first update)")
    return frame


def default_plot_path(run_dirs: Sequence[str | Path]) -> Path:
    """Where `reinforce plot` writes without --out: one run's own curve.png, or for several runs
    `curves.png` in their closest common folder (the cwd when they share none), so that no run's
    own curve.png is overwritten by a plot of other runs."""
    runs = list(dict.fromkeys(Path(r) for r in run_dirs))  # unique, in order
    if not runs:
        raise ValueError("default_plot_path needs at least one run folder")
    if len(runs) == 1:
        return runs[0] / "curve.png"
    try:
        parent = Path(os.path.commonpath([str(r) for r in runs]))
    except ValueError:  # absolute and relative paths mixed
        parent = Path(os.path.commonpath([str(r.resolve()) for r in runs]))
    return parent / "curves.png"


def curve_band(data: pd.DataFrame, metric: str, x: str, points: int = 100) -> pd.DataFrame:
    """Per x: columns x, mean, low, high (the 95% t-interval of the mean; NaN where n < 2), n (runs there).

    `data` holds one env's runs (a `run` column). Each run is interpolated linearly onto a common
    grid of x, within its own range only (no extrapolation): its epochs for x = "epoch", else
    `points` evenly spaced values (env steps or seconds differ between runs). Rows where `metric`
    is NaN (no episode ended in that epoch) are bridged by the same interpolation.
    """
    require_int("points", points, 2)
    runs = []
    for _, frame in data.groupby("run", sort=False):
        curve = frame.dropna(subset=[x, metric]).groupby(x)[metric].mean()  # sorted by x, x unique
        if len(curve):
            runs.append((curve.index.to_numpy(dtype=float), curve.to_numpy(dtype=float)))
    if not runs:
        return pd.DataFrame({x: [], "mean": [], "low": [], "high": [], "n": []})
    low, high = min(xs[0] for xs, _ in runs), max(xs[-1] for xs, _ in runs)
    if x == "epoch":
        grid = np.unique(data[x].dropna().to_numpy(dtype=float))  # every epoch, also those without a value
        grid = grid[(grid >= low) & (grid <= high)]
    else:
        grid = np.linspace(low, high, points) if high > low else np.array([low])
    values = np.full((len(grid), len(runs)), np.nan)  # (grid, runs), NaN outside a run's range
    for j, (xs, ys) in enumerate(runs):
        inside = (grid >= xs[0]) & (grid <= xs[-1])
        values[inside, j] = np.interp(grid[inside], xs, ys)
    n = np.sum(~np.isnan(values), axis=1)
    mean = np.nanmean(values, axis=1)
    half = np.full(len(grid), np.nan)
    for i in np.flatnonzero(n > 1):
        half[i] = t_quantile_975(int(n[i]) - 1) * np.nanstd(values[i], ddof=1) / math.sqrt(n[i])
    return pd.DataFrame({x: grid, "mean": mean, "low": mean - half, "high": mean + half, "n": n})


def figure_of_runs(
    data: pd.DataFrame,
    metric: str = "rollout/ep_return_mean",
    x: str = "epoch",
    threshold: float | None = None,
    points: int = 100,
) -> Figure:
    """The figure `plot_runs` saves: one colour per env, mean and 95% t-band, legend below the axes."""
    x = X_AXES.get(x, x)
    if threshold is not None:
        threshold = require_finite("threshold", threshold)
    for column in (x, metric):
        if column not in data.columns:
            columns = ", ".join(map(str, data.columns))
            raise ValueError(f"the runs' metrics.csv have no column {column!r} (columns: {columns})")
    envs = list(dict.fromkeys(data["env_id"]))
    colours = [DEEP[i % len(DEEP)] for i in range(len(envs))]
    # matplotlib's copy of seaborn's darkgrid style (importing seaborn costs ~1.5 s of every run's end);
    # a local style: the caller's later figures keep theirs
    with plt.style.context("seaborn-v0_8-darkgrid"):
        fig, ax = plt.subplots(figsize=(7, 4.8), layout="constrained")
    for env_id, colour in zip(envs, colours):
        runs = data[data["env_id"] == env_id]
        n_runs = runs["run"].nunique()
        band = curve_band(runs, metric, x, points)
        everyone = band[band["n"] == band["n"].max()]  # where every run has data: no jumps where one ends
        prefix = f"{env_id}: " if len(envs) > 1 else ""
        label = f"{prefix}mean of {n_runs} runs ± 95% CI (t)" if n_runs > 1 else f"{prefix}one run"
        ax.plot(everyone[x], everyone["mean"], color=colour, linewidth=1.8, label=label)
        if n_runs > 1:
            ax.fill_between(everyone[x], everyone["low"], everyone["high"], color=colour, alpha=0.2, linewidth=0)
        if 1 < n_runs <= SHOW_RUNS_UP_TO:  # with few runs the runs themselves say more than any band
            for _, frame in runs.groupby("run", sort=False):
                frame = frame.dropna(subset=[x, metric]).sort_values(x)
                ax.plot(frame[x], frame[metric], color=colour, linewidth=0.6, alpha=0.45)
        level = reward_threshold(env_id) if threshold is None else None
        if level is not None:
            name = f"{env_id} threshold" if len(envs) > 1 else "threshold"
            line_colour = colour if len(envs) > 1 else "black"
            ax.axhline(level, color=line_colour, linestyle="--", linewidth=1, label=f"{name} {level:g}")
    if threshold is not None:
        ax.axhline(threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    if x == "epoch":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 2.5
    ax.set_xlabel(LABELS.get(x, x))
    ax.set_ylabel(LABELS.get(metric, metric))
    ax.set_title(", ".join(envs))
    # Below the axes, never over the curves: constrained layout makes room for it.
    handles, labels = ax.get_legend_handles_labels()
    if labels:
        ncols = 1 if max(map(len, labels)) > 36 else min(3, len(labels))
        fig.legend(handles, labels, loc="outside lower center", ncols=ncols, fontsize="small", frameon=False)
    return fig


def plot_runs(
    run_dirs: Sequence[str | Path] | None,
    out_png: str | Path,
    metric: str = "rollout/ep_return_mean",
    x: str = "epoch",
    threshold: float | None = None,
    *,
    runs: pd.DataFrame | None = None,
    points: int = 100,
    dpi: int = 120,
) -> Path:
    """Plot `metric` against `x` into `out_png` (a 7 x 4.8 inch PNG at `dpi`); returns the path.

    The data: `runs`, a frame from `load_runs` (so a caller that also summarises reads each
    metrics.csv once), or else the runs in `run_dirs`. Runs of several envs get one colour each.
    `x`: "epoch", "steps" (= "time/env_steps") or "wall_s" (= "time/wall_s"); along steps or seconds
    the runs are interpolated onto `points` common x values. A dashed line marks `threshold`, or by
    default each env's registered reward_threshold.
    """
    if runs is None and run_dirs is None:
        raise ValueError("plot_runs needs run_dirs or runs")
    require_int("dpi", dpi, 10)
    data = load_runs(run_dirs) if runs is None else runs
    fig = figure_of_runs(data, metric, x, threshold, points)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)  # `plot --out plots/p.png` with no plots/ yet
    try:
        fig.savefig(out_png, dpi=dpi, bbox_inches="tight")  # "tight": a wide legend is never cut off
    finally:
        plt.close(fig)
    return out_png


def plot_profiles(
    taus_K: np.ndarray,
    profiles: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    out_png: str | Path,
    title: str = "",
    dpi: int = 120,
) -> Path:
    """Performance profiles into `out_png`: per label, (profile, low, high), each (K,) over the thresholds
    `taus_K`: the fraction of runs whose final score exceeds tau, with a bootstrap band."""
    require_int("dpi", dpi, 10)
    with plt.style.context("seaborn-v0_8-darkgrid"):
        fig, ax = plt.subplots(figsize=(7, 4.8), layout="constrained")
    for i, (label, (profile, low, high)) in enumerate(profiles.items()):
        colour = DEEP[i % len(DEEP)]
        # a run-score distribution is a step function of tau: it drops just after each run's score
        ax.plot(taus_K, profile, color=colour, linewidth=1.8, drawstyle="steps-post", label=label)
        ax.fill_between(taus_K, low, high, color=colour, alpha=0.2, linewidth=0, step="post")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("final return threshold τ")
    ax.set_ylabel("fraction of runs with final return > τ")
    ax.set_title(title)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=1, fontsize="small", frameon=False)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(out_png, dpi=dpi, bbox_inches="tight")
    finally:
        plt.close(fig)
    return out_png
