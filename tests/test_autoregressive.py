"""Autoregressive Gaussian exploration (reinforce.autoregressive): the gradient is exact, the collector
draws what the loss scores, and the options refuse what they cannot do."""
import math

import gymnasium as gym
import pytest
import torch

import reinforce
from reinforce import autoregressive as ar
from reinforce.run import graphed
from reinforce.run.build import build
from toy_envs import SumTargetEnv, assert_sum_target_gradient_is_unbiased, readings_while_fading


def sum_target_objective(policy) -> torch.Tensor:
    """SumTarget's J = -((μ_0 + μ_1 - TARGET)² + Var(u_0 + u_1)) for a linear AR Gaussian policy: u_0 = μ_0 + d_0,
    u_1 = μ_1 + ρ·d_0 + √(1-ρ²)·σ·η, d_0 ~ N(0, σ²), so Var = σ²((1 + ρ)² + 1 - ρ²) = 2σ²(1 + ρ)."""
    mu = policy.mu(torch.eye(2)).reshape(2)
    s2 = (2 * policy.log_std).exp().sum()
    return -((mu.sum() - SumTargetEnv.TARGET) ** 2 + 2 * s2 * (1 + ar.rho(policy)))


def test_autoregressive_gradient_is_unbiased():
    """E[∇ loss] = -∇J/H with J in closed form: step 1's law depends on μ(s_0) through its conditional mean,
    so the estimator is right only if both μ terms are differentiated. Tolerance: 4 standard errors."""
    torch.manual_seed(0)
    policy = reinforce.DiagonalGaussianPolicy(2, 1, hidden_sizes=(), log_std_init=-0.5, ar_steps=2.0)
    with torch.no_grad():
        policy.mu[0].weight.copy_(torch.tensor([[0.2, -0.4]]))
        policy.mu[0].bias.fill_(0.1)
    # reset_each_epoch: every rollout starts fresh, so batches are independent
    assert_sum_target_gradient_is_unbiased(policy, sum_target_objective(policy),
                                           lambda batch: batch.prev_fresh.all() or pytest.fail("row 0 not fresh"))


@pytest.mark.parametrize("state_dependent_std", [False, True])
def test_collector_draws_what_the_loss_scores_across_rollouts_and_episodes(state_dependent_std):
    """Over several rollouts of the swing-up (episodes crossing rollout ends, weights and the observation
    normaliser updated between them), the loss's conditional law makes the sampled u white: standardised
    residuals have mean 0, variance 1 and no lag-1 correlation; the noise d = u - μ(s) follows
    d_{t+1} = ρ·d_t + white noise within episodes, across the rollout boundary too (d_{-1} taken under the new
    weights). With a state-dependent σ the residuals are standardised by σ(s_t). Tolerances: 5 standard errors."""
    torch.manual_seed(1)
    cfg = reinforce.Config(env_id="reinforce/CartPoleSwingUp-v0", num_envs=64, steps_per_rollout=50, hidden_sizes=(16,),
                           squash=True, log_std_init=-1.0, autoregressive_noise_steps=10.0, reset_each_epoch=False,
                           normalize_observations=True, state_dependent_std=state_dependent_std)
    agent = build(cfg)[2]
    policy = agent.policy
    if state_dependent_std:  # σ(s_t) differs per row from the start: the collector and the loss must both use it
        with torch.no_grad():
            policy.std_head.weight.normal_(0.0, 0.3)
    zs, nows, nexts = [], [], []
    previous = None
    for _ in range(4):
        batch = agent.collect()
        if previous is not None:  # row 0 reads the last row of the rollout before
            assert torch.equal(batch.prev_fresh, previous.dones[-1]) and torch.equal(batch.prev_obs, previous.obs[-1])
            torch.testing.assert_close(batch.prev_u, ar.pre_squash(policy, previous.actions[-1]))
        assert batch.prev_fresh.all() == (previous is None)  # the first rollout starts every env fresh
        previous = batch
        with torch.no_grad():
            dist = ar.batch_pi(policy, batch.obs, batch.actions, batch.dones, batch.prev_obs, batch.prev_u,
                               batch.prev_fresh)
            u_TE = ar.pre_squash(policy, batch.actions)
            zs.append(((u_TE.flatten(0, 1) - dist.loc) / dist.log_std.exp()).reshape(50, 64))
            d_TE = (u_TE - ar.mean(policy, batch.obs)).squeeze(-1)
            d_prev_E = (batch.prev_u - ar.mean(policy, batch.prev_obs)).squeeze(-1)
        d_T1E = torch.cat([d_prev_E[None], d_TE])
        carry_TE = ~torch.cat([batch.prev_fresh[None], batch.dones[:-1]])  # d_t continues d_{t-1}
        nows.append(d_T1E[:-1][carry_TE])
        nexts.append(d_T1E[1:][carry_TE])
        agent.update(batch)
    z = torch.stack(zs).double()
    n = z.numel()
    assert abs(float(z.mean())) < 5 / math.sqrt(n) and abs(float(z.var()) - 1) < 5 * math.sqrt(2 / n)
    lag = (z[:, 1:] * z[:, :-1]).mean()  # consecutive rows of an env: independent whatever the episodes
    assert abs(float(lag)) < 5 / math.sqrt(z[:, 1:].numel())
    # the least-squares slope through the origin estimates ρ whatever d_0 was; standard error σ_resid / √Σd_t²
    now, nxt = torch.cat(nows).double(), torch.cat(nexts).double()
    slope = float((nxt * now).sum() / (now * now).sum())
    se = float((nxt - slope * now).std() / (now * now).sum().sqrt())
    assert abs(slope - ar.rho(policy)) < 5 * se, (slope, ar.rho(policy), se)


