"""tools/stats.py: IQM and probability of improvement against rliable.metrics, the stratified bootstrap
against scipy and against an unstratified resample, performance profiles against a direct count."""
import math

import numpy as np
import pytest
import scipy.stats
from rliable import metrics as rly  # rliable.library needs `arch`, which does not import here (see stats.py)

from reinforce.tools import stats

SHAPES = [(1, 1), (2, 1), (3, 2), (4, 4), (5, 1), (7, 3), (10, 5), (13, 2), (101, 2)]


def _scores(rng, shape, ties):
    x = rng.normal(100.0, 50.0, shape)
    return np.round(x / 40.0) * 40.0 if ties else x  # rounding to a coarse grid: many equal scores


@pytest.mark.parametrize("ties", [False, True])
def test_iqm_and_probability_of_improvement_equal_rliable(ties):
    rng = np.random.default_rng(17)
    worst_iqm = worst_p = 0.0
    for runs, tasks in SHAPES:
        x, y = _scores(rng, (runs, tasks), ties), _scores(rng, (runs + 3, tasks), ties) - 10
        worst_iqm = max(worst_iqm, abs(stats.iqm(x) - rly.aggregate_iqm(x)))
        worst_p = max(worst_p, abs(stats.probability_of_improvement(x, y) - rly.probability_of_improvement(x, y)),
                      abs(stats.probability_of_improvement(y, x) - rly.probability_of_improvement(y, x)))
        if ties:  # a sample against itself: rliable's special case, 0.5 by symmetry here
            assert stats.probability_of_improvement(x, x) == rly.probability_of_improvement(x, x) == 0.5
    assert worst_iqm <= 1e-12 and worst_p <= 1e-12, (worst_iqm, worst_p)


def test_iqm_and_probability_of_improvement_by_hand():
    assert stats.iqm([1.0, 2.0, 3.0, 4.0, 100.0]) == 3.0  # int(5/4) = 1 cut at each end: mean of 2, 3, 4
    assert stats.iqm([[1.0, 2.0], [3.0, 4.0]]) == 2.5
    # task 0: every x beats every y (1); task 1, x = (1, 3) against y = (2, 3): of the 4 pairs 1 won, 1 tied
    x, y = np.array([[5.0, 1.0], [6.0, 3.0]]), np.array([[1.0, 2.0], [2.0, 3.0]])
    assert stats.probability_of_improvement(x, y) == pytest.approx((1.0 + (1 + 0.5) / 4) / 2)


def test_bootstrap_is_reproducible_and_holds_the_point_estimate():
    scores = np.random.default_rng(3).normal(0, 1, (10, 3))
    first = stats.stratified_bootstrap_ci(scores, stats.iqm, reps=500, seed=7)
    assert first == stats.stratified_bootstrap_ci(scores, stats.iqm, reps=500, seed=7)
    assert first != stats.stratified_bootstrap_ci(scores, stats.iqm, reps=500, seed=8)
    point, low, high = first
    assert point == stats.iqm(scores) and low < point < high
    narrow = stats.stratified_bootstrap_ci(scores, stats.iqm, reps=500, confidence=0.5, seed=7)
    assert low < narrow[1] < narrow[2] < high  # a lower confidence gives a narrower interval
    assert stats.stratified_bootstrap_ci([[4.0]] * 6, reps=50) == (4.0, 4.0, 4.0)  # no spread: no interval
    p = stats.probability_of_improvement_ci(scores + 0.3, scores, reps=500, seed=1)
    assert p == stats.probability_of_improvement_ci(scores + 0.3, scores, reps=500, seed=1)
    assert p[0] == stats.probability_of_improvement(scores + 0.3, scores) and p[1] < p[0] < p[2]
    assert stats.probability_of_improvement_ci(scores + 10, scores, reps=200) == (1.0, 1.0, 1.0)


