"""Statistics of final scores over seeds, as rliable recommends (Agarwal et al. 2021, "Deep RL at the edge
of the statistical precipice"): the interquartile mean, stratified-bootstrap intervals, the probability
of improvement and performance profiles.

Scores are (runs, tasks) arrays, runs being seeds and tasks envs; a 1-D array is one task. IQM and the
probability of improvement equal `rliable.metrics`' (tests compare them). The bootstrap is our own, on
numpy alone: `rliable.library` imports `arch`, and arch 7.x does not import under pandas 3 (TypeError in
its `deprecate_kwarg`) while arch 8 rejects the `random_state=None` that rliable's StratifiedBootstrap passes.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from reinforce.checks import require_finite, require_int

REPS = 2000  # bootstrap resamples: rliable's default for profiles (its intervals take 50000); callers may raise it
CONFIDENCE = 0.95


def as_runs_by_tasks(scores: ArrayLike, name: str = "scores") -> np.ndarray:
    """`scores` as a float (runs, tasks) array; 1-D means one task. A ValueError for no runs or a NaN/inf."""
    scores_RT = np.asarray(scores, dtype=float)
    if scores_RT.ndim == 1:
        scores_RT = scores_RT[:, None]
    if scores_RT.ndim != 2 or scores_RT.shape[0] < 1 or scores_RT.shape[1] < 1:
        raise ValueError(f"{name} must be a (runs, tasks) array with at least one run and task, got shape {np.shape(scores)}")
    if not np.isfinite(scores_RT).all():
        raise ValueError(f"{name} must be finite, got {int((~np.isfinite(scores_RT)).sum())} NaN or infinite value(s)")
    return scores_RT


def iqm(scores: ArrayLike) -> float:
    """Interquartile mean of all scores (any shape, flattened): the mean of what is left after cutting
    int(n/4) values from each end, as scipy.stats.trim_mean(x, 0.25), which rliable's aggregate_iqm calls."""
    flat = np.asarray(scores, dtype=float).ravel()
    n = flat.size
    if n == 0:
        raise ValueError("iqm needs at least one score")
    low = int(0.25 * n)
    # np.partition with the same kth as scipy: the same elements in the same order, hence the same rounding
    kept = np.partition(flat, (low, n - low - 1))[low:n - low]
    return float(np.mean(kept))


def resample_runs(scores_RT: np.ndarray, reps: int, rng: np.random.Generator) -> np.ndarray:
    """(reps, runs, tasks): each task's runs drawn with replacement from that task's own runs (stratified),
    independently per task and per resample."""
    runs, tasks = scores_RT.shape
    pick_BRT = rng.integers(0, runs, size=(reps, runs, tasks))
    return np.take_along_axis(np.broadcast_to(scores_RT, (reps, runs, tasks)), pick_BRT, axis=1)


def _check(reps: int, confidence: float) -> tuple[int, float]:
    return require_int("reps", reps, 1), require_finite("confidence", confidence, 0.0, 1.0, low_open=True)


def _interval(values_B: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over the resamples (axis 0)."""
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values_B, [tail, 100 - tail], axis=0)
    return low, high


def stratified_bootstrap_ci(
    scores_per_task: ArrayLike,
    statistic: Callable[[np.ndarray], float] = iqm,
    reps: int = REPS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float, float]:
    """(point, low, high): `statistic` of the (runs, tasks) scores and its percentile interval over `reps`
    stratified resamples (`resample_runs`). `statistic` maps a (runs, tasks) array to a number."""
    reps, confidence = _check(reps, confidence)
    scores_RT = as_runs_by_tasks(scores_per_task)
    resampled_BRT = resample_runs(scores_RT, reps, np.random.default_rng(seed))
    values_B = np.array([statistic(sample_RT) for sample_RT in resampled_BRT], dtype=float)
    low, high = _interval(values_B, confidence)
    return float(statistic(scores_RT)), float(low), float(high)


def _improvement_T(x_RT: np.ndarray, y_RT: np.ndarray) -> np.ndarray:
    """Per task: P(X > Y) + P(X = Y) / 2 over all (run of x, run of y) pairs."""
    x_R1T, y_1RT = x_RT[:, None, :], y_RT[None, :, :]
    return np.mean(x_R1T > y_1RT, axis=(0, 1)) + 0.5 * np.mean(x_R1T == y_1RT, axis=(0, 1))


def probability_of_improvement(x: ArrayLike, y: ArrayLike) -> float:
    """P(X > Y) + P(X = Y)/2 per task, averaged over tasks; x (runs_x, tasks), y (runs_y, tasks). The
    Mann-Whitney U statistic over runs_x · runs_y, as rliable.metrics.probability_of_improvement."""
    x_RT, y_RT = _paired(x, y)
    return float(np.mean(_improvement_T(x_RT, y_RT)))


def _paired(x: ArrayLike, y: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x_RT, y_RT = as_runs_by_tasks(x, "x"), as_runs_by_tasks(y, "y")
    if x_RT.shape[1] != y_RT.shape[1]:
        raise ValueError(f"x and y must have the same tasks (columns), got {x_RT.shape[1]} and {y_RT.shape[1]}")
    return x_RT, y_RT


def probability_of_improvement_ci(
    x: ArrayLike, y: ArrayLike, reps: int = REPS, confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float, float]:
    """(point, low, high) of `probability_of_improvement`; x's and y's runs are resampled independently,
    each within its tasks."""
    reps, confidence = _check(reps, confidence)
    x_RT, y_RT = _paired(x, y)
    rng = np.random.default_rng(seed)
    x_BRT, y_BRT = resample_runs(x_RT, reps, rng), resample_runs(y_RT, reps, rng)
    values_B = np.array([np.mean(_improvement_T(xb, yb)) for xb, yb in zip(x_BRT, y_BRT)])
    low, high = _interval(values_B, confidence)
    return float(np.mean(_improvement_T(x_RT, y_RT))), float(low), float(high)


def performance_profile(scores: ArrayLike, taus: ArrayLike) -> np.ndarray:
    """(K,): for each of the K thresholds tau, the fraction of all runs (and tasks) scoring above it,
    rliable's run-score distribution. Non-increasing in tau."""
    flat = as_runs_by_tasks(scores).ravel()
    taus_K = np.asarray(taus, dtype=float).ravel()
    return np.mean(flat[:, None] > taus_K[None, :], axis=0)


def performance_profile_ci(
    scores: ArrayLike, taus: ArrayLike, reps: int = REPS, confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(profile, low, high), each (K,): `performance_profile` and its pointwise percentile band over
    stratified resamples of the runs."""
    reps, confidence = _check(reps, confidence)
    scores_RT = as_runs_by_tasks(scores)
    taus_K = np.asarray(taus, dtype=float).ravel()
    flat_BN = resample_runs(scores_RT, reps, np.random.default_rng(seed)).reshape(reps, -1)
    # one threshold at a time: reps x runs x K booleans at once could be large
    profiles_BK = np.stack([np.mean(flat_BN > tau, axis=1) for tau in taus_K], axis=1)
    low, high = _interval(profiles_BK, confidence)
    return performance_profile(scores_RT, taus_K), low, high
