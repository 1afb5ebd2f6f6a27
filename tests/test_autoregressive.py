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
from toy_envs import SumTargetEnv


def flat_grad(policy):
    return torch.cat([p.grad.reshape(-1) for p in policy.parameters()])


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
    env = reinforce.make_vec_env("tests/SumTarget-v0", num_envs=64, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, policy, lr=1e-3, gamma=1.0, steps_per_rollout=SumTargetEnv.H)
    exact = torch.autograd.grad(sum_target_objective(policy), list(policy.parameters()))
    exact = -torch.cat([g.reshape(-1) for g in exact]) / SumTargetEnv.H

    samples = []
    for _ in range(400):
        batch = agent.collect()  # reset_each_epoch: every rollout starts fresh, so batches are independent
        assert batch.prev_fresh.all() and batch.terminated[-1].all()
        policy.zero_grad()
        agent.loss(batch).backward()
        samples.append(flat_grad(policy).clone())
    samples = torch.stack(samples).double()
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(len(samples))
    assert (exact.abs() > 4 * se).all(), f"test has no power: {exact.tolist()} against se {se.tolist()}"
    z = (mean - exact.double()).abs() / se
    assert (z < 4).all(), f"z-scores {z.tolist()}"


def test_collector_draws_what_the_loss_scores_across_rollouts_and_episodes():
    """Over several rollouts of the swing-up (episodes crossing rollout ends), the loss's conditional law makes
    the sampled u white: standardised residuals have mean 0, variance 1 and no lag-1 correlation; the noise
    d = u - μ(s) itself follows d_{t+1} = ρ·d_t + white noise within episodes. Tolerances: 5 standard errors."""
    torch.manual_seed(1)
    cfg = reinforce.Config(env_id="reinforce/CartPoleSwingUp-v0", num_envs=64, steps_per_rollout=50, hidden_sizes=(16,),
                           squash=True, log_std_init=-1.0, autoregressive_noise_steps=10.0, reset_each_epoch=False)
    agent = build(cfg)[2]
    policy = agent.policy
    zs, ds, carries = [], [], []
    for _ in range(4):
        batch = agent.collect()
        with torch.no_grad():
            dist = ar.batch_pi(policy, batch.obs, batch.actions, batch.dones, batch.prev_obs, batch.prev_u,
                               batch.prev_fresh)
            u_N = ar.pre_squash(policy, batch.actions.flatten(0, 1))
            zs.append(((u_N - dist.loc) / dist.log_std.exp()).reshape(-1))
            d_TE = (u_N - ar.mean(policy, batch.obs.flatten(0, 1))).reshape(batch.rewards.shape)
            ds.append(d_TE)
            carries.append(~batch.dones[:-1])  # d_{t+1} continues d_t
        agent.update(batch)  # the weights move: the next rollout's first row must use the new μ(s_{-1})
    z = torch.cat(zs).double()
    n = z.numel()
    assert abs(float(z.mean())) < 5 / math.sqrt(n) and abs(float(z.var()) - 1) < 5 * math.sqrt(2 / n)
    # within one rollout, consecutive rows of the same env (the residuals are independent whatever the episodes)
    z_TE = torch.stack([zz.reshape(50, 64) for zz in zs]).double()
    lag = (z_TE[:, 1:] * z_TE[:, :-1]).mean()
    assert abs(float(lag)) < 5 / math.sqrt(z_TE[:, 1:].numel())
    # d_{t+1} = ρ·d_t + white noise within an episode, whatever d_0 was (also a d_0 carried over an update):
    # the least-squares slope through the origin estimates ρ, with standard error σ_resid / √Σd_t²
    pairs = torch.cat([torch.stack([d[1:][c], d[:-1][c]]) for d, c in zip(ds, carries)], dim=1).double()
    nxt, now = pairs
    slope = float((nxt * now).sum() / (now * now).sum())
    se = float((nxt - slope * now).std() / (now * now).sum().sqrt())
    assert abs(slope - ar.rho(policy)) < 5 * se, (slope, ar.rho(policy), se)


def test_autoregressive_options_refuse_what_they_cannot_do():
    with pytest.raises(ValueError, match="autoregressive_noise_steps applies to Box actions"):
        reinforce.make_policy(gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(3), ar_steps=5.0)
    with pytest.raises(ValueError, match="two kinds of correlated exploration"):
        reinforce.Config(autoregressive_noise_steps=5.0, correlated_noise_steps=5.0)
    with pytest.raises(ValueError, match="autoregressive_noise_steps"):
        reinforce.Config(autoregressive_noise_steps=-1.0)
    cfg = reinforce.Config(env_id="reinforce/CartPoleSwingUp-v0", num_envs=4, autoregressive_noise_steps=5.0)
    agent = build(cfg)[2]
    with pytest.raises(ValueError, match="cuda_graph='on': autoregressive exploration"):
        graphed.wants_graph(agent, "on")
    assert not graphed.wants_graph(agent, "auto")


def test_marginal_policy_acts_at_evaluation():
    """pi(obs) without the rollout's memory is the stationary law N(μ(s), σ²): evaluation and export need nothing else."""
    policy = reinforce.DiagonalGaussianPolicy(3, 2, log_std_init=-0.3, ar_steps=8.0)
    obs = torch.randn(5, 3)
    dist = policy.pi(obs)
    torch.testing.assert_close(dist.mean, ar.mean(policy, obs))
    torch.testing.assert_close(dist.stddev, torch.full((5, 2), math.exp(-0.3)))
    fresh = ar.conditional(policy, dist.mean, torch.zeros(5, 2), torch.ones(5, 2), torch.ones(5, dtype=torch.bool))
    torch.testing.assert_close(fresh.log_prob(obs[:, :2]), dist.log_prob(obs[:, :2]))
