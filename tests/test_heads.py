"""The action heads beyond Discrete and 1-D Box: MultiDiscrete, MultiBinary, Box of any shape.

Each head is checked against torch's own distributions, for an unbiased loss gradient on an enumerable
MDP (exact J by dynamic programming), for learning to the optimum, and through the env, make_policy and predict.
"""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Bernoulli, Categorical, Independent

import reinforce
import toy_spaces
from reinforce.distributions import BernoulliDist, MultiCategoricalDist
from reinforce.envs.vector import env_actions
from reinforce.policies import (
    BernoulliPolicy,
    CategoricalPolicy,
    DiagonalGaussianPolicy,
    MultiCategoricalPolicy,
    make_policy,
)
from reinforce.spaces import action_spec

toy_spaces.register()

OBS = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)


def flat_grad(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in module.parameters()])


# --- distributions against torch's ---------------------------------------------------------------------

@pytest.mark.parametrize("nvec", [(3, 3), (2, 3, 5), (1, 4), (2, 2), (1, 2)])
def test_multi_categorical_matches_torch_per_sub_action(nvec):
    logits = 2 * torch.randn(7, sum(nvec), dtype=torch.float64)
    dist = MultiCategoricalDist(logits, nvec)
    parts = [Categorical(logits=chunk) for chunk in logits.split(nvec, dim=-1)]
    actions = torch.stack([p.sample((4,)) for p in parts], -1)  # (4, 7, K)
    expected_logp = sum(p.log_prob(actions[..., k]) for k, p in enumerate(parts))
    torch.testing.assert_close(dist.log_prob(actions), expected_logp, atol=1e-5, rtol=0)
    torch.testing.assert_close(dist.entropy(), sum(p.entropy() for p in parts), atol=1e-5, rtol=0)
    assert torch.equal(dist.mode, torch.stack([p.logits.argmax(-1) for p in parts], -1))
    assert dist.batch_shape == (7,) and dist.event_shape == (len(nvec),)
    if len(set(nvec)) == 1:  # equal counts: exactly torch's Independent(Categorical)
        ind = Independent(Categorical(logits=logits.reshape(7, len(nvec), nvec[0])), 1)
        torch.testing.assert_close(dist.log_prob(actions), ind.log_prob(actions), atol=1e-5, rtol=0)
        torch.testing.assert_close(dist.entropy(), ind.entropy(), atol=1e-5, rtol=0)


def test_multi_categorical_samples_follow_each_sub_action_and_stay_in_range():
    nvec = (2, 3, 5)
    logits = torch.randn(sum(nvec))
    samples = MultiCategoricalDist(logits.expand(40_000, -1), nvec).sample()  # (N, K)
    assert samples.dtype == torch.long and samples.shape == (40_000, 3)
    for k, chunk in enumerate(logits.split(nvec)):
        counts = torch.bincount(samples[:, k], minlength=nvec[k]).double()
        assert counts.numel() == nvec[k]  # never a padded choice
        p = torch.softmax(chunk.double(), -1)
        se = (p * (1 - p) / 40_000).sqrt()
        assert ((counts / 40_000 - p).abs() < 4 * se + 1e-12).all()


def test_multi_categorical_gradient_is_finite_with_padding():
    logits = torch.randn(5, 1 + 4, requires_grad=True)
    dist = MultiCategoricalDist(logits, (1, 4))
    (dist.log_prob(dist.sample()).sum() + dist.entropy().sum()).backward()
    assert torch.isfinite(logits.grad).all()


def test_bernoulli_matches_torch_independent_bernoulli():
    logits = 3 * torch.randn(6, 5, dtype=torch.float64)
    dist, ref = BernoulliDist(logits), Independent(Bernoulli(logits=logits), 1)
    actions = ref.sample((4,))
    torch.testing.assert_close(dist.log_prob(actions), ref.log_prob(actions), atol=1e-5, rtol=0)
    torch.testing.assert_close(dist.entropy(), ref.entropy(), atol=1e-5, rtol=0)
    assert torch.equal(dist.mode, (logits > 0).double())
    samples = BernoulliDist(logits[0].float().expand(40_000, -1)).sample()
    assert samples.dtype == torch.float32 and set(samples.unique().tolist()) <= {0.0, 1.0}
    p = torch.sigmoid(logits[0])
    assert ((samples.double().mean(0) - p).abs() < 4 * (p * (1 - p) / 40_000).sqrt() + 1e-12).all()


# --- exact gradients ------------------------------------------------------------------------------------

def joint_probs(policy, env_cls) -> torch.Tensor:
    """π(j|s) (2, len(JOINT)) from the policy's network through torch's own distributions, differentiable."""
    out = policy.logits(torch.eye(2))
    joint = torch.tensor(env_cls.JOINT)
    if isinstance(policy, MultiCategoricalPolicy):
        parts = [Categorical(logits=c) for c in out.split(policy.nvec, -1)]
        logp = sum(p.log_prob(joint[:, k, None]).T for k, p in enumerate(parts))  # (2, J)
    else:
        logp = Independent(Bernoulli(logits=out[:, None, :]), 1).log_prob(joint.float())  # (2, J)
    return logp.exp()


