"""Action masks (info["action_mask"]) for Discrete and MultiDiscrete actions: never sampled, no gradient,
torch's values on the allowed set, an unbiased loss gradient, learning, predict, evaluation, resume.

The envs here raise on a forbidden action, so any path that loses the mask (the adapter at an autoreset,
the collector, evaluation) fails loudly.
"""
from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch.distributions import Categorical

import reinforce
from reinforce.distributions import CategoricalDist, MultiCategoricalDist
from reinforce.policies import CategoricalPolicy, DiagonalGaussianPolicy, make_policy
from reinforce.rollout import RolloutCollector
from reinforce.tools.episodes import run_episodes


class MaskedMDP(gym.Env):
    """Two states (one-hot obs), Discrete(3) actions, horizon H; state 0 forbids action 2, state 1 action 0.

    P(s'=1 | s, a) = P1[s, a], reward R[s, a]. The mask of the state returned is in every info; at the end
    of an episode the step's info holds a deliberately wrong mask (the terminal state has none to give),
    so only the reset's mask, which Gymnasium merges at a SAME_STEP autoreset, keeps the env from raising.
    """

    H = 3
    P0 = np.array([0.6, 0.4])
    MASK = np.array([[1, 1, 0], [0, 1, 1]], dtype=np.int8)
    P1 = np.array([[0.2, 0.7, 0.5], [0.5, 0.9, 0.3]])
    R = np.array([[1.0, -0.5, 0.0], [0.0, 2.0, -1.0]])
    observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.s = int(self.np_random.random() < self.P0[1])
        return np.eye(2, dtype=np.float32)[self.s], {"action_mask": self.MASK[self.s].copy()}

    def step(self, action):
        a = int(action)
        if not self.MASK[self.s, a]:
            raise RuntimeError(f"forbidden action {a} in state {self.s}")
        reward = float(self.R[self.s, a])
        self.s = int(self.np_random.random() < self.P1[self.s, a])
        self.t += 1
        done = self.t >= self.H
        mask = 1 - self.MASK[self.s] if done else self.MASK[self.s].copy()  # the wrong one at the end
        return np.eye(2, dtype=np.float32)[self.s], reward, done, False, {"action_mask": mask}

    @classmethod
    def exact_objective(cls, probs: torch.Tensor) -> torch.Tensor:
        """J = E[Σ_t r_t] (γ = 1) from π(a|s) (2, 3), differentiable in it."""
        R, P1 = torch.tensor(cls.R, dtype=probs.dtype), torch.tensor(cls.P1, dtype=probs.dtype)
        V = torch.zeros(2, dtype=probs.dtype)
        for _ in range(cls.H):
            V = (probs * (R + (1 - P1) * V[0] + P1 * V[1])).sum(-1)
        return (torch.tensor(cls.P0, dtype=probs.dtype) * V).sum()


