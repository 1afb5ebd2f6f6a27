"""Gymnasium's pendulum (`gymnasium/envs/classic_control/pendulum.py`) as a native batched env.

`pendulum_step` is the pure transition; `TorchPendulumV1` holds it in a `TorchVectorEnv`.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.envs.classic_control.pendulum import PendulumEnv

from reinforce.envs.torch_env import TorchVectorEnv

__all__ = ["pendulum_step", "TorchPendulumV1"]

MAX_SPEED = 8.0  # rad/s
MAX_TORQUE = 2.0  # N·m
DT = 0.05  # s per step
MASS = 1.0  # kg
LENGTH = 1.0  # m


def pendulum_step(
    state: torch.Tensor, torque: torch.Tensor, g: float = 10.0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of states [θ, θ_dot] (E, 2) under torques (E,) [N·m], clipped to ±2 here.

    Returns (next_state (E, 2), its observation [cos θ, sin θ, θ_dot] (E, 3), reward (E,)); the reward
    -(angle_normalize(θ)² + .1 θ_dot² + .001 u²) is taken on the state before the step.
    """
    th, thdot = state[:, 0], state[:, 1]
    m, l, dt = MASS, LENGTH, DT  # noqa: E741
    u = torque.clamp(-MAX_TORQUE, MAX_TORQUE)
    # costs = angle_normalize(th)**2 + .1 * thdot**2 + .001 * u**2
    costs = torch.remainder(th + math.pi, 2 * math.pi).sub_(math.pi).square_()
    costs = costs.addcmul_(thdot, thdot, value=0.1).addcmul_(u, u, value=0.001)
    # newthdot = clip(thdot + (3g/(2l) sin(th) + 3/(m l²) u) dt, ±max_speed); newth = th + newthdot dt
    newthdot = torch.sin(th).mul_(3 * g / (2 * l)).add_(u, alpha=3.0 / (m * l**2)).mul_(dt).add_(thdot)
    newthdot = newthdot.clamp_(-MAX_SPEED, MAX_SPEED)
    newth = torch.add(th, newthdot, alpha=dt)
    nxt = torch.stack((newth, newthdot), dim=1)
    obs = torch.stack((torch.cos(newth), torch.sin(newth), newthdot), dim=1)
    return nxt, obs, costs.neg_()


class TorchPendulumV1(TorchVectorEnv):
    """Gymnasium `Pendulum-v1` (`g=10` by default), 200 step limit, never terminates.

    State [θ, θ_dot]; actions (E, 1) or (E,) torques, clipped to [-2, 2]; observation
    [cos θ, sin θ, θ_dot]; reset θ ~ U(-π, π), θ_dot ~ U(-1, 1).
    """

    metadata = {**TorchVectorEnv.metadata, "render_fps": 30}
    env_id = "Pendulum-v1"
    default_max_episode_steps = 200
    state_dim = 2

    def __init__(self, num_envs: int, *, g: float = 10.0, **kwargs: Any) -> None:
        self.g = float(g)
        super().__init__(num_envs, **kwargs)
        self._reset_high = self._row([math.pi, 1.0])
        self._last_u: torch.Tensor | None = None  # the last torques, drawn by render()

    def _build_spaces(self, np_dtype):
        high = np.array([1.0, 1.0, MAX_SPEED], dtype=np_dtype)
        obs_space = spaces.Box(-high, high, dtype=np_dtype)
        act_space = spaces.Box(-MAX_TORQUE, MAX_TORQUE, shape=(1,), dtype=np.float32)
        return obs_space, act_space

    def _sample_reset(self, n: int | None = None) -> torch.Tensor:
        u = self._empty((self.num_envs if n is None else n, 2)).uniform_(-1.0, 1.0, generator=self._gen)
        return u.mul_(self._reset_high)  # θ ~ U(-π, π), θ_dot ~ U(-1, 1)

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        th = state[:, 0]
        return torch.stack((torch.cos(th), torch.sin(th), state[:, 1]), dim=1)

    def _physics(self, state, a):
        self._last_u = a
        nxt, final_obs, reward = pendulum_step(state, a, self.g)
        terminated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return nxt, final_obs, reward, terminated

    def _draw(self, s0):
        if self._renderer is None:  # Gymnasium's own drawing (needs pygame)
            self._renderer = PendulumEnv(render_mode="rgb_array", g=self.g)
        self._renderer.state = s0
        u = None if self._last_u is None else float(self._last_u[0].clamp(-MAX_TORQUE, MAX_TORQUE))
        self._renderer.last_u = u
        return self._renderer.render()
