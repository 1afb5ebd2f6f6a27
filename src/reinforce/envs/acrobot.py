"""Gymnasium's acrobot (`gymnasium/envs/classic_control/acrobot.py`) as a native batched env.

`acrobot_step` is the pure transition (one RK4 step of the "book" dynamics); `TorchAcrobotV1` holds
it in a `TorchVectorEnv` (500 step limit).
"""
from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.envs.classic_control.acrobot import AcrobotEnv

from reinforce.envs.torch_env import TorchVectorEnv, constant

__all__ = ["acrobot_step", "acrobot_obs", "TorchAcrobotV1"]

# Gymnasium's AcrobotEnv constants (SI units; tests check they still agree).
DT = 0.2  # s per step (one RK4 step)
LINK_LENGTH_1 = 1.0  # m
LINK_MASS_1 = 1.0  # kg
LINK_MASS_2 = 1.0  # kg
LINK_COM_POS_1 = 0.5  # m, centre of mass of link 1
LINK_COM_POS_2 = 0.5  # m, centre of mass of link 2
LINK_MOI = 1.0  # kg·m², moment of inertia of each link
GRAVITY = 9.8  # m/s²
MAX_VEL_1 = 4 * math.pi  # rad/s
MAX_VEL_2 = 9 * math.pi  # rad/s

# Constant parts of the dynamics, folded once (names as in gymnasium's `_dsdt`).
_M1, _M2, _L1, _LC1, _LC2, _I1, _I2 = (
    LINK_MASS_1, LINK_MASS_2, LINK_LENGTH_1, LINK_COM_POS_1, LINK_COM_POS_2, LINK_MOI, LINK_MOI,
)
_H = _M2 * _L1 * _LC2  # the coefficient of every cos θ2 / sin θ2 coupling term
_D1_0 = _M1 * _LC1**2 + _M2 * (_L1**2 + _LC2**2) + _I1 + _I2  # d1 = _D1_0 + 2 _H cos θ2
_D2_0 = _M2 * _LC2**2 + _I2  # d2 = _D2_0 + _H cos θ2; also the first term of ddθ2's denominator
_G2 = _M2 * _LC2 * GRAVITY
_G1 = (_M1 * _LC1 + _M2 * _L1) * GRAVITY
_TWO_PI = 2 * math.pi


@functools.lru_cache(maxsize=None)
def _constants(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The dynamics' constant tensors on one dtype and device (made once: `_dsdt` runs 4 times a step)."""
    def t(values):
        return constant(values, dtype, device)
    # [θ1, θ2] @ angle_map + angle_offset = [θ2, θ1 + θ2 - π/2, θ1 - π/2, θ2 - π/2]; their cosines are
    # cos θ2, the two gravity terms' cosines (as gymnasium writes them) and sin θ2, times trig_scale:
    # [cos θ2, phi2, (m1 lc1 + m2 l1) g cos(θ1 - π/2), h sin θ2]
    angle_map, angle_offset = t([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 1.0]]), t([0.0, -math.pi / 2, -math.pi / 2, -math.pi / 2])
    trig_scale = t([1.0, _G2, _G1, _H])
    # [-d1, d2] = [-_D1_0, _D2_0] + cos θ2 · [-2h, h]
    inertia_base, inertia_slope = t([-_D1_0, _D2_0]), t([-2 * _H, _H])
    return angle_map, angle_offset, trig_scale, inertia_base, inertia_slope, t(_D2_0)


def _angles(y: torch.Tensor, angle_map: torch.Tensor, angle_offset: torch.Tensor, by_matmul: bool) -> torch.Tensor:
    """[θ2, θ1 + θ2 - π/2, θ1 - π/2, θ2 - π/2] (E, 4): one `addmm` on CPU; element-wise adds elsewhere, since a
    GPU's matmul may run in TF32 (`torch.set_float32_matmul_precision("high")`), which would round the angles."""
    if by_matmul:
        return torch.addmm(angle_offset, y[:, :2], angle_map)
    th1, th2 = y[:, 0], y[:, 1]
    return torch.stack((th2, th1 + th2, th1, th2), dim=1).add_(angle_offset)


def _dsdt(y: torch.Tensor, torque: torch.Tensor) -> torch.Tensor:
    """Time derivative (E, 4) of states [θ1, θ2, θ1_dot, θ2_dot] (E, 4) under torques (E,) [N·m] ("book").

    Gymnasium's formulas with the four cosines in one call and the constants folded: at 64 envs a step is
    bound by the number of torch calls (~2 µs each), not by arithmetic; 23 calls here instead of 34."""
    angle_map, angle_offset, trig_scale, inertia_base, inertia_slope, d2_0 = _constants(y.dtype, y.device)
    _, _, dth1, dth2 = y.unbind(1)
    angles = _angles(y, angle_map, angle_offset, by_matmul=y.is_cpu)
    c2, phi2, gravity1, hs2 = angles.cos_().mul_(trig_scale).unbind(1)
    neg_d1, d2 = torch.addcmul(inertia_base, c2[:, None], inertia_slope).unbind(1)
    # phi1 = -h θ2_dot² sin θ2 - 2 h θ2_dot θ1_dot sin θ2 + (m1 lc1 + m2 l1) g cos(θ1 - π/2) + phi2
    phi1 = torch.add(gravity1, phi2).sub_(torch.add(dth2, dth1, alpha=2.0).mul_(dth2).mul_(hs2))
    # ddθ2 = (a + d2/d1 phi1 - h θ1_dot² sin θ2 - phi2) / (m2 lc2² + I2 - d2²/d1)
    neg_r = torch.div(d2, neg_d1)  # -d2/d1
    ddth2 = torch.addcmul(torque, neg_r, phi1, value=-1.0).sub_(dth1.square().mul_(hs2)).sub_(phi2)
    ddth2 = ddth2.div_(torch.addcmul(d2_0, neg_r, d2))
    ddth1 = torch.addcmul(phi1, d2, ddth2).div_(neg_d1)  # -(d2 ddθ2 + phi1) / d1
    return torch.stack((dth1, dth2, ddth1, ddth2), dim=1)


