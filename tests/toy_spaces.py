"""Small envs with MultiDiscrete, MultiBinary and shaped Box actions and known answers, for tests of the
action heads. Registered under the `tests/` namespace by `register()`."""
from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import torch


class _EnumerableMDP(gym.Env):
    """Two states, the joint actions of a factored action space, fixed horizon H: J(θ) by dynamic programming.

    Observation: one-hot state. Joint action j = index of the action in `JOINT` (itertools.product
    order). P(s'=1 | s, j) = P1[s, j]; reward R[s, j]; terminates after H steps. Every action the env
    receives is checked against the space's shape and dtype, so a wrong conversion fails the step.
    """

    H = 3
    P0 = np.array([0.6, 0.4])
    observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
    JOINT: list[tuple[int, ...]] = []
    P1: np.ndarray
    R: np.ndarray

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.s = int(self.np_random.random() < self.P0[1])
        return np.eye(2, dtype=np.float32)[self.s], {}

    def step(self, action):
        assert action.shape == self.action_space.shape and action.dtype == self.action_space.dtype, action
        j = self.JOINT.index(tuple(int(a) for a in action))
        reward = float(self.R[self.s, j])
        self.s = int(self.np_random.random() < self.P1[self.s, j])
        self.t += 1
        return np.eye(2, dtype=np.float32)[self.s], reward, self.t >= self.H, False, {}

    @classmethod
    def exact_objective(cls, joint_probs: torch.Tensor) -> torch.Tensor:
        """J = E[Σ_t r_t] (γ = 1) from π(j|s), `joint_probs` (2, len(JOINT)); differentiable in it.

        Backwards over t: Q_t(s, j) = R[s, j] + Σ_s' P(s'|s, j)·V_{t+1}(s'), V_t(s) = Σ_j π(j|s)·Q_t(s, j).
        """
        R, P1 = torch.tensor(cls.R, dtype=joint_probs.dtype), torch.tensor(cls.P1, dtype=joint_probs.dtype)
        V = torch.zeros(2, dtype=joint_probs.dtype)
        for _ in range(cls.H):
            Q = R + (1 - P1) * V[0] + P1 * V[1]
            V = (joint_probs * Q).sum(-1)
        return (torch.tensor(cls.P0, dtype=joint_probs.dtype) * V).sum()


class MultiDiscreteMDP(_EnumerableMDP):
    """Actions MultiDiscrete([2, 3]): 6 joint actions."""

    action_space = gym.spaces.MultiDiscrete([2, 3])
    JOINT = list(itertools.product(range(2), range(3)))
    P1 = np.array([[0.2, 0.7, 0.5, 0.1, 0.9, 0.4], [0.5, 0.9, 0.3, 0.6, 0.2, 0.8]])
    R = np.array([[1.0, 0.0, 0.5, -1.0, 2.0, 0.3], [-0.5, 2.0, 1.0, 0.0, -1.0, 1.5]])


class MultiBinaryMDP(_EnumerableMDP):
    """Actions MultiBinary(3): 8 joint actions."""

    action_space = gym.spaces.MultiBinary(3)
    JOINT = list(itertools.product((0, 1), repeat=3))
    P1 = np.array([[0.2, 0.7, 0.5, 0.1, 0.9, 0.4, 0.6, 0.3], [0.5, 0.9, 0.3, 0.6, 0.2, 0.8, 0.1, 0.7]])
    R = np.array([[1.0, 0.0, 0.5, -1.0, 2.0, 0.3, -0.2, 1.2], [-0.5, 2.0, 1.0, 0.0, -1.0, 1.5, 0.4, -0.8]])


class _TargetBandit(gym.Env):
    """One-step episodes, constant observation [1]; reward = how many sub-actions equal TARGET (optimum len(TARGET))."""

    observation_space = gym.spaces.Box(0.0, 1.0, (1,), np.float32)
    TARGET: np.ndarray

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.ones(1, dtype=np.float32), {}

    def step(self, action):
        assert action.shape == self.action_space.shape and action.dtype == self.action_space.dtype, action
        return np.ones(1, dtype=np.float32), float((np.asarray(action) == self.TARGET).sum()), True, False, {}


class MultiDiscreteBandit(_TargetBandit):
    action_space = gym.spaces.MultiDiscrete([3, 4])
    TARGET = np.array([2, 1])


class MultiBinaryBandit(_TargetBandit):
    action_space = gym.spaces.MultiBinary(5)
    TARGET = np.array([1, 0, 1, 1, 0])


class BoxEchoEnv(gym.Env):
    """Box (2, 2) actions in [-1, 1]; the next observation is the received action flattened, reward minus its
    squared distance from 0.5. Never ends. Checks every action it receives: shape (2, 2), float32, in bounds."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (4,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2, 2), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(4, dtype=np.float32), {}

    def step(self, action):
        assert action.shape == (2, 2) and action.dtype == np.float32 and np.abs(action).max() <= 1.0, action
        return action.reshape(4).copy(), -float(((action - 0.5) ** 2).sum()), False, False, {}


ENVS = {
    "tests/MultiDiscreteMDP-v0": MultiDiscreteMDP,
    "tests/MultiBinaryMDP-v0": MultiBinaryMDP,
    "tests/MultiDiscreteBandit-v0": MultiDiscreteBandit,
    "tests/MultiBinaryBandit-v0": MultiBinaryBandit,
    "tests/BoxEcho-v0": BoxEchoEnv,
}


def register() -> None:
    for env_id, entry in ENVS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point=entry)
