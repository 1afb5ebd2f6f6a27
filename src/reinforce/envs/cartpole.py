"""Gymnasium's classic cart-pole (`gymnasium/envs/classic_control/cartpole.py`) as a native batched env.

`cartpole_step` is the pure transition; `TorchCartPoleV1` / `TorchCartPoleV0` hold it in a
`TorchVectorEnv` (500 / 200 step limit).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from reinforce.envs.torch_env import TorchVectorEnv, constant

__all__ = ["CartPoleParams", "CARTPOLE_PARAMS", "cartpole_step", "TorchCartPoleV1", "TorchCartPoleV0"]


@dataclass(frozen=True)
class CartPoleParams:
    """Gymnasium's cart-pole constants (SI units)."""

    gravity: float = 9.8  # m/s^2
    masscart: float = 1.0  # kg
    masspole: float = 0.1  # kg
    length: float = 0.5  # m, half the pole's length
    force_mag: float = 10.0  # N, pushed left or right
    tau: float = 0.02  # s per step (one Euler step)
    theta_threshold: float = 12 * 2 * math.pi / 360  # rad, terminates beyond it
    x_threshold: float = 2.4  # m, terminates beyond it

    @property
    def total_mass(self) -> float:
        return self.masspole + self.masscart

    @property
    def polemass_length(self) -> float:
        return self.masspole * self.length


CARTPOLE_PARAMS = CartPoleParams()


def cartpole_step(state: torch.Tensor, force: torch.Tensor, p: CartPoleParams = CARTPOLE_PARAMS) -> torch.Tensor:
    """Next state (E, 4) of states [x, x_dot, θ, θ_dot] (E, 4) under horizontal forces (E,) [N]; a new tensor."""
    x, x_dot, theta, theta_dot = state.unbind(1)
    c = _constants(p, state.dtype, state.device)
    costheta = torch.cos(theta)
    sintheta = torch.sin(theta)
    # gymnasium: temp = (force + pml * theta_dot**2 * sintheta) / total_mass
    temp = torch.addcmul(force, theta_dot.square(), sintheta, value=p.polemass_length).div_(c["total_mass"])
    # thetaacc = (g * sin - cos * temp) / (length * (4/3 - masspole * cos**2 / total_mass))
    denom = costheta.square().mul_(c["neg_mp_l_over_tm"]).add_(c["four_thirds_l"])
    thetaacc = torch.addcmul(sintheta.mul_(c["gravity"]), costheta, temp, value=-1.0).div_(denom)
    # xacc = temp - pml * thetaacc * cos / total_mass
    xacc = torch.addcmul(temp, thetaacc, costheta, value=-p.polemass_length / p.total_mass)
    # Euler: positions advance with the old velocities, velocities with the accelerations.
    # Written column by column into one new tensor (no stack of a derivative tensor).
    nxt = torch.empty_like(state)
    torch.add(x, x_dot, alpha=p.tau, out=nxt[:, 0])
    torch.add(x_dot, xacc, alpha=p.tau, out=nxt[:, 1])
    torch.add(theta, theta_dot, alpha=p.tau, out=nxt[:, 2])
    torch.add(theta_dot, thetaacc, alpha=p.tau, out=nxt[:, 3])
    return nxt


@functools.lru_cache(maxsize=32)
def _constants(p: CartPoleParams, dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    """The physics' scalar factors as 0-dim tensors of the state's dtype: a Python number in an in-place op
    is converted to a tensor on every call (~1.4 µs each, 4 a step); these are made once. The values are
    the same roundings of the same products, so the states are bit-identical."""
    values = {"total_mass": p.total_mass, "neg_mp_l_over_tm": -p.masspole * p.length / p.total_mass,
              "four_thirds_l": 4.0 / 3.0 * p.length, "gravity": p.gravity}
    return {k: constant(v, dtype, device) for k, v in values.items()}


class TorchCartPoleV1(TorchVectorEnv):
    """Gymnasium `CartPole-v1` dynamics (Euler integrator), 500 step limit.

    Actions: (E,) or (E, 1) in {0, 1}, int / float / bool dtype (1 pushes right).
    Observation = state = [x, x_dot, θ, θ_dot]. Reward 1 every step, incl. the terminating one.
    Reset: all four uniform in (-0.05, 0.05).
    """

    env_id = "CartPole-v1"
    default_max_episode_steps = 500
    state_dim = 4
    params = CARTPOLE_PARAMS

    def __init__(self, num_envs: int, **kwargs: Any) -> None:
        super().__init__(num_envs, **kwargs)
        p = self.params
        # 0-dim device constants: no per-step scalar conversion.
        self._force_right = self._scalar(p.force_mag)
        self._force_left = self._scalar(-p.force_mag)
        self._x_thr = self._scalar(p.x_threshold)
        self._theta_thr = self._scalar(p.theta_threshold)

    def _build_spaces(self, np_dtype):
        p = self.params
        high = np.array([p.x_threshold * 2, np.inf, p.theta_threshold * 2, np.inf], dtype=np_dtype)
        return spaces.Box(-high, high, dtype=np_dtype), spaces.Discrete(2)

    def _prepare_actions(self, actions: Any) -> torch.Tensor:
        a = torch.as_tensor(actions, device=self.device).reshape(self.num_envs)
        if a.dtype == torch.bool:
            return a
        return a > (0.5 if a.is_floating_point() else 0)  # True: push right

    def _sample_reset(self, n: int | None = None) -> torch.Tensor:
        return self._empty((self.num_envs if n is None else n, 4)).uniform_(-0.05, 0.05, generator=self._gen)

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        return state.clone()

    def _physics(self, state, right):
        nxt = cartpole_step(state, torch.where(right, self._force_right, self._force_left), self.params)
        terminated = (nxt[:, 0].abs() > self._x_thr).logical_or_(nxt[:, 2].abs() > self._theta_thr)
        reward = torch.ones(self.num_envs, dtype=self.dtype, device=self.device)
        return nxt, nxt.clone(), reward, terminated

    def _draw(self, s0):
        if self._renderer is None:  # Gymnasium's own drawing (needs pygame)
            self._renderer = CartPoleEnv(render_mode="rgb_array")
        self._renderer.state = s0
        return self._renderer.render()


class TorchCartPoleV0(TorchCartPoleV1):
    """Gymnasium `CartPole-v0`: same dynamics as v1, 200 step limit."""

    env_id = "CartPole-v0"
    default_max_episode_steps = 200