def acrobot_obs(state: torch.Tensor) -> torch.Tensor:
    """Observation [cos θ1, sin θ1, cos θ2, sin θ2, θ1_dot, θ2_dot] (E, 6) of states (E, 4); a new tensor."""
    obs = state.new_empty((state.shape[0], 6))
    torch.cos(state[:, :2], out=obs[:, 0:4:2])
    torch.sin(state[:, :2], out=obs[:, 1:4:2])
    obs[:, 4:] = state[:, 2:]
    return obs


def acrobot_step(state: torch.Tensor, torque: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One step of states [θ1, θ2, θ1_dot, θ2_dot] (E, 4) [rad, rad/s] under torques (E,) [N·m].

    θ2 is relative to link 1. One RK4 step of `DT` seconds, then both angles wrapped to [-π, π] and the
    velocities clipped to ±4π / ±9π rad/s, as gymnasium does. Returns (next_state (E, 4), its
    observation (E, 6), terminated (E,) bool: the tip above the target height,
    -cos θ1 - cos(θ1 + θ2) > 1), new tensors that share no memory.
    """
    k1 = _dsdt(state, torque)
    k2 = _dsdt(torch.add(state, k1, alpha=DT / 2), torque)
    k3 = _dsdt(torch.add(state, k2, alpha=DT / 2), torque)
    k4 = _dsdt(torch.add(state, k3, alpha=DT), torque)
    # y + dt/6 (k1 + 2 k2 + 2 k3 + k4)
    nxt = torch.add(state, torch.add(k1, k2, alpha=2.0).add_(k3, alpha=2.0).add_(k4), alpha=DT / 6)

    # gymnasium's `wrap` subtracts (adds) 2π while above π (below -π): count the turns with ceil,
    # so one turn is exactly x - 2π as there, and x == ±π is left alone as there.
    ang = nxt[:, :2]
    over = torch.sub(ang, math.pi).div_(_TWO_PI).ceil_().clamp_(min=0.0)
    under = torch.add(ang, math.pi).div_(-_TWO_PI).ceil_().clamp_(min=0.0)
    ang.add_(under.sub_(over), alpha=_TWO_PI)
    nxt[:, 2].clamp_(-MAX_VEL_1, MAX_VEL_1)
    nxt[:, 3].clamp_(-MAX_VEL_2, MAX_VEL_2)

    obs = acrobot_obs(nxt)
    # -cos θ1 - cos(θ1 + θ2) > 1  <=>  cos θ1 + cos(θ1 + θ2) < -1 (negation is exact)
    terminated = torch.add(nxt[:, 0], nxt[:, 1]).cos_().add_(obs[:, 0]) < -1.0
    return nxt, obs, terminated


class TorchAcrobotV1(TorchVectorEnv):
    """Gymnasium `Acrobot-v1` ("book" dynamics, RK4, no torque noise), 500 step limit.

    State [θ1, θ2, θ1_dot, θ2_dot]; actions (E,) or (E, 1) in {0, 1, 2} -> torque -1, 0, +1 N·m;
    observation [cos θ1, sin θ1, cos θ2, sin θ2, θ1_dot, θ2_dot]; reward -1 per step and 0 on the
    terminating step. Reset: all four uniform in (-0.1, 0.1) (gymnasium rounds them to float32;
    here they have `dtype`).
    """

    metadata = {**TorchVectorEnv.metadata, "render_fps": 15}
    env_id = "Acrobot-v1"
    default_max_episode_steps = 500
    state_dim = 4

    def _build_spaces(self, np_dtype):
        high = np.array([1.0, 1.0, 1.0, 1.0, MAX_VEL_1, MAX_VEL_2], dtype=np_dtype)
        return spaces.Box(-high, high, dtype=np_dtype), spaces.Discrete(3)

    def _prepare_actions(self, actions: Any) -> torch.Tensor:
        return self._signed_actions(actions)  # {0, 1, 2} -> torque {-1, 0, +1} N·m

    def _sample_reset(self, n: int | None = None) -> torch.Tensor:
        return self._empty((self.num_envs if n is None else n, 4)).uniform_(-0.1, 0.1, generator=self._gen)

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        return acrobot_obs(state)

    def _physics(self, state, torque):
        nxt, obs, terminated = acrobot_step(state, torque)
        reward = terminated.to(self.dtype).sub_(1.0)  # -1, and 0 on the terminating step
        return nxt, obs, reward, terminated

    def _draw(self, s0):
        if self._renderer is None:  # Gymnasium's own drawing (needs pygame)
            self._renderer = AcrobotEnv(render_mode="rgb_array")
        self._renderer.state = s0
        return self._renderer.render()
