"""Distributions: values against torch's own Categorical / Normal / TransformedDistribution, sampling laws."""
import pytest
import torch
from torch.distributions import Categorical, Independent, Normal, TransformedDistribution
from torch.distributions.transforms import AffineTransform, TanhTransform

from reinforce.distributions import CategoricalDist, DiagGaussian, SquashedDiagGaussian

TOL = {"atol": 1e-5, "rtol": 1e-5}


def _within_4_se(freq: torch.Tensor, probs: torch.Tensor, n: int) -> bool:
    """Empirical frequencies within 4 standard errors of a binomial proportion."""
    return bool(((freq - probs).abs() < 4 * (probs * (1 - probs) / n).sqrt()).all())


@pytest.mark.parametrize("n", [2, 3, 5])
def test_categorical_matches_torch(n):
    torch.manual_seed(n)
    logits = torch.randn(4, 250, n) * 3
    actions = torch.randint(0, n, (4, 250))
    ours, ref = CategoricalDist(logits), Categorical(logits=logits)
    assert isinstance(ours, torch.distributions.Distribution)
    assert ours.batch_shape == ref.batch_shape and ours.log_prob(actions).shape == (4, 250)
    torch.testing.assert_close(ours.log_prob(actions), ref.log_prob(actions), **TOL)
    torch.testing.assert_close(ours.entropy(), ref.entropy(), **TOL)
    torch.testing.assert_close(ours.probs, ref.probs, **TOL)
    torch.testing.assert_close(ours.logits, ref.logits, **TOL)
    assert torch.equal(ours.mode, ref.mode)


def test_two_action_closed_form_holds_at_saturated_logits():
    logits = torch.tensor([[0.0, 60.0], [60.0, 0.0], [-30.0, 30.0], [1.0, 1.0]])
    actions = torch.tensor([1, 1, 0, 0])
    ours, ref = CategoricalDist(logits), Categorical(logits=logits)
    torch.testing.assert_close(ours.log_prob(actions), ref.log_prob(actions), **TOL)
    torch.testing.assert_close(ours.entropy(), ref.entropy(), **TOL)


def test_categorical_gradients_match_torch():
    logits = (torch.randn(100, 2) * 2).requires_grad_()
    actions = torch.randint(0, 2, (100,))
    grads = []
    for kind in (CategoricalDist, lambda l: Categorical(logits=l)):
        dist = kind(logits)
        (grad,) = torch.autograd.grad((dist.log_prob(actions) + 0.3 * dist.entropy()).sum(), logits)
        grads.append(grad)
    torch.testing.assert_close(*grads, **TOL)


@pytest.mark.parametrize("n", [2, 5])
def test_categorical_samples_follow_the_softmax(n):
    torch.manual_seed(0)
    rows = 200_000
    logits = torch.linspace(-1.0, 1.5, n).expand(rows, n)
    samples = CategoricalDist(logits).sample()
    assert samples.shape == (rows,) and samples.dtype == torch.int64
    freq = torch.bincount(samples, minlength=n).double() / rows
    assert _within_4_se(freq, torch.softmax(logits[0].double(), -1), rows)


@pytest.mark.parametrize("n", [2, 5])
def test_categorical_sample_shape_leads(n):
    assert CategoricalDist(torch.zeros(7, n)).sample(torch.Size([3])).shape == (3, 7)


def _gaussian_inputs(dtype=torch.float64):
    torch.manual_seed(1)
    mean = torch.randn(4, 125, 3, dtype=dtype) * 2
    log_std = torch.tensor([0.3, -0.7, 1.1], dtype=dtype)
    return mean, log_std


def test_diag_gaussian_matches_independent_normal():
    mean, log_std = _gaussian_inputs(torch.float32)
    ours, ref = DiagGaussian(mean, log_std), Independent(Normal(mean, log_std.exp().expand_as(mean)), 1)
    action = torch.randn_like(mean) * 3
    assert ours.batch_shape == ref.batch_shape and ours.event_shape == ref.event_shape
    assert ours.log_prob(action).shape == (4, 125) and ours.entropy().shape == (4, 125)
    torch.testing.assert_close(ours.log_prob(action), ref.log_prob(action), **TOL)
    torch.testing.assert_close(ours.entropy(), ref.entropy(), **TOL)
    torch.testing.assert_close(ours.mode, ref.mode)
    torch.testing.assert_close(ours.stddev, ref.stddev)


def test_diag_gaussian_gradients_match_torch():
    mean, log_std = _gaussian_inputs()
    mean.requires_grad_(), log_std.requires_grad_()
    action = torch.randn_like(mean)
    ours = DiagGaussian(mean, log_std)
    ref = Independent(Normal(mean, log_std.exp().expand_as(mean)), 1)
    grads = [
        torch.autograd.grad((d.log_prob(action) + 0.1 * d.entropy()).sum(), (mean, log_std)) for d in (ours, ref)
    ]
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, **TOL)