class MaskedBandit(gym.Env):
    """Discrete(3), rewards (1, 0.5, 0): action 0 is best but forbidden when the obs flag is 1 (half the
    time); then action 1 is the best allowed. Two steps per episode; raises on a forbidden action."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(3)

    def _draw(self):
        self.flag = int(self.np_random.random() < 0.5)
        return np.array([self.flag], np.float32), {"action_mask": np.array([1 - self.flag, 1, 1], np.int8)}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._draw()

    def step(self, action):
        a = int(action)
        if self.flag and a == 0:
            raise RuntimeError("forbidden action 0")
        self.t += 1
        obs, info = self._draw()
        if self.t >= 2:
            info = {"action_mask": np.array([1, 0, 0], np.int8)}  # wrong on purpose: the reset's must win
        return obs, (1.0, 0.5, 0.0)[a], self.t >= 2, False, info


class MaskedMultiDiscrete(gym.Env):
    """MultiDiscrete([2, 3]); the mask (length 5) forbids sub-action 0's choice 1 and sub-action 1's choice 0."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.MultiDiscrete([2, 3])
    MASK = np.array([1, 0, 0, 1, 1], np.int8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(1, np.float32), {"action_mask": self.MASK.copy()}

    def step(self, action):
        if action[0] == 1 or action[1] == 0:
            raise RuntimeError(f"forbidden action {action}")
        return np.ones(1, np.float32), float(action[1] == 2), True, False, {"action_mask": self.MASK.copy()}


for _id, _cls in [("tests/MaskedMDP-v0", MaskedMDP), ("tests/MaskedBandit-v0", MaskedBandit),
                  ("tests/MaskedMultiDiscrete-v0", MaskedMultiDiscrete)]:
    if _id not in gym.registry:
        gym.register(_id, entry_point=_cls)


# --- the distributions ------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 3, 5])
def test_masked_action_is_never_sampled_and_gets_no_gradient(n):
    torch.manual_seed(0)
    logits = torch.randn(n, requires_grad=True)
    mask = torch.ones(n, dtype=torch.bool)
    mask[0] = False  # the first (and, with n > 2, the last) masked: the edges of the cdf
    if n > 2:
        mask[-1] = False
    with torch.no_grad():
        logits[0] += 20.0  # the masked action would otherwise take nearly all the mass
    dist = CategoricalDist(logits.expand(200_000, n), mask)
    samples = dist.sample()
    assert not (~mask)[samples].any()
    assert set(samples.unique().tolist()) == set(mask.nonzero().flatten().tolist())
    assert mask[dist.mode].all()
    (dist.log_prob(samples).sum() + dist.entropy().sum()).backward()
    assert torch.isfinite(logits.grad).all()
    assert (logits.grad[~mask] == 0).all()
    assert (logits.grad[mask] != 0).any() or mask.sum() == 1  # one allowed action: probability 1, no gradient


@pytest.mark.parametrize("n, allowed", [(2, [1]), (3, [0, 2]), (5, [1, 2, 4]), (4, [0, 1, 2, 3])])
def test_masked_categorical_matches_torch_on_the_allowed_set(n, allowed):
    logits = 2 * torch.randn(6, n, dtype=torch.float64)
    mask = torch.zeros(n, dtype=torch.bool)
    mask[allowed] = True
    dist = CategoricalDist(logits, mask.expand(6, n))
    ref = Categorical(logits=logits[:, allowed])  # renormalised over the allowed set
    index = ref.sample((4,))
    actions = torch.tensor(allowed)[index]
    torch.testing.assert_close(dist.log_prob(actions), ref.log_prob(index), atol=1e-9, rtol=0)
    torch.testing.assert_close(dist.entropy(), ref.entropy(), atol=1e-9, rtol=0)
    torch.testing.assert_close(dist.probs[:, allowed], ref.probs, atol=1e-12, rtol=0)
    assert (dist.probs[:, ~mask] == 0).all()
    assert torch.equal(dist.mode, torch.tensor(allowed)[ref.logits.argmax(-1)])


def test_unmasked_two_actions_keep_the_closed_form_and_a_full_mask_changes_nothing():
    logits = torch.randn(7, 2, dtype=torch.float64)
    a = torch.randint(0, 2, (7,))
    plain, full = CategoricalDist(logits), CategoricalDist(logits, torch.ones(7, 2, dtype=torch.bool))
    assert plain._z() is not None and full._z() is None
    torch.testing.assert_close(plain.log_prob(a), full.log_prob(a))
    torch.testing.assert_close(plain.entropy(), full.entropy())


@pytest.mark.parametrize("nvec", [(2, 3), (3, 3)])
def test_masked_multi_categorical_per_sub_action(nvec):
    torch.manual_seed(1)
    logits = torch.randn(sum(nvec), requires_grad=True)
    mask = torch.ones(sum(nvec), dtype=torch.bool)
    mask[1] = mask[nvec[0]] = False  # sub-action 0's choice 1, sub-action 1's choice 0
    dist = MultiCategoricalDist(logits.expand(100_000, -1), nvec, mask)
    samples = dist.sample()
    assert (samples[:, 0] != 1).all() and (samples[:, 1] != 0).all()
    assert (dist.mode[0] != torch.tensor([1, 0])).all()
    (dist.log_prob(samples).sum() + dist.entropy().sum()).backward()
    assert (logits.grad[~mask] == 0).all() and torch.isfinite(logits.grad).all()
    parts = [Categorical(logits=c[m]) for c, m in zip(logits.detach().split(nvec), mask.split(nvec))]
    allowed = [m.nonzero().flatten() for m in mask.split(nvec)]
    index = torch.stack([p.sample((5,)) for p in parts], -1)
    actions = torch.stack([allowed[k][index[:, k]] for k in range(2)], -1)
    expected = sum(p.log_prob(index[:, k]) for k, p in enumerate(parts))
    torch.testing.assert_close(MultiCategoricalDist(logits.detach(), nvec, mask).log_prob(actions), expected)
    torch.testing.assert_close(MultiCategoricalDist(logits.detach(), nvec, mask).entropy(),
                               sum(p.entropy() for p in parts))


def test_policies_take_a_mask_only_for_categorical_actions():
    obs = torch.zeros(4, 2)
    policy = CategoricalPolicy(2, 3)
    mask = torch.tensor([False, True, False]).expand(4, 3)
    assert (policy.act(obs, mask=mask) == 1).all() and (policy.act(obs, True, mask) == 1).all()
    assert (policy.sample(obs, mask) == 1).all()
    with pytest.raises(ValueError, match="action masks"):
        DiagonalGaussianPolicy(2, 1).pi(obs, torch.ones(4, 1, dtype=torch.bool))


# --- the adapter and the collector ------------------------------------------------------------------------

def test_adapter_gives_the_mask_of_the_returned_obs_even_at_an_autoreset():
    env = reinforce.make_vec_env("tests/MaskedMDP-v0", num_envs=4, seed=0, backend="sync")
    obs, info = env.reset(seed=0)
    for _ in range(3 * MaskedMDP.H):
        mask = info["action_mask"]
        assert mask.dtype == torch.bool and mask.shape == (4, 3)
        assert torch.equal(mask, torch.as_tensor(MaskedMDP.MASK, dtype=torch.bool)[obs.argmax(-1)])
        obs, _, _, _, info = env.step(CategoricalPolicy(2, 3).act(obs, mask=mask))
    env.close()


def test_collector_stores_masks_and_resumes_with_them():
    env = reinforce.make_vec_env("tests/MaskedBandit-v0", num_envs=3, seed=0, backend="sync")
    policy = make_policy(env.single_observation_space, env.single_action_space)
    collector = RolloutCollector(env, policy, steps=5, seed=0, reset_each_epoch=False)
    batch = collector.collect()
    assert batch.action_mask.shape == (5, 3, 3) and batch.action_mask.dtype == torch.bool
    assert torch.equal(batch.action_mask[..., 0], batch.obs[..., 0] == 0)  # the flag forbids action 0
    state = collector.state_dict()
    assert torch.equal(state["action_mask"][:, 0], collector.obs_E[:, 0] == 0)
    other = RolloutCollector(env, policy, steps=5, reset_each_epoch=False)
    other.load_state_dict(state)
    assert torch.equal(other.mask_E, collector.mask_E) and torch.equal(other.obs_E, collector.obs_E)
    assert other.collect().action_mask.shape == (5, 3, 3)  # continued from the saved obs and mask: no raise
    env.close()


def test_checkpoint_round_trip_keeps_the_mask(tmp_path):
    env = reinforce.make_vec_env("tests/MaskedBandit-v0", num_envs=3, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, make_policy(env.single_observation_space, env.single_action_space),
                                steps_per_rollout=3)
    agent.learn(epochs=1)
    path = agent.save(tmp_path / "agent.pt")
    loaded = reinforce.load(path)
    assert loaded.collector.mask_E is not None
    assert torch.equal(loaded.collector.mask_E.cpu(), agent.collector.mask_E.cpu())
    loaded.learn(epochs=1)
    env.close()


# --- the estimator, learning, predict, evaluation ---------------------------------------------------------

def test_masked_loss_gradient_is_unbiased_on_enumerable_mdp():
    """E[∇ loss] = -∇J(θ)/H with π renormalised over the allowed actions; 4 standard errors."""
    torch.manual_seed(0)
    env = reinforce.make_vec_env("tests/MaskedMDP-v0", num_envs=64, seed=0, backend="sync")
    policy = make_policy(env.single_observation_space, env.single_action_space)
    agent = reinforce.Reinforce(env, policy, lr=1e-3, gamma=1.0, steps_per_rollout=MaskedMDP.H)
    logits = policy.logits(torch.eye(2)).masked_fill(~torch.as_tensor(MaskedMDP.MASK, dtype=torch.bool), -math.inf)
    exact = torch.autograd.grad(MaskedMDP.exact_objective(torch.softmax(logits, -1)), list(policy.parameters()))
    exact = -torch.cat([g.reshape(-1) for g in exact]) / MaskedMDP.H
    samples = []
    for _ in range(300):
        batch = agent.collect()
        assert batch.terminated[-1].all() and batch.action_mask is not None
        policy.zero_grad()
        agent.loss(batch).backward()
        samples.append(torch.cat([p.grad.reshape(-1) for p in policy.parameters()]).clone())
    samples = torch.stack(samples).double()
    mean, se = samples.mean(0), samples.std(0) / math.sqrt(len(samples))
    assert (exact.abs() > 4 * se).sum() >= 3, "test has no power: exact gradient indistinguishable from 0"
    # weights that only reach masked logits (action 0's from state 1, action 2's from state 0) get exactly
    # no gradient, in every sample and in the exact one
    zero = se == 0
    assert zero.sum() == 2 and (mean[zero] == 0).all() and (exact[zero] == 0).all()
    z = (mean - exact.double()).abs()[~zero] / se[~zero]
    assert (z < 4).all(), f"z-scores {z.tolist()}"
    env.close()


def test_learns_the_best_allowed_action_and_predict_respects_the_mask():
    env = reinforce.make_vec_env("tests/MaskedBandit-v0", num_envs=16, seed=0, backend="sync")
    policy = make_policy(env.single_observation_space, env.single_action_space)
    agent = reinforce.Reinforce(env, policy, lr=0.1, steps_per_rollout=8, baseline="mean")
    history = agent.learn(epochs=60)  # the env raises on a forbidden action: training never takes one
    assert np.mean([m["rollout/ep_return_mean"] for m in history[-5:]]) >= 0.9 * 1.5  # optimum 2 × 0.75
    assert agent.predict(np.zeros(1, np.float32), deterministic=True, action_mask=np.array([1, 1, 1])) == 0
    assert agent.predict(np.ones(1, np.float32), deterministic=True, action_mask=np.array([0, 1, 1])) == 1
    for _ in range(50):  # sampled, a batch of masks: only allowed actions
        out = agent.predict(np.ones((4, 1), np.float32), action_mask=np.array([[0, 0, 1]] * 2 + [[0, 1, 0]] * 2))
        assert out.tolist() == [2, 2, 1, 1]
    returns, _ = run_episodes(policy, env, episodes=20, deterministic=True, seed=1)  # raises if a mask is lost
    assert returns.mean() >= 0.9 * 1.5
    env.close()


def test_multi_discrete_masks_through_training_and_predict():
    env = reinforce.make_vec_env("tests/MaskedMultiDiscrete-v0", num_envs=8, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, make_policy(env.single_observation_space, env.single_action_space),
                                lr=0.1, steps_per_rollout=4, baseline="mean")
    agent.learn(epochs=30)  # raises on a forbidden sub-action
    action = agent.predict(np.ones(1, np.float32), deterministic=True, action_mask=MaskedMultiDiscrete.MASK)
    assert action.tolist() == [0, 2]
    with pytest.raises(ValueError, match="allows no action for observation 0, sub-action 1"):
        agent.predict(np.ones(1, np.float32), action_mask=np.array([1, 0, 0, 0, 0]))
    env.close()


@pytest.mark.parametrize("mask, message", [
    ([False, False, False], "allows no action for observation 0: at least one must be True"),
    ([[True, True, True], [False, False, False]], "allows no action for observation 1"),
    ([True, False], "holds 2 values for 1 observation.*needs 3 per observation"),
])
def test_predict_refuses_a_mask_that_allows_nothing_or_has_another_size(mask, message):
    """An all-False row would still yield an action, a masked one; a mask of another length a shape error."""
    env = reinforce.make_vec_env("tests/MaskedBandit-v0", num_envs=2, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, make_policy(env.single_observation_space, env.single_action_space))
    obs = np.ones((len(mask), 1) if isinstance(mask[0], list) else 1, np.float32)
    with pytest.raises(ValueError, match=message):
        agent.predict(obs, action_mask=np.array(mask))
    env.close()


def test_update_in_row_slices_keeps_each_rows_mask(sliced_vs_whole):
    """The CPU update's slices of rows carry their own rows' masks: the same loss and gradient as the whole batch."""
    env = reinforce.make_vec_env("tests/MaskedBandit-v0", num_envs=64, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, make_policy(env.single_observation_space, env.single_action_space),
                                steps_per_rollout=64, entropy_coef=0.01)
    (loss, entropy, grad), (whole_loss, whole_entropy, whole_grad), slices = sliced_vs_whole(agent, rows=1024)
    assert slices == 4
    torch.testing.assert_close(loss, whole_loss, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(entropy, whole_entropy, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(grad, whole_grad, rtol=1e-4, atol=1e-6)
    env.close()