@pytest.mark.parametrize("env_id, env_cls", [
    ("tests/MultiDiscreteMDP-v0", toy_spaces.MultiDiscreteMDP),
    ("tests/MultiBinaryMDP-v0", toy_spaces.MultiBinaryMDP),
])
def test_loss_gradient_is_unbiased_on_enumerable_mdp(env_id, env_cls):
    """E[∇ loss] = -∇J(θ)/H with one H-step episode per env per rollout (γ = 1); 4 standard errors."""
    torch.manual_seed(0)
    env = reinforce.make_vec_env(env_id, num_envs=64, seed=0, backend="sync")
    policy = make_policy(env.single_observation_space, env.single_action_space)
    assert type(policy) in (MultiCategoricalPolicy, BernoulliPolicy)
    agent = reinforce.Reinforce(env, policy, lr=1e-3, gamma=1.0, steps_per_rollout=env_cls.H)

    objective = env_cls.exact_objective(joint_probs(policy, env_cls))
    exact = torch.autograd.grad(objective, list(policy.parameters()))
    exact = -torch.cat([g.reshape(-1) for g in exact]) / env_cls.H

    samples = []
    for _ in range(300):
        batch = agent.collect()
        assert batch.terminated[-1].all() and batch.episode_returns.numel() == 64
        policy.zero_grad()
        agent.loss(batch).backward()
        samples.append(flat_grad(policy).clone())
    samples = torch.stack(samples).double()
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(len(samples))
    assert (exact.abs() > 4 * se).sum() >= 3, "test has no power: exact gradient indistinguishable from 0"
    z = (mean - exact.double()).abs() / se
    assert (z < 4).all(), f"z-scores {z.tolist()}"
    env.close()


# --- learning -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("env_id, optimum", [("tests/MultiDiscreteBandit-v0", 2.0), ("tests/MultiBinaryBandit-v0", 5.0)])
def test_reaches_the_optimum_of_a_target_bandit(env_id, optimum):
    env = reinforce.make_vec_env(env_id, num_envs=16, seed=0, backend="sync")
    policy = make_policy(env.single_observation_space, env.single_action_space)
    agent = reinforce.Reinforce(env, policy, lr=0.1, steps_per_rollout=8, baseline="mean")
    history = agent.learn(epochs=60)
    assert np.mean([m["rollout/ep_return_mean"] for m in history[-5:]]) >= 0.9 * optimum
    target = env.env.envs[0].unwrapped.TARGET
    assert np.array_equal(agent.predict(np.ones(1, np.float32), deterministic=True), target)
    env.close()


def test_box_2x2_trains_an_epoch_and_the_env_gets_clipped_2x2_actions():
    env = reinforce.make_vec_env("tests/BoxEcho-v0", num_envs=4, seed=0, backend="sync")
    policy = make_policy(env.single_observation_space, env.single_action_space)
    assert isinstance(policy, DiagonalGaussianPolicy) and policy.act_dim == 4
    with torch.no_grad():
        policy.log_std.fill_(1.0)  # σ = e: most samples leave [-1, 1]
    agent = reinforce.Reinforce(env, policy, gamma=0.9, steps_per_rollout=16)
    batch = agent.collect()
    assert batch.actions.shape == (16, 4, 4) and batch.actions.dtype == torch.float32  # flat, as sampled
    assert (batch.actions.abs() > 1).float().mean() > 0.3  # stored unclipped
    torch.testing.assert_close(batch.obs[1:], batch.actions[:-1].clamp(-1, 1))  # the env echoes the clipped copy
    before = [p.detach().clone() for p in policy.parameters()]
    stats = agent.update(batch)
    assert math.isfinite(float(stats["train/loss"]))
    assert any(not torch.equal(b, p) for b, p in zip(before, policy.parameters()))
    sent = env_actions(batch.actions[0], env.single_action_space)
    assert sent.shape == (4, 2, 2) and sent.dtype == np.float32 and np.abs(sent).max() <= 1.0
    np.testing.assert_array_equal(sent.reshape(4, 4), batch.actions[0].clamp(-1, 1).numpy())
    env.close()


def test_squashed_box_2x2_flattens_bounds_in_the_actions_order():
    space = gym.spaces.Box(np.array([[-1, -2], [0, -4]], np.float32), np.array([[1, 2], [3, 4]], np.float32))
    policy = make_policy(OBS, space, squash=True)
    actions = policy.act(torch.randn(1000, 3)).reshape(1000, 2, 2).numpy()
    assert (actions > space.low).all() and (actions < space.high).all()


# --- wiring: make_policy, env_actions, predict, save and load -------------------------------------------