def test_diag_gaussian_samples_have_its_mean_and_std():
    torch.manual_seed(0)
    rows = 200_000
    mean, log_std = torch.tensor([0.5, -2.0]).expand(rows, 2), torch.tensor([-0.5, 0.4])
    a = DiagGaussian(mean, log_std).sample()
    std = log_std.exp()
    assert ((a.mean(0) - mean[0]).abs() < 4 * std / rows**0.5).all()
    assert ((a.std(0) - std).abs() < 4 * std / (2 * rows) ** 0.5).all()


def test_gaussian_rsample_carries_gradient_and_sample_does_not():
    mean, log_std = torch.zeros(5, 2, requires_grad=True), torch.zeros(2, requires_grad=True)
    dist = DiagGaussian(mean, log_std)
    assert dist.rsample().requires_grad and not dist.sample().requires_grad
    assert dist.sample(torch.Size([3])).shape == (3, 5, 2)
    squashed = SquashedDiagGaussian(mean, log_std, torch.zeros(2), torch.ones(2))
    assert squashed.rsample().requires_grad and not squashed.sample().requires_grad


def _squashed_pair(mean, log_std, center, half):
    ours = SquashedDiagGaussian(mean, log_std, center, half)
    base = Normal(mean, log_std.exp().expand_as(mean))
    ref = Independent(TransformedDistribution(base, [TanhTransform(), AffineTransform(center, half)]), 1)
    return ours, ref


def test_squashed_gaussian_matches_transformed_distribution():
    # float64: atanh near ±1 amplifies float32 rounding in both implementations.
    mean, log_std = _gaussian_inputs()
    center, half = torch.tensor([1.0, 0.0, -3.0], dtype=torch.float64), torch.tensor([3.0, 0.5, 2.0]).double()
    ours, ref = _squashed_pair(mean, log_std, center, half)
    action = ours.sample()
    assert ours.log_prob(action).shape == (4, 125)
    torch.testing.assert_close(ours.log_prob(action), ref.log_prob(action), **TOL)
    torch.testing.assert_close(ours.entropy(), Independent(ref.base_dist.base_dist, 1).entropy(), **TOL)
    mode = ours.mode
    for transform in ref.base_dist.transforms:
        mean = transform(mean)
    torch.testing.assert_close(mode, mean)


def test_squashed_samples_stay_inside_bounds_with_finite_log_prob():
    torch.manual_seed(0)
    low, high = torch.tensor([-2.0, 0.0]), torch.tensor([4.0, 0.5])
    center, half = (high + low) / 2, (high - low) / 2
    mean = torch.tensor([[60.0, -60.0], [-60.0, 60.0]]).repeat(500, 1)  # tanh saturates in float32
    dist = SquashedDiagGaussian(mean, torch.zeros(2), center, half)
    a = dist.sample()
    assert ((a > low) & (a < high)).all()
    assert torch.isfinite(dist.log_prob(a)).all()
    edges = torch.stack([low, high, torch.stack([low[0], high[1]])])  # exactly on the bounds
    at_edges = SquashedDiagGaussian(torch.zeros(3, 2), torch.zeros(2), center, half)
    assert torch.isfinite(at_edges.log_prob(edges)).all()


def test_squashed_samples_are_tanh_of_the_gaussian():
    torch.manual_seed(0)
    rows = 200_000
    mean, log_std = torch.tensor([0.3, -0.8]).expand(rows, 2), torch.tensor([-0.5, -1.0])
    center, half = torch.tensor([1.0, 0.0]), torch.tensor([3.0, 0.5])
    a = SquashedDiagGaussian(mean, log_std, center, half).sample().double()
    u = torch.atanh((a - center) / half)
    std = log_std.exp()
    assert ((u.mean(0) - mean[0]).abs() < 4 * std / rows**0.5).all()
    assert ((u.std(0) - std).abs() < 4 * std / (2 * rows) ** 0.5).all()


def test_two_action_log_prob_keeps_its_gradient_after_a_sample_without_one():
    """z = l1 - l0 is made once per grad mode: a sample under no_grad must not leave log_prob without a graph."""
    logits = torch.randn(5, 2, requires_grad=True)
    dist = CategoricalDist(logits)
    with torch.no_grad():
        actions = dist.sample()
    logp = dist.log_prob(actions)
    assert logp.requires_grad
    logp.sum().backward()
    expected = torch.log_softmax(logits.detach(), -1).gather(-1, actions[:, None]).squeeze(-1)
    assert torch.allclose(logp.detach(), expected) and logits.grad is not None and logits.grad.abs().sum() > 0
