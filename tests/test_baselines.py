"""Estimator options: unbiasedness against the exact gradient, variance reduction, GAE, normalisation."""
import math

import numpy as np
import pytest
import torch

import reinforce
from reinforce.normalization import ObsNormalizer
from reinforce.returns import gae
from toy_envs import TinyMDP

N_BATCHES, N_ENVS = 300, 64


def fixed_policy():
    policy = reinforce.CategoricalPolicy(obs_dim=2, n_actions=2)
    with torch.no_grad():
        policy.logits[0].weight.copy_(torch.tensor([[0.3, -0.4], [-0.2, 0.5]]))
        policy.logits[0].bias.copy_(torch.tensor([0.1, -0.1]))
    return policy


def make_agent(policy, **options):
    env = reinforce.make_vec_env("tests/TinyMDP-v0", num_envs=N_ENVS, seed=0, backend="sync")
    return reinforce.Reinforce(env, policy, lr=1e-3, gamma=1.0, steps_per_rollout=TinyMDP.H, value_lr=0.05, **options)


@pytest.fixture(scope="module")
def batches():
    """One set of rollouts from the fixed policy, shared by every estimator (the policy never steps)."""
    torch.manual_seed(0)
    agent = make_agent(fixed_policy(), baseline="value")  # keeps final observations for the value estimators
    return [agent.collect() for _ in range(N_BATCHES)]


@pytest.fixture(scope="module")
def exact_gradient():
    policy = fixed_policy()
    grads = torch.autograd.grad(TinyMDP.exact_objective(policy), list(policy.parameters()))
    return -torch.cat([g.reshape(-1) for g in grads]).double() / TinyMDP.H


_cache: dict = {}


def gradient_samples(batches, **options):
    """(N_BATCHES, n_params) loss gradients, one per batch; cached per estimator across tests."""
    key = tuple(sorted(options.items()))
    if key not in _cache:
        _cache[key] = _gradient_samples(batches, **options)
    return _cache[key]


def _gradient_samples(batches, **options):
    torch.manual_seed(1)
    policy = fixed_policy()
    agent = make_agent(policy, **options)
    samples = []
    for batch in batches:
        policy.zero_grad()
        agent.loss(batch).backward()  # V as it was *before* this batch's fit
        samples.append(torch.cat([p.grad.reshape(-1) for p in policy.parameters()]).clone())
        if agent.value_fn is not None:
            agent.fit_value(batch)
    return torch.stack(samples).double()


ESTIMATORS = {
    "reward_to_go": {},
    "total": {"returns": "total"},
    "mean": {"baseline": "mean"},
    "value": {"baseline": "value"},
    "gae_lambda_1": {"baseline": "gae", "gae_lambda": 1.0},
}


@pytest.mark.parametrize("name", list(ESTIMATORS))
def test_estimator_is_unbiased(name, batches, exact_gradient):
    samples = gradient_samples(batches, **ESTIMATORS[name])
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(len(samples))
    assert (exact_gradient.abs() > 4 * se).any(), "no power: exact gradient within noise of zero"
    z = (mean - exact_gradient).abs() / se
    assert (z < 4).all(), f"{name}: z-scores {z.tolist()}"


@pytest.mark.parametrize("name", ["mean", "value"])
def test_baseline_reduces_variance(name, batches):
    # skip the first batches, where V is still being fitted from scratch
    plain = gradient_samples(batches)[50:]
    with_baseline = gradient_samples(batches, **ESTIMATORS[name])[50:]
    ratio = with_baseline.var(0).sum() / plain.var(0).sum()
    assert ratio < 0.7, f"total variance ratio {ratio:.3f}"


def gae_reference(rewards, values, next_values, terminated, truncated, gamma, lam):
    """Direct sum A_t = Σ_k (γλ)^k δ_{t+k} over the rest of the episode segment."""
    T, E = rewards.shape
    delta = rewards + gamma * next_values * (~terminated) - values
    out = torch.zeros_like(rewards)
    for e in range(E):
        for t in range(T):
            total, k = 0.0, t
            while True:
                total += (gamma * lam) ** (k - t) * delta[k, e]
                if terminated[k, e] or truncated[k, e] or k == T - 1:
                    break
                k += 1
            out[t, e] = total
    return out


@pytest.fixture
def segment():
    g = torch.Generator().manual_seed(5)
    T, E = 30, 5
    rewards = torch.randn(T, E, generator=g, dtype=torch.float64)
    values = torch.randn(T, E, generator=g, dtype=torch.float64)
    next_values = torch.randn(T, E, generator=g, dtype=torch.float64)
    terminated = torch.rand(T, E, generator=g) < 0.1
    truncated = (torch.rand(T, E, generator=g) < 0.1) & ~terminated
    return rewards, values, next_values, terminated, truncated


@pytest.mark.parametrize("lam", [0.0, 0.5, 0.95, 1.0])
def test_gae_matches_direct_sum(segment, lam):
    got = gae(*segment, 0.9, lam)[0]
    torch.testing.assert_close(got, gae_reference(*segment, 0.9, lam))


