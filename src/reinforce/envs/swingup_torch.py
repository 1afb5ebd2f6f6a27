"""The cart-pole swing-up of `reinforce.envs.swingup` as a native batched env.

`swingup_torch_step` is the batched transition, with the constants of a `SwingUpParams` (the
Gymnasium env's own parameter object, so both envs share one set of constants);
`TorchCartPoleSwingUpV0` / `V1` hold it in a `TorchVectorEnv` (500 step limit).
"""
from __future__ import annotations

from typing import Any

import torch

from reinforce.envs.render import swingup_frame
from reinforce.envs.swingup import DEFAULT_PARAMS, SwingUpParams, swingup_spaces
from reinforce.envs.torch_env import TorchVectorEnv

__all__ = ["swingup_torch_step", "TorchCartPoleSwingUpV0", "TorchCartPoleSwingUpV1"]


def swingup_torch_step(
    state: torch.Tensor, action: torch.Tensor, params: SwingUpParams = DEFAULT_PARAMS
) -> tuple[torch.Tensor, torch.Tensor]:
    """One explicit-Euler step of states [x, x_dot, θ, θ_dot] (E, 4) under actions (E,) in [-1, 1].

    Actions are clipped to [-1, 1] and scaled to `params.force_mag` newtons. Returns (next_state
    (E, 4), its observation [x, x_dot, cos θ, sin θ, θ_dot] (E, 5)), new tensors that share no memory.
    """
    p = params
    x_dot, th, th_dot = state[:, 1], state[:, 2], state[:, 3]
    m, l, M, g, f = p.pole_mass, p.pole_length, p.total_mass, p.gravity, p.friction  # noqa: E741
    u = action.clamp(-1.0, 1.0).mul_(p.force_mag)
    s = torch.sin(th)
    c = torch.cos(th)
    c2 = c.square()
    w2s = th_dot.square().mul_(s)  # θd² sinθ
    uf = torch.add(u, x_dot, alpha=-f)  # u - f xd
    # xdd = (-2 m l θd² s + 3 m g s c + 4 u - 4 f xd) / (4 M - 3 m c²)
    xdd = torch.addcmul(uf.mul(4.0), s, c, value=3 * m * g).add_(w2s, alpha=-2 * m * l)
    xdd = xdd.div_(c2.mul(-3 * m).add_(4 * M))
    # θdd = (-3 m l θd² s c + 6 M g s + 6 (u - f xd) c) / (4 l M - 3 m l c²)
    thdd = uf.mul_(c).mul_(6.0).add_(s, alpha=6 * M * g).addcmul_(w2s, c, value=-3 * m * l)
    thdd = thdd.div_(c2.mul_(-3 * m * l).add_(4 * l * M))
    # Explicit Euler: x, θ advance with the old velocities, then the velocities; written
    # column by column (no stacked derivative), the observation likewise.
    dt = p.dt
    nxt = torch.empty_like(state)
    obs = state.new_empty((state.shape[0], 5))
    torch.add(state[:, 0], x_dot, alpha=dt, out=nxt[:, 0])
    torch.add(x_dot, xdd, alpha=dt, out=nxt[:, 1])
    torch.add(th, th_dot, alpha=dt, out=nxt[:, 2])
    torch.add(th_dot, thdd, alpha=dt, out=nxt[:, 3])
    obs[:, 0:2] = nxt[:, 0:2]
    obs[:, 4] = nxt[:, 3]
    torch.cos(nxt[:, 2], out=obs[:, 2])
    torch.sin(nxt[:, 2], out=obs[:, 3])
    return nxt, obs


class TorchCartPoleSwingUpV0(TorchVectorEnv):
    """Cart-pole swing-up `reinforce/CartPoleSwingUp-v0`: reward `cos θ`, 500 step limit.

    State [x, x_dot, θ, θ_dot] with θ = 0 upright; reset ~ Normal(params.init_mean, params.init_std).
    Actions (E, 1) or (E,): force = force_mag * clip(a, -1, 1). Observation [x, x_dot, cos θ, sin θ,
    θ_dot]; reward on the next state; terminates when |x| > x_threshold. `params` defaults to the
    Gymnasium env's `DEFAULT_PARAMS`.
    """

    env_id = "reinforce/CartPoleSwingUp-v0"
    default_max_episode_steps = 500
    state_dim = 4

    def __init__(self, num_envs: int, *, params: SwingUpParams = DEFAULT_PARAMS, **kwargs: Any) -> None:
        self.params = params  # before the base __init__: the spaces depend on it
        super().__init__(num_envs, **kwargs)
        self._reset_mean = self._row(list(params.init_mean))
        self._x_thr = self._scalar(params.x_threshold)

    def _build_spaces(self, np_dtype):
        return swingup_spaces(self.params, np_dtype)

    def _sample_reset(self, n: int | None = None) -> torch.Tensor:
        shape = (self.num_envs if n is None else n, 4)
        z = self._empty(shape).normal_(0.0, self.params.init_std, generator=self._gen)
        return z.add_(self._reset_mean)

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        th = state[:, 2]
        return torch.stack((state[:, 0], state[:, 1], torch.cos(th), torch.sin(th), state[:, 3]), dim=1)

    def _reward(self, cos_th: torch.Tensor) -> torch.Tensor:
        return cos_th.clone()

    def _physics(self, state, a):
        nxt, final_obs = swingup_torch_step(state, a, self.params)
        terminated = nxt[:, 0].abs() > self._x_thr
        return nxt, final_obs, self._reward(final_obs[:, 2]), terminated

    def _draw(self, s0):
        return swingup_frame(s0, self.params.x_threshold, self.params.pole_length)


class TorchCartPoleSwingUpV1(TorchCartPoleSwingUpV0):
    """`reinforce/CartPoleSwingUp-v1`: same as v0 with reward `(1 + cos θ) / 2` in [0, 1]."""

    env_id = "reinforce/CartPoleSwingUp-v1"

    def _reward(self, cos_th: torch.Tensor) -> torch.Tensor:
        return (cos_th + 1.0).mul_(0.5)
