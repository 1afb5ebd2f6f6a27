"""The reports of `reinforce summary`, `compare` and `plot`: final scores of groups of runs, their statistics (`stats`).

A group is what one command-line argument names: a run folder, or a folder of seed runs (ROOT/seed<k>,
as `train --seeds` writes them). A run's final score is the mean return of its `eval_<N>.json` (what
`reinforce evaluate RUN --episodes N --json` prints, as benchmarks/variants.py saves it; the largest N) when every
run being compared has one, else the mean return of the finished training episodes of its last epoch
that has any (`final_return` of `summary.summarize`). An eval_<N>.json counts only while its
`trained_epochs` is the run's epoch count (metrics.csv's): one written before a `--resume` scores an
earlier policy and gets a note line instead. Runs of one group must share one env: IQM and
bootstrap intervals of returns of different envs would mix scales. Runs whose final env steps differ
by more than 1% get a note line too: their scores measure different budgets.
"""
from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reinforce.tools.plotting import default_plot_path, load_runs, plot_profiles, plot_runs
from reinforce.tools.seeds import seed_dirs
from reinforce.tools.stats import CONFIDENCE, iqm, performance_profile_ci, probability_of_improvement_ci, stratified_bootstrap_ci
from reinforce.tools.summary import summarize, to_markdown, write_summary

SOURCES = {
    "eval": "mean return of the episodes in each run's eval_<N>.json (reinforce evaluate RUN --json's output)",
    "train": "mean return of the finished training episodes of each run's last epoch that has any (metrics.csv)",
}
_EVAL_FILE = re.compile(r"eval_(\d+)\.json")
SAME_LENGTH = 0.01  # final env steps within 1% of each other: one training budget


@dataclass(frozen=True)
class Group:
    """The runs one argument names, their env and final scores (runs,)."""

    name: str
    runs: list[Path]
    env_id: str
    scores: np.ndarray
    source: str  # a key of SOURCES
    env_steps: np.ndarray  # each run's final time/env_steps (NaN where metrics.csv has none)
    notes: tuple[str, ...] = ()  # one line per eval_<N>.json left out for scoring an earlier policy


def group_runs(path: str | Path) -> list[Path]:
    """[path] for a run folder (it has metrics.csv), else the seed<k> run folders under it."""
    path = Path(path)
    if (path / "metrics.csv").is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{str(path)!r} is not a folder")
    runs = seed_dirs(path)
    if not runs:
        raise FileNotFoundError(f"{str(path)!r} holds no runs: no metrics.csv in it and no seed<k> run folder under it")
    return runs


def eval_file(run: Path, epochs: int | None = None, notes: list[str] | None = None) -> Path | None:
    """The run's eval_<N>.json with the largest N, or None. With `epochs` (the run's epoch count), only one
    whose `trained_epochs` is that count (or that does not say: not written by `reinforce evaluate`); each
    larger-N file that scores another epoch is passed over, with a line in `notes`."""
    found = sorted(((int(m[1]), p) for p in run.glob("eval_*.json") if (m := _EVAL_FILE.fullmatch(p.name))), reverse=True)
    for _, path in found:
        trained = None if epochs is None else _trained_epochs(path)
        if trained is None or trained == epochs:
            return path
        if notes is not None:
            notes.append(f"note: {path} scores epoch {trained}, the run is at {epochs}: not used "
                         f"(reinforce evaluate {run} again to score the policy it has now)")
    return None


def _trained_epochs(path: Path) -> int | None:
    """The `trained_epochs` of an eval JSON; None when it has none (a bad file fails later, in `_eval_return`)."""
    try:
        value = json.loads(path.read_text()).get("trained_epochs")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def load_group(paths: Sequence[str | Path], source: str | None = None) -> Group:
    """The runs under `paths` as one group; `source` "eval" or "train" (default: "eval" if every run has one)."""
    runs = list(dict.fromkeys(run for p in paths for run in group_runs(p)))
    name = str(paths[0]) if len(paths) == 1 else f"{paths[0]} and {len(paths) - 1} more"  # a shell glob can name many
    frame = load_runs(runs)
    table = summarize(frame, intervals=False)  # the group's own interval is computed from `scores`
    envs = list(dict.fromkeys(table["env_id"]))
    if len(envs) > 1:
        raise ValueError(f"{name} holds runs of several envs ({', '.join(envs)}); give each env's runs as their own group")
    last = frame.sort_values("epoch").groupby("run", sort=False).last()  # each run's last epoch
    epochs = {r: int(last.loc[str(r), "epoch"]) + 1 for r in runs}
    steps = last["time/env_steps"] if "time/env_steps" in last else None
    env_steps = np.array([float(steps[str(r)]) if steps is not None else np.nan for r in runs])
    notes: list[str] = []
    current = {r: eval_file(r, epochs[r], notes) for r in runs}
    if source is None:
        source = "eval" if all(current.values()) else "train"
    if source == "eval":
        scores = np.array([_eval_return(r, current[r], epochs[r]) for r in runs])
    else:
        missing = table.loc[table["final_return"].isna(), "run"]
        if len(missing):
            raise ValueError(f"{missing.iloc[0]} has no finished episode in its metrics.csv, hence no final return")
        scores = table["final_return"].to_numpy(dtype=float)
    return Group(name, runs, envs[0], scores, source, env_steps, tuple(notes))