@pytest.mark.parametrize("space, cls", [
    (gym.spaces.Discrete(3), CategoricalPolicy),
    (gym.spaces.MultiDiscrete([3, 4]), MultiCategoricalPolicy),
    (gym.spaces.MultiDiscrete([[2, 3], [4, 5]]), MultiCategoricalPolicy),
    (gym.spaces.MultiBinary(5), BernoulliPolicy),
    (gym.spaces.MultiBinary([2, 3]), BernoulliPolicy),
    (gym.spaces.Box(-1, 1, (2,)), DiagonalGaussianPolicy),
    (gym.spaces.Box(-1, 1, (2, 3)), DiagonalGaussianPolicy),
])
def test_make_policy_picks_the_head_and_env_actions_give_the_space_shape(space, cls):
    policy = make_policy(OBS, space)
    assert type(policy) is cls and policy.fits(action_spec(space))
    actions = policy.act(torch.randn(6, 3))
    assert actions.shape == (6, *action_spec(space).sample_shape)
    sent = env_actions(actions, space)
    assert sent.shape == (6, *space.shape)
    if not isinstance(space, gym.spaces.Box):
        assert all(space.contains(row.astype(space.dtype)) for row in sent)


@pytest.mark.parametrize("space", [
    gym.spaces.MultiDiscrete([3, 4], start=[1, 0]),
    gym.spaces.Discrete(3, start=1),
    gym.spaces.Tuple([gym.spaces.Discrete(2)]),
])
def test_unsupported_action_spaces_list_what_is_supported(space):
    with pytest.raises(TypeError, match="unsupported action space.*MultiDiscrete.*MultiBinary.*floating-point Box of any shape"):
        make_policy(OBS, space)


def test_an_integer_box_of_actions_is_refused_with_what_to_use_instead():
    """A Gaussian's actions are reals; an int64 Box would take them and fail at the env's first step."""
    with pytest.raises(TypeError, match="Box of int64 holds integers.*MultiDiscrete"):
        make_policy(OBS, gym.spaces.Box(0, 5, (2,), np.int64))


@pytest.mark.parametrize("make, message", [
    (lambda: CategoricalPolicy(4, 0), r"n_actions must be >= 1 \(an integer\), got 0"),
    (lambda: CategoricalPolicy(-1, 2), r"obs_dim must be >= 1 \(an integer\), got -1"),
    (lambda: BernoulliPolicy(3, 2.5), r"n must be >= 1 \(an integer\), got 2.5"),
    (lambda: DiagonalGaussianPolicy(3, 0), r"act_dim must be >= 1 \(an integer\)"),
    (lambda: CategoricalPolicy(4, 2, hidden_sizes=(64, 0)), r"hidden_sizes\[1\] must be >= 1 \(an integer\)"),
])
def test_policy_sizes_must_be_positive_integers(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_numpy_counts_make_a_policy():  # gymnasium's Discrete.n is a numpy integer
    assert CategoricalPolicy(np.int64(4), gym.spaces.Discrete(3).n).n_actions == 3


def test_a_head_of_the_wrong_kind_or_size_is_refused():
    env = reinforce.make_vec_env("tests/MultiDiscreteBandit-v0", num_envs=2, seed=0, backend="sync")
    with pytest.raises(ValueError, match="multi_discrete.*policy's are multi_binary"):
        reinforce.Reinforce(env, BernoulliPolicy(1, 2))
    with pytest.raises(ValueError, match=r"gives \(3, 3\) choices per sub-action, but the env has 1 and \[3, 4\]"):
        reinforce.Reinforce(env, MultiCategoricalPolicy(1, (3, 3)))
    env.close()


@pytest.mark.parametrize("env_id, shape, dtype", [
    ("tests/MultiDiscreteBandit-v0", (2,), np.int64),
    ("tests/MultiBinaryBandit-v0", (5,), np.float32),
    ("tests/BoxEcho-v0", (2, 2), np.float32),
])
def test_predict_returns_the_env_action_shape_and_survives_save_and_load(env_id, shape, dtype, tmp_path):
    env = reinforce.make_vec_env(env_id, num_envs=2, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, make_policy(env.single_observation_space, env.single_action_space, hidden_sizes=(8,)))
    obs_dim = env.single_observation_space.shape[0]
    one, batch = np.zeros(obs_dim, np.float32), np.zeros((3, obs_dim), np.float32)
    assert agent.predict(one).shape == shape and agent.predict(one).dtype == dtype
    assert agent.predict(batch, deterministic=True).shape == (3, *shape)
    assert agent.predict(torch.as_tensor(batch)).shape == (3, *shape)
    loaded = reinforce.load(agent.save(tmp_path / "agent.pt"))
    assert type(loaded.policy) is type(agent.policy)
    np.testing.assert_array_equal(loaded.predict(batch, deterministic=True), agent.predict(batch, deterministic=True))
    env.close()
    loaded.env.close()
