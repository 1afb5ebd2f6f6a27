"""Small envs with known answers, for tests. Registered under the `tests/` namespace."""
from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import torch


class CountdownEnv(gym.Env):
    """Episode k of this env lasts `lengths[k % len(lengths)]` steps, then terminates.

    Observation: [step index within the episode, episode index]; reward at step i (1-based) is i,
    so an episode of length L returns L(L+1)/2. With `truncate_at`, a TimeLimit-like cut is
    reported as truncation instead when the step index reaches it first.
    """

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, lengths=(3, 5), truncate_at: int | None = None):
        self.lengths, self.truncate_at = tuple(lengths), truncate_at
        self.episode, self.step_index = -1, 0

    def _obs(self):
        return np.array([self.step_index, self.episode], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode += 1
        self.step_index = 0
        return self._obs(), {}

    def step(self, action):
        self.step_index += 1
        length = self.lengths[self.episode % len(self.lengths)]
        terminated = self.step_index >= length
        truncated = not terminated and self.truncate_at is not None and self.step_index >= self.truncate_at
        return self._obs(), float(self.step_index), terminated, truncated, {}


class TinyMDP(gym.Env):
    """Two states, two actions, fixed horizon H: small enough to enumerate every trajectory.

    Observation: one-hot state. P(s'=1 | s, a) = P1[s, a]; reward R[s, a]; terminates after H steps.
    """

    H = 3
    P0 = np.array([0.6, 0.4])
    P1 = np.array([[0.2, 0.7], [0.5, 0.9]])
    R = np.array([[1.0, 0.0], [-0.5, 2.0]])
    observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.s = int(self.np_random.random() < self.P0[1])
        return np.eye(2, dtype=np.float32)[self.s], {}

    def step(self, action):
        a = int(action)
        reward = float(self.R[self.s, a])
        self.s = int(self.np_random.random() < self.P1[self.s, a])
        self.t += 1
        return np.eye(2, dtype=np.float32)[self.s], reward, self.t >= self.H, False, {}

    @classmethod
    def exact_objective(cls, policy) -> torch.Tensor:
        """J(θ) = E[Σ_t r_t] (γ = 1) by enumerating all trajectories; differentiable in θ."""
        probs = policy.pi(torch.eye(2)).probs  # (state, action)
        total = torch.zeros(())
        for s0 in (0, 1):
            for steps in itertools.product((0, 1), repeat=2 * cls.H):  # (a_t, s_{t+1}) pairs
                p, ret, s = torch.tensor(cls.P0[s0]), 0.0, s0
                for t in range(cls.H):
                    a, s_next = steps[2 * t], steps[2 * t + 1]
                    p_next = cls.P1[s, a] if s_next == 1 else 1 - cls.P1[s, a]
                    p = p * probs[s, a] * p_next
                    ret += cls.R[s, a]
                    s = s_next
                total = total + p * ret
        return total


class ActionEchoEnv(gym.Env):
    """2-D Box actions in [-1, 1]; the next observation is the action the env received, reward its first
    component. Never ends. Shows what reached the env (clipped) beside what the rollout stored."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        received = np.asarray(action, dtype=np.float32).reshape(2)
        return received.copy(), float(received[0]), False, False, {}


class SumTargetEnv(gym.Env):
    """Two steps with a 1-D Box action; the reward, at the end, is -(a_0 + a_1 - TARGET)², so it depends on
    how the two actions covary: the case where correlated exploration noise changes the gradient.
    Observation: the one-hot step index. Bounds wide enough that no action is clipped in practice."""

    H, TARGET = 2, 1.5
    observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1e3, 1e3, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.total = 0, 0.0
        return np.eye(2, dtype=np.float32)[0], {}

    def step(self, action):
        self.total += float(np.asarray(action).reshape(()))
        self.t += 1
        done = self.t >= self.H
        reward = -((self.total - self.TARGET) ** 2) if done else 0.0
        return np.eye(2, dtype=np.float32)[min(self.t, 1)], reward, done, False, {}

    @classmethod
    def exact_objective(cls, policy) -> torch.Tensor:
        """J = E[r] = -((μ_0 + μ_1 - TARGET)² + Var(a_0 + a_1)) for a linear Gaussian policy (no squash) with
        correlated noise: a_t = μ_t + c·ξ_t + σ·ε_t, Corr(ξ_0, ξ_1) = ρ, so Var = 2c²(1 + ρ) + 2σ²."""
        mu = policy.mu(torch.eye(2)).reshape(2)
        c2, s2 = (2 * policy.noise_log_scale).exp().sum(), (2 * policy.log_std).exp().sum()
        return -((mu.sum() - cls.TARGET) ** 2 + 2 * c2 * (1 + policy.noise_rho) + 2 * s2)


def assert_sum_target_gradient_is_unbiased(policy, objective: torch.Tensor, check_batch=lambda batch: None,
                                            rollouts: int = 400) -> None:
    """For a linear Gaussian `policy` (weights set by the caller) on SumTarget: the mean over `rollouts`
    independent rollouts (64 envs, reset every epoch) of ∇ loss equals -∇J/H, J = `objective` (a function of
    the policy's parameters, in closed form), within 4 standard errors for every parameter; and the test has
    power (|exact| > 4 se). `check_batch` asserts what each batch must hold."""
    import reinforce  # the envs here import nothing of the library; only this check needs it

    env = reinforce.make_vec_env("tests/SumTarget-v0", num_envs=64, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, policy, lr=1e-3, gamma=1.0, steps_per_rollout=SumTargetEnv.H)
    exact = torch.autograd.grad(objective, list(policy.parameters()))
    exact = -torch.cat([g.reshape(-1) for g in exact]).double() / SumTargetEnv.H
    samples = []
    for _ in range(rollouts):
        batch = agent.collect()
        assert batch.terminated[-1].all()
        assert check_batch(batch) is not False
        policy.zero_grad()
        agent.loss(batch).backward()
        samples.append(torch.cat([p.grad.reshape(-1) for p in policy.parameters()]).clone())
    samples = torch.stack(samples).double()
    mean, se = samples.mean(0), samples.std(0) / len(samples) ** 0.5
    assert (exact.abs() > 4 * se).all(), f"test has no power: {exact.tolist()} against se {se.tolist()}"
    z = (mean - exact).abs() / se
    assert (z < 4).all(), f"z-scores {z.tolist()}"


def readings_while_fading(policy, read, epochs: int = 6) -> list:
    """`read(agent, batch)` after each of `epochs` collects on SumTarget (8 envs × 2 steps, episodes carried
    over) with correlated_noise_decay_steps = 64: the fade goes 1, 0.75, 0.5, 0.25, 0, 0 over the epochs."""
    import reinforce

    env = reinforce.make_vec_env("tests/SumTarget-v0", num_envs=8, seed=0, backend="sync")
    agent = reinforce.Reinforce(env, policy, gamma=1.0, steps_per_rollout=2, reset_each_epoch=False,
                                correlated_noise_decay_steps=64)  # 16 steps an epoch: 4 epochs to fade
    readings = []
    for _ in range(epochs):
        batch = agent.collect()
        readings.append(read(agent, batch))
        agent.update(batch)
    return readings


def register() -> None:
    envs = (("tests/Countdown-v0", CountdownEnv), ("tests/TinyMDP-v0", TinyMDP), ("tests/ActionEcho-v0", ActionEchoEnv),
            ("tests/SumTarget-v0", SumTargetEnv))
    for env_id, entry in envs:
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry)
