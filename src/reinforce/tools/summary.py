"""A summary table of several runs (seeds): final return and epochs to the "solved" threshold, per run."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from reinforce.envs.plugins import reward_threshold
from reinforce.tools.stats import CONFIDENCE, REPS, stratified_bootstrap_ci

METRIC = "rollout/ep_return_mean"


def summarize(runs: pd.DataFrame, threshold: float | None = None, metric: str = METRIC, intervals: bool = True) -> pd.DataFrame:
    """One row per run of `plotting.load_runs`'s frame.

    final_return: `metric` in the run's last epoch that has one (an epoch in which no episode ended
    has none); best_return: its maximum; epochs_to_threshold: epochs until `metric` first reached
    the threshold (epoch index + 1), empty if never. The threshold defaults to each env's registered
    `reward_threshold`. iqm_final_return, iqm_ci_low, iqm_ci_high: the interquartile mean of the final
    returns of the env's runs (those that have one) and its 95% stratified-bootstrap interval (`stats`),
    the same on every row of one env (NaN with `intervals=False`, which skips the bootstrap).
    """
    rows = []
    for run, frame in runs.groupby("run", sort=False):
        frame = frame.sort_values("epoch")
        env_id = frame["env_id"].iloc[0]
        level = threshold if threshold is not None else reward_threshold(env_id)
        values = frame[metric]
        finite = values.dropna()  # an epoch in which no episode ended has no mean return
        reached = frame.loc[values >= level, "epoch"] if level is not None else pd.Series(dtype=float)
        rows.append(
            {
                "run": run,
                "env_id": env_id,
                "seed": int(frame["seed"].iloc[0]),
                "epochs": len(frame),
                "final_return": float(finite.iloc[-1]) if len(finite) else float("nan"),
                "best_return": float(values.max()),
                "threshold": level,
                "epochs_to_threshold": int(reached.iloc[0]) + 1 if len(reached) else None,
            }
        )
    table = pd.DataFrame(rows)
    for column in ("iqm_final_return", "iqm_ci_low", "iqm_ci_high"):
        table[column] = float("nan")
    for env_id, rows_of_env in table.groupby("env_id", sort=False):
        finals = rows_of_env["final_return"].dropna().to_numpy()
        if len(finals) and intervals:
            table.loc[rows_of_env.index, ["iqm_final_return", "iqm_ci_low", "iqm_ci_high"]] = stratified_bootstrap_ci(finals)
    return table


def _cell(value) -> str:
    """One Markdown cell: floats to 0.1, missing (None, NaN) as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def to_markdown(table: pd.DataFrame) -> str:
    """The table as Markdown, with a last line of mean ± std over the runs."""
    columns = ["run", "seed", "epochs", "final_return", "best_return", "epochs_to_threshold"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in table.iterrows():
        lines.append("| " + " | ".join(_cell(row[c] if c != "epochs_to_threshold" else _maybe_int(row[c])) for c in columns) + " |")
    final = table["final_return"]
    reached = table["epochs_to_threshold"].dropna()
    threshold = table["threshold"].dropna()
    line = f"{len(table)} run{'s' if len(table) != 1 else ''}: final return {final.mean():.1f} ± {final.std(ddof=0):.1f} (mean ± std)"
    if len(threshold):
        levels = threshold.unique()  # runs of several envs: one threshold each
        line += f"; {len(reached)} of {len(table)} reached {f'{levels[0]:g}' if len(levels) == 1 else 'their threshold'}"
        if len(reached):
            line += f", after {reached.mean():.1f} epochs on average"
    lines += ["", line, _iqm_line(table)]
    return "\n".join(lines) + "\n"


def _iqm_line(table: pd.DataFrame) -> str:
    """The IQM of the final returns with its interval, per env when there are several."""
    per_env = table.drop_duplicates("env_id")
    parts = [
        ("" if len(per_env) == 1 else f"{row.env_id} ")
        + (f"{row.iqm_final_return:.1f} [{row.iqm_ci_low:.1f}, {row.iqm_ci_high:.1f}]" if np.isfinite(row.iqm_final_return) else "–")
        for row in per_env.itertuples()
    ]
    return (f"IQM of the final return [{CONFIDENCE:.0%} CI]: " + "; ".join(parts)
            + f" (mean of the middle half of the runs; {REPS} bootstrap resamples of them)")


def _maybe_int(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else int(value)


def write_summary(runs: pd.DataFrame, beside: str | Path, threshold: float | None = None) -> tuple[Path, Path]:
    """Write `<stem>_summary.csv` and `<stem>_summary.md` next to the plot `beside`; returns both paths."""
    beside = Path(beside)
    table = summarize(runs, threshold)
    csv_path = beside.with_name(f"{beside.stem}_summary.csv")
    md_path = beside.with_name(f"{beside.stem}_summary.md")
    table.to_csv(csv_path, index=False)
    md_path.write_text(to_markdown(table))
    return csv_path, md_path

