"""Gymnasium's mountain cars (`gymnasium/envs/classic_control/mountain_car.py` and
`continuous_mountain_car.py`) as native batched envs.

`mountain_car_step` is the pure transition both share; `TorchMountainCarV0` (3 discrete actions, 200
step limit) and `TorchMountainCarContinuousV0` (a force in [-1, 1], 999 step limit) hold it in a
`TorchVectorEnv`. Positions are along the track's x axis (height sin(3x)·0.45 + 0.55), velocities in
track units per step.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.envs.classic_control.continuous_mountain_car import Continuous_MountainCarEnv
from gymnasium.envs.classic_control.mountain_car import MountainCarEnv

from reinforce.envs.torch_env import TorchVectorEnv

__all__ = ["mountain_car_step", "TorchMountainCarV0", "TorchMountainCarContinuousV0"]

# Gymnasium's constants (tests check they still agree).
MIN_POSITION = -1.2
MAX_POSITION = 0.6
MAX_SPEED = 0.07  # per step
GRAVITY = 0.0025  # the slope's pull: -GRAVITY·cos(3x) per step
FORCE = 0.001  # MountainCar-v0: velocity change of one push
POWER = 0.0015  # MountainCarContinuous-v0: velocity change of a full (|a| = 1) push
GOAL_POSITION = 0.5  # MountainCar-v0
GOAL_POSITION_CONTINUOUS = 0.45  # MountainCarContinuous-v0


def mountain_car_step(
    state: torch.Tensor, push: torch.Tensor, goal_position: float, goal_velocity: float = 0.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of states [x, v] (E, 2) under pushes (E,): the action's velocity change this step.

    v += push - 0.0025 cos(3x), clipped to ±0.07; x += v, clipped to [-1.2, 0.6]; a car stopped by the
    left wall loses its leftward velocity. Returns (next_state (E, 2), terminated (E,) bool: x >= goal
    and v >= goal_velocity), new tensors.
    """
    x, v = state[:, 0], state[:, 1]
    nxt = torch.empty_like(state)
    nx, nv = nxt[:, 0], nxt[:, 1]
    # gymnasium: v + ((a - 1) force + cos(3x) (-gravity)), resp. v + (force·power - 0.0025 cos(3x));
    # both are v + (push - 0.0025 cos(3x)) bit for bit (negation is exact).
    torch.add(v, torch.mul(x, 3.0).cos_().mul_(-GRAVITY).add_(push), out=nv)
    nv.clamp_(-MAX_SPEED, MAX_SPEED)
    torch.add(x, nv, out=nx)
    nx.clamp_(MIN_POSITION, MAX_POSITION)
    nv.masked_fill_((nx <= MIN_POSITION).logical_and_(nv < 0), 0.0)  # the left wall stops the car
    terminated = (nx >= goal_position).logical_and_(nv >= goal_velocity)
    return nxt, terminated


class _MountainCar(TorchVectorEnv):
    """Shared parts of the two cars: state = observation = [x, v]; reset x ~ U(-0.6, -0.4), v = 0."""

    metadata = {**TorchVectorEnv.metadata, "render_fps": 30}
    state_dim = 2
    goal_position = GOAL_POSITION

    def __init__(self, num_envs: int, *, goal_velocity: float = 0.0, **kwargs: Any) -> None:
        self.goal_velocity = float(goal_velocity)  # gymnasium's keyword too
        super().__init__(num_envs, **kwargs)

    def _observation_space(self, np_dtype: type) -> spaces.Box:
        low = np.array([MIN_POSITION, -MAX_SPEED], dtype=np_dtype)
        high = np.array([MAX_POSITION, MAX_SPEED], dtype=np_dtype)
        return spaces.Box(low, high, dtype=np_dtype)

    def _sample_reset(self, n: int | None = None) -> torch.Tensor:
        s = self._empty((self.num_envs if n is None else n, 2))
        s[:, 0].uniform_(-0.6, -0.4, generator=self._gen)
        s[:, 1] = 0.0
        return s

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        return state.clone()

    def _draw(self, s0):
        if self._renderer is None:  # Gymnasium's own drawing (needs pygame)
            self._renderer = self._gym_class(render_mode="rgb_array", goal_velocity=self.goal_velocity)
        self._renderer.state = s0
        return self._renderer.render()


class TorchMountainCarV0(_MountainCar):
    """Gymnasium `MountainCar-v0`, 200 step limit.

    Actions (E,) or (E, 1) in {0, 1, 2}: push left, none, right (±0.001 per step). Reward -1 every
    step, the terminating one too; terminated at x >= 0.5 with v >= `goal_velocity` (0).
    """

    env_id = "MountainCar-v0"
    default_max_episode_steps = 200
    _gym_class = MountainCarEnv

    def _build_spaces(self, np_dtype):
        return self._observation_space(np_dtype), spaces.Discrete(3)

    def _prepare_actions(self, actions: Any) -> torch.Tensor:
        return self._signed_actions(actions).mul_(FORCE)  # (a - 1) · force

    def _physics(self, state, push):
        nxt, terminated = mountain_car_step(state, push, self.goal_position, self.goal_velocity)
        reward = torch.full((self.num_envs,), -1.0, dtype=self.dtype, device=self.device)
        return nxt, nxt.clone(), reward, terminated


class TorchMountainCarContinuousV0(_MountainCar):
    """Gymnasium `MountainCarContinuous-v0`, 999 step limit.

    Actions (E, 1) or (E,): a force clipped to [-1, 1], times power 0.0015 per step. Reward 100 on
    reaching the goal (x >= 0.45 with v >= `goal_velocity`, 0) minus 0.1·a² of the *unclipped*
    action, as gymnasium computes it. Gymnasium keeps its state in float32 after each step; here it
    has `dtype` (float64 agrees with gymnasium's step to that float32 rounding).
    """

    env_id = "MountainCarContinuous-v0"
    default_max_episode_steps = 999
    goal_position = GOAL_POSITION_CONTINUOUS
    _gym_class = Continuous_MountainCarEnv

    def _build_spaces(self, np_dtype):
        return self._observation_space(np_dtype), spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)

    def _physics(self, state, a):
        push = a.clamp(-1.0, 1.0).mul_(POWER)
        nxt, terminated = mountain_car_step(state, push, self.goal_position, self.goal_velocity)
        # (100 on the goal, else 0) - 0.1 a²
        reward = terminated.to(self.dtype).mul_(100.0).sub_(a.square().mul_(0.1))
        return nxt, nxt.clone(), reward, terminated