def test_autoregressive_options_refuse_what_they_cannot_do():
    with pytest.raises(ValueError, match="autoregressive_noise_steps applies to Box actions"):
        reinforce.make_policy(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(3), ar_steps=5.0)
    with pytest.raises(ValueError, match="two kinds of correlated exploration"):
        reinforce.Config(autoregressive_noise_steps=5.0, correlated_noise_steps=5.0)
    for bad in (-1.0, 1e17):  # 1e17: ρ would round to 1
        with pytest.raises(ValueError, match="autoregressive_noise_steps"):
            reinforce.Config(autoregressive_noise_steps=bad)
    cfg = reinforce.Config(env_id="reinforce/CartPoleSwingUp-v0", num_envs=4, autoregressive_noise_steps=5.0)
    agent = build(cfg)[2]
    with pytest.raises(ValueError, match="cuda_graph='on': autoregressive exploration"):
        graphed.wants_graph(agent, "on")
    assert not graphed.wants_graph(agent, "auto")


def test_fresh_rows_take_the_stationary_law_and_ignore_their_previous_inputs():
    """An episode's first row is N(μ(s), σ²), pi(obs)'s law (what evaluation acts with), even when the previous
    inputs it must not read are non-finite; a carried row is N(μ + ρ(u_prev − μ_prev), (1 − ρ²)σ²)."""
    policy = reinforce.DiagonalGaussianPolicy(3, 2, log_std_init=-0.3, ar_steps=8.0)
    obs, u = torch.randn(5, 3), torch.randn(5, 2)
    marginal = policy.pi(obs)
    mean, nan = ar.mean(policy, obs), torch.full((5, 2), float("nan"))
    fresh = ar.conditional(policy, mean, nan, nan, torch.ones(5, dtype=torch.bool))
    torch.testing.assert_close(fresh.log_prob(u), marginal.log_prob(u))
    prev_mean, prev_u, r = torch.randn(5, 2), torch.randn(5, 2), math.exp(-1 / 8)
    carried = ar.conditional(policy, mean, prev_mean, prev_u, torch.zeros(5, dtype=torch.bool))
    want = torch.distributions.Normal(mean + r * (prev_u - prev_mean), math.exp(-0.3) * math.sqrt(1 - r * r))
    torch.testing.assert_close(carried.log_prob(u), want.log_prob(u).sum(-1))


def test_correlation_fades_linearly_to_white_noise_over_the_decay_steps():
    """correlated_noise_decay_steps takes ρ from e^(-1/τ) to 0 linearly in env steps; at 0 the carried rows are
    N(μ, σ²) (white noise of the learned σ) and the collector still carries its memory."""
    policy = reinforce.DiagonalGaussianPolicy(2, 1, hidden_sizes=(), ar_steps=5.0)
    carried, rhos = zip(*readings_while_fading(policy, lambda agent, batch: (batch.prev_obs is not None, ar.rho(policy))))
    full = math.exp(-1 / 5)
    assert all(carried)
    assert rhos == pytest.approx([full, 0.75 * full, 0.5 * full, 0.25 * full, 0.0, 0.0])
    white = ar.conditional(policy, torch.zeros(3, 1), torch.ones(3, 1), torch.full((3, 1), 4.0),
                           torch.zeros(3, dtype=torch.bool))
    torch.testing.assert_close(white.log_std, policy.log_std.expand(3, 1))
    torch.testing.assert_close(white.loc, torch.zeros(3, 1))
    env = reinforce.make_vec_env("tests/SumTarget-v0", num_envs=8, seed=0, backend="sync")
    again = reinforce.Reinforce(env, policy, gamma=1.0, steps_per_rollout=2)  # no decay: the whole ρ again
    again.collect()
    assert ar.rho(policy) == full