def test_gae_special_cases(segment):
    rewards, values, next_values, terminated, truncated = segment
    # inside an episode the next value is V(s_{t+1}) = values[t+1]; only at cuts does it differ
    ended = terminated | truncated
    next_values = next_values.clone()
    next_values[:-1] = torch.where(ended[:-1], next_values[:-1], values[1:])
    segment = (rewards, values, next_values, terminated, truncated)
    # λ = 0: the TD error; a termination drops the next value, a truncation keeps it
    td = rewards + 0.9 * next_values * (~terminated) - values
    torch.testing.assert_close(gae(*segment, 0.9, 0.0)[0], td)
    # λ = 1: the bootstrapped return minus V
    from reinforce.returns import bootstrapped_returns

    # next_values at a truncation row is V(final obs); at the last row V(s_T)
    ret = bootstrapped_returns(rewards, terminated, truncated, 0.9, next_values, next_values[-1])
    torch.testing.assert_close(gae(*segment, 0.9, 1.0)[0], ret - values)


def test_obs_normalizer_matches_numpy_and_freezes_between_updates():
    g = torch.Generator().manual_seed(0)
    chunks = [torch.randn(n, 3, generator=g) * torch.tensor([1.0, 5.0, 0.1]) + 3 for n in (10, 1000, 1, 257)]
    norm = ObsNormalizer(3)
    for c in chunks:
        norm.update(c)
    data = torch.cat(chunks).numpy().astype(np.float64)
    np.testing.assert_allclose(norm.mean.numpy(), data.mean(0), rtol=1e-10)
    np.testing.assert_allclose(norm.var.numpy(), data.var(0), rtol=1e-10)
    x = chunks[1][:4]
    before = norm(x)
    torch.testing.assert_close(norm(x), before)  # using it does not change it
    expected = (x.double() - data.mean(0)) / np.sqrt(data.var(0) + 1e-8)
    torch.testing.assert_close(before, expected.float())


def test_observation_normalisation_is_saved_with_policy_and_only_updated_by_update():
    env = reinforce.make_vec_env("CartPole-v1", num_envs=4, seed=0, backend="sync")
    policy = reinforce.make_policy(env.single_observation_space, env.single_action_space, normalize_observations=True)
    agent = reinforce.Reinforce(env, policy, lr=0.01, steps_per_rollout=20)
    batch = agent.collect()
    assert policy.obs_normalizer.count == 0  # collecting does not move the statistics
    agent.update(batch)
    assert policy.obs_normalizer.count == 80
    state = policy.state_dict()
    assert "obs_normalizer.mean" in state and "obs_normalizer.var" in state
    fresh = reinforce.make_policy(env.single_observation_space, env.single_action_space, normalize_observations=True)
    fresh.load_state_dict(state)
    obs = batch.obs[0]
    torch.testing.assert_close(fresh.pi(obs).logits, policy.pi(obs).logits)


def test_squashed_gaussian_log_prob_has_change_of_variables():
    low, high = torch.tensor([-2.0]), torch.tensor([4.0])
    policy = reinforce.DiagonalGaussianPolicy(3, 1, hidden_sizes=(), squash=True, action_low=low, action_high=high)
    obs = torch.randn(1000, 3)
    a = policy.sample(obs)
    assert (a > low).all() and (a < high).all()
    mean, std = policy.mu(obs).detach(), policy.log_std.exp().detach()
    u = torch.atanh(((a - 1.0) / 3.0).double()).float()  # center 1, half range 3
    want = torch.distributions.Normal(mean, std).log_prob(u) - torch.log(3.0 * (1 - torch.tanh(u) ** 2))
    torch.testing.assert_close(policy.pi(obs).log_prob(a), want.sum(-1), atol=2e-3, rtol=1e-4)


def test_linear_lr_schedule_and_grad_clipping():
    env = reinforce.make_vec_env("CartPole-v1", num_envs=4, seed=0, backend="sync")
    agent = reinforce.Reinforce(
        env, reinforce.CategoricalPolicy(4, 2), lr=0.1, steps_per_rollout=20, lr_schedule="linear", max_grad_norm=1e-3
    )
    history = agent.learn(4)
    assert [m["train/lr"] for m in history] == pytest.approx([0.1, 0.075, 0.05, 0.025])
    # grad_norm is the norm before clipping; the step used a clipped one, so parameters barely move
    assert all(m["train/grad_norm"] > 1e-3 for m in history)


def test_entropy_bonus_lowers_the_loss_by_coef_times_entropy():
    env = reinforce.make_vec_env("CartPole-v1", num_envs=4, seed=0, backend="sync")
    policy = reinforce.CategoricalPolicy(4, 2)
    plain = reinforce.Reinforce(env, policy, steps_per_rollout=20)
    bonus = reinforce.Reinforce(env, policy, steps_per_rollout=20, entropy_coef=0.5)
    batch = plain.collect()
    entropy = policy.pi(batch.obs.reshape(-1, 4)).entropy().mean()
    torch.testing.assert_close(bonus.loss(batch), plain.loss(batch) - 0.5 * entropy)


@pytest.mark.parametrize(
    "options, word",
    [({"baseline": "critic"}, "baseline"), ({"returns": "g0"}, "returns"), ({"gae_lambda": 1.5}, "gae_lambda"),
     ({"lr_schedule": "cosine"}, "lr_schedule"), ({"baseline": "gae", "returns": "total"}, "gae")],
)
def test_invalid_options_are_named(options, word):
    env = reinforce.make_vec_env("CartPole-v1", num_envs=1, seed=0, backend="sync")
    with pytest.raises(ValueError, match=word):
        reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), **options)