def _eval_return(run: Path, path: Path | None, epochs: int) -> float:
    """The mean return in `path`, the run's eval file found for its epoch count (load_group looked it up once)."""
    if path is None:
        raise FileNotFoundError(f"{run} has no eval_<N>.json scoring its epoch {epochs}")
    try:
        return float(json.loads(path.read_text())["return"]["mean"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not an evaluation result (reinforce evaluate --json): {err}") from None


def group_stats(group: Group, reps: int, seed: int) -> dict:
    """JSON-ready: the group's runs, scores, mean, IQM and the IQM's stratified-bootstrap interval."""
    point, low, high = stratified_bootstrap_ci(group.scores, iqm, reps, CONFIDENCE, seed)
    return {"group": group.name, "env_id": group.env_id, "score": group.source, "runs": [str(r) for r in group.runs],
            "scores": group.scores.tolist(), "seeds": len(group.runs), "mean": float(group.scores.mean()),
            "iqm": point, "iqm_ci": [low, high]}


def length_note(groups: Sequence[tuple[str, Group]]) -> str | None:
    """One line naming each group's final env steps when the runs' differ by more than 1%, else None."""
    steps = np.concatenate([g.env_steps for _, g in groups])
    steps = steps[np.isfinite(steps)]
    if not len(steps) or steps.max() <= steps.min() * (1 + SAME_LENGTH):
        return None
    parts = []
    for label, g in groups:
        known = g.env_steps[np.isfinite(g.env_steps)]
        if len(known) and known.max() <= known.min() * (1 + SAME_LENGTH):
            parts.append(f"{label} {known.max():,.0f}")
        else:  # runs of different lengths within the group: each run's
            parts.append(f"{label} " + ", ".join(f"{r.name} {s:,.0f}" for r, s in zip(g.runs, g.env_steps)))
    return (f"note: the runs trained for different numbers of env steps ({'; '.join(parts)}): "
            "their scores measure different training budgets")


def _notes(groups: Sequence[Group], lengths: Sequence[Sequence[tuple[str, Group]]]) -> list[str]:
    """The stale eval files' lines, then one length note per set of groups (per env) that needs one."""
    stale = list(dict.fromkeys(n for g in groups for n in g.notes))  # a group named twice says it once
    return stale + [n for labelled in lengths if (n := length_note(labelled)) is not None]


def _footnote(reps: int) -> str:
    return (f"IQM: mean of the middle half of the final scores; CI: {CONFIDENCE:.0%} percentile interval over {reps} "
            "bootstrap resamples of the runs")


def summary_report(paths: Sequence[str | Path], as_json: bool = False, reps: int = 2000, seed: int = 0) -> str:
    """`reinforce summary`: per argument, seeds, mean, IQM and its interval of the final scores."""
    groups = [load_group([p]) for p in paths]
    rows = [group_stats(g, reps, seed) for g in groups]
    envs = dict.fromkeys(g.env_id for g in groups)  # lengths are compared within one env
    notes = _notes(groups, [[(g.name, g) for g in groups if g.env_id == env] for env in envs])
    if as_json:
        return json.dumps({"confidence": CONFIDENCE, "reps": reps, "sources": SOURCES, "groups": rows, "notes": notes},
                          indent=2)
    width = max(len("group"), *(len(r["group"]) for r in rows))
    env_width = max(len("env"), *(len(r["env_id"]) for r in rows))
    lines = [f"{'group':{width}}  {'env':{env_width}}  score  seeds      mean       IQM  {CONFIDENCE:.0%} CI of the IQM"]
    for r in rows:
        low, high = r["iqm_ci"]
        lines.append(f"{r['group']:{width}}  {r['env_id']:{env_width}}  {r['score']:5}  {r['seeds']:5}  {r['mean']:8.2f}  "
                     f"{r['iqm']:8.2f}  [{low:.2f}, {high:.2f}]")
    lines += notes
    lines += [""] + [f"score {key}: {SOURCES[key]}" for key in dict.fromkeys(r["score"] for r in rows)] + [_footnote(reps)]
    return "\n".join(lines)


def compare_report(
    a_paths: Sequence[str | Path], b_paths: Sequence[str | Path], out: str | Path | None = None, as_json: bool = False,
    reps: int = 2000, seed: int = 0,
) -> str:
    """`reinforce compare A... --vs B...`: P(A > B) and each side's IQM with intervals; with `out`, a PNG of
    both performance profiles."""
    a, b = load_group(a_paths), load_group(b_paths)
    if a.source != b.source:  # one measure for both sides
        a, b = load_group(a_paths, "train"), load_group(b_paths, "train")
    if a.env_id != b.env_id:
        raise ValueError(f"A's runs are of {a.env_id}, B's of {b.env_id}: compare runs of one env")
    shared = set(a.runs) & set(b.runs)
    if shared:
        raise ValueError(f"{sorted(shared)[0]} is on both sides of the comparison")
    notes = _notes([a, b], [[("A", a), ("B", b)]])
    p, low, high = probability_of_improvement_ci(a.scores, b.scores, reps, CONFIDENCE, seed)
    stats_a, stats_b = group_stats(a, reps, seed), group_stats(b, reps, seed)
    if out is not None:
        _draw_profiles(a, b, Path(out), reps, seed)
    if as_json:
        result = {"env_id": a.env_id, "score": a.source, "confidence": CONFIDENCE, "reps": reps,
                  "p_a_beats_b": p, "p_ci": [low, high], "a": stats_a, "b": stats_b, "profiles": str(out) if out else None,
                  "notes": notes}
        return json.dumps(result, indent=2)
    lines = [f"A: {a.name} ({len(a.runs)} runs)   B: {b.name} ({len(b.runs)} runs)   env {a.env_id}",
             f"score: {SOURCES[a.source]}",
             f"P(A > B) = {p:.3f}   {CONFIDENCE:.0%} CI [{low:.3f}, {high:.3f}]"]
    for side, s in (("A", stats_a), ("B", stats_b)):
        lines.append(f"IQM {side} = {s['iqm']:.2f}   {CONFIDENCE:.0%} CI [{s['iqm_ci'][0]:.2f}, {s['iqm_ci'][1]:.2f}]   "
                     f"(mean {s['mean']:.2f})")
    lines += notes
    lines += ["", "P(A > B): the chance that a random run of A ends above a random run of B, ties counting half",
              _footnote(reps)]
    if out is not None:
        lines.append(f"wrote {out}: the fraction of each side's runs scoring above each threshold, with its band")
    return "\n".join(lines)


def _draw_profiles(a: Group, b: Group, out: Path, reps: int, seed: int) -> None:
    both = np.concatenate([a.scores, b.scores])
    margin = max(0.05 * float(np.ptp(both)), 1.0)  # room on both sides; 1 when all scores are equal
    taus_K = np.linspace(both.min() - margin, both.max() + margin, 401)
    profiles = {f"{side}: {g.name} ({len(g.runs)} runs)": performance_profile_ci(g.scores, taus_K, reps, CONFIDENCE, seed)
                for side, g in (("A", a), ("B", b))}
    plot_profiles(taus_K, profiles, out, title=f"{a.env_id}: performance profiles")


def plot_report(
    runs: Sequence[Path], out: Path | None, x: str = "epoch", threshold: float | None = None, with_table: bool = False
) -> str:
    """`reinforce plot` (and `train --seeds` at its end): draw the learning curves, write the summary table
    beside them; returns what to print (with `with_table`, the table in Markdown first)."""
    frame = load_runs(runs)  # read once for the plot and the table
    png = plot_runs(runs, out or default_plot_path(runs), x=x, threshold=threshold, runs=frame)
    csv_path, md_path = write_summary(frame, png, threshold)
    if with_table:  # the closing lines of train --seeds, as the README quotes them
        return to_markdown(summarize(frame, threshold)) + f"wrote {png} and {png.stem}_summary.csv/.md beside it"
    return f"wrote {png}, {csv_path.name} and {md_path.name}"