def test_one_task_matches_scipy_percentile_bootstrap_of_the_mean():
    x = np.random.default_rng(5).exponential(2.0, 20)  # skewed: the percentile interval is not symmetric
    reps = 20_000
    _, low, high = stats.stratified_bootstrap_ci(x, np.mean, reps=reps, seed=0)
    ref = scipy.stats.bootstrap((x,), np.mean, n_resamples=reps, method="percentile", confidence_level=0.95,
                                rng=np.random.default_rng(1)).confidence_interval
    # Both estimate the same 2.5% and 97.5% quantiles of the bootstrap distribution of the mean, from
    # independent draws of B = 20000 resamples each; only Monte-Carlo error separates them. The p-quantile
    # of B draws has standard error sqrt(p(1-p)/B) / f(q), f the density at the quantile. Taking that
    # distribution as normal with sd s = std(x)/sqrt(n): f(q) = phi(1.96)/s = 0.0584/s, so the SE is
    # sqrt(0.025 * 0.975 / 20000) / 0.0584 * s = 0.019 s, and of the difference of two estimates
    # sqrt(2) * 0.019 s = 0.027 s. We allow 5 of those, 0.134 s (the skew changes the density by a
    # few per cent, well inside the margin).
    s = x.std() / math.sqrt(len(x))
    se_difference = math.sqrt(2) * math.sqrt(0.025 * 0.975 / reps) / scipy.stats.norm.pdf(1.96) * s
    tolerance = 5 * se_difference
    assert abs(low - ref.low) < tolerance and abs(high - ref.high) < tolerance, (low, high, ref, tolerance)
    # the check has teeth: a 90% interval (ends at 1.645 s instead of 1.96 s) would miss by ~0.3 s
    _, low90, high90 = stats.stratified_bootstrap_ci(x, np.mean, reps=reps, confidence=0.90, seed=0)
    assert abs(low90 - ref.low) > tolerance and abs(high90 - ref.high) > tolerance


def test_stratification_keeps_each_tasks_runs_in_that_task():
    rng = np.random.default_rng(11)
    scores = np.stack([rng.normal(0, 1, 8), rng.normal(1000, 1, 8)], axis=1)  # (8 runs, 2 tasks), scales apart
    resampled = stats.resample_runs(scores, 300, np.random.default_rng(0))
    assert resampled.shape == (300, 8, 2)
    for task in range(2):
        assert np.isin(resampled[:, :, task], scores[:, task]).all()
    assert len({tuple(r[:, 0]) for r in resampled}) > 250  # and the runs do get resampled
    # The mean over all scores then varies with the within-task noise only (sd ~ 1/sqrt(16) = 0.25); a
    # resample of all 16 scores ignoring tasks would vary the 0-vs-1000 mix (sd ~ 500/sqrt(16) = 125).
    _, low, high = stats.stratified_bootstrap_ci(scores, np.mean, reps=2000, seed=0)
    flat = scores.ravel()
    pick = np.random.default_rng(0).integers(0, flat.size, size=(2000, flat.size))
    unstratified = np.percentile(flat[pick].mean(axis=1), [2.5, 97.5])
    assert high - low < 2 and unstratified[1] - unstratified[0] > 200, (low, high, unstratified)


def test_performance_profile_is_the_fraction_above_each_threshold():
    rng = np.random.default_rng(2)
    scores = np.round(rng.normal(50, 20, (9, 2)))  # ties with the thresholds below, on purpose
    taus = np.arange(-10.0, 111.0, 1.0)
    profile = stats.performance_profile(scores, taus)
    direct = [sum(s > tau for s in scores.ravel()) / scores.size for tau in taus]
    assert np.array_equal(profile, direct)
    assert np.all(np.diff(profile) <= 0) and profile[0] == 1.0 and profile[-1] == 0.0
    point, low, high = stats.performance_profile_ci(scores, taus, reps=500, seed=0)
    assert np.array_equal(point, profile)
    assert np.all(low <= high) and np.all((0 <= low) & (high <= 1))
    assert np.all(np.diff(low) <= 0) and np.all(np.diff(high) <= 0)  # each resample's profile is monotone too
    assert (high - low).max() > 0.2  # 18 scores: a visible band
    again = stats.performance_profile_ci(scores, taus, reps=500, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(again, (point, low, high)))


def test_bad_input_is_refused_with_the_reason():
    with pytest.raises(ValueError, match="finite"):
        stats.stratified_bootstrap_ci([1.0, float("nan")])
    with pytest.raises(ValueError, match="at least one run"):
        stats.stratified_bootstrap_ci(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="reps must be >= 1"):
        stats.stratified_bootstrap_ci([1.0, 2.0], reps=0)
    with pytest.raises(ValueError, match="confidence must be in"):
        stats.probability_of_improvement_ci([1.0], [2.0], confidence=1.5)
    with pytest.raises(ValueError, match="same tasks"):
        stats.probability_of_improvement(np.zeros((3, 2)), np.zeros((3, 1)))
    with pytest.raises(ValueError, match="at least one score"):
        stats.iqm([])
