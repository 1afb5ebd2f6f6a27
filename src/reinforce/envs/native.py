"""Native batched environments whose whole state lives in torch tensors.

Every environment here steps all ``num_envs`` copies with a handful of tensor
ops -- no Python loop over environments and no host synchronisation in
:meth:`TorchVectorEnv.step` -- so the same code runs on CPU or CUDA and
scales to tens of thousands of environments.

Implemented ids (see :data:`NATIVE_ENVS` and :func:`make_native`):

* ``CartPole-v0`` / ``CartPole-v1`` -- Gymnasium's classic cart-pole
  (``gymnasium/envs/classic_control/cartpole.py``), 200 / 500 step limit.
* ``Pendulum-v1`` -- Gymnasium's pendulum (``pendulum.py``), 200 step limit.
* ``reinforce/CartPoleSwingUp-v0`` / ``-v1`` -- the cart-pole swing-up of
  :mod:`reinforce.envs.swingup` (reward ``cos θ`` resp. ``(1 + cos θ) / 2``),
  500 step limit.

Conventions shared by all of them:

* Autoreset is ``SAME_STEP``: for an environment whose episode ended in this
  step the returned observation is already the first observation of the next
  episode; the true last observation is in ``info["final_obs"]`` (a full
  ``(E, obs_dim)`` tensor that equals ``obs`` wherever the env did not end).
  The reset is done by ``torch.where`` selection: fresh initial states are
  drawn for *all* envs every step and selected where ``terminated |
  truncated``, so the random stream consumed per step does not depend on the
  data.
* ``truncated`` is ``True`` only when the time limit was hit and the env did
  not terminate in the same step.
* The physics state, observations and rewards use ``dtype`` (default
  ``torch.float32``; pass ``torch.float64`` for bit-for-bit-ish parity checks
  against the NumPy references).  The observation space dtype follows it.
* One ``torch.Generator`` per env object (on the env's device) drives all
  randomness; ``seed=`` at construction or ``reset(seed=...)`` seeds it.
  :meth:`TorchVectorEnv.get_state` / :meth:`TorchVectorEnv.set_state`
  capture and restore physics, step counters and generator state exactly.
* Returned tensors are fresh each step (never a reused buffer), so callers may
  keep them in rollout storage without copying.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

__all__ = [
    "TorchVectorEnv",
    "TorchCartPoleV0",
    "TorchCartPoleV1",
    "TorchPendulumV1",
    "TorchCartPoleSwingUpV0",
    "TorchCartPoleSwingUpV1",
    "NATIVE_ENVS",
    "make_native",
]


class _EnvDefault:
    """Sentinel: "use the environment's own default episode length"."""

    def __repr__(self) -> str:  # shows up in signatures / docs
        return "<env default>"


ENV_DEFAULT: Any = _EnvDefault()

_NP_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16,
              torch.bfloat16: np.float32}


class TorchVectorEnv(gymnasium.vector.VectorEnv):
    """Base class: batched env with all state in torch tensors, same-step autoreset.

    Subclasses define the class attributes ``env_id``, ``default_max_episode_steps``,
    ``state_dim`` and implement :meth:`_sample_reset`, :meth:`_observe`,
    :meth:`_physics` and :meth:`_build_spaces` (and optionally :meth:`_draw`).

    Internally the physics state is stored component-major, shape ``(state_dim, E)``,
    so every component is a contiguous row; :meth:`get_state` exposes it as ``(E, state_dim)``.
    """

    metadata: dict[str, Any] = {
        "autoreset_mode": AutoresetMode.SAME_STEP,
        "render_modes": ["rgb_array"],
        "render_fps": 50,
    }

    env_id: str = ""
    default_max_episode_steps: int | None = None
    state_dim: int = 0

    def __init__(
        self,
        num_envs: int,
        *,
        device: str | torch.device = "cpu",
        seed: int | None = None,
        max_episode_steps: int | None = ENV_DEFAULT,
        dtype: torch.dtype = torch.float32,
        render_mode: str | None = None,
    ) -> None:
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        if not dtype.is_floating_point:
            raise ValueError(f"dtype must be a floating point dtype, got {dtype}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        if max_episode_steps is ENV_DEFAULT:
            max_episode_steps = self.default_max_episode_steps
        if max_episode_steps is not None and int(max_episode_steps) < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None, got {max_episode_steps}")

        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.dtype = dtype
        self.render_mode = render_mode
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)

        self._gen = torch.Generator(device=self.device)
        if seed is None:
            self._gen.seed()
        else:
            self._gen.manual_seed(int(seed))

        self.single_observation_space, self.single_action_space = self._build_spaces(
            _NP_DTYPES.get(dtype, np.float32)
        )
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

        # Physics state (state_dim, E) and per-env step counters; set by reset/set_state.
        self._state: torch.Tensor | None = None
        self._steps = torch.zeros(self.num_envs, dtype=torch.int32, device=self.device)
        self._renderer: Any = None

    # ------------------------------------------------------------------ subclass hooks
    def _build_spaces(self, np_dtype: type) -> tuple[spaces.Space, spaces.Space]:
        raise NotImplementedError

    def _sample_reset(self) -> torch.Tensor:
        """Fresh initial states for all envs, shape (state_dim, E), dtype ``self.dtype``."""
        raise NotImplementedError

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        """Observation (E, obs_dim) of a (state_dim, E) state."""
        raise NotImplementedError

    def _physics(
        self, state: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step: returns (next_state (D,E), final_obs (E,obs_dim), reward (E,), terminated (E,) bool)."""
        raise NotImplementedError

    def _prepare_actions(self, actions: Any) -> torch.Tensor:
        """Continuous actions -> (E,) tensor of ``self.dtype`` on device (clipping is the env's job)."""
        a = torch.as_tensor(actions, device=self.device)
        if a.requires_grad:
            a = a.detach()
        return a.to(self.dtype).reshape(self.num_envs)

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Reset all envs (or, with ``options={"reset_mask": bool (E,)}``, only the masked ones)."""
        if seed is not None:
            self._gen.manual_seed(int(seed))
        fresh = self._sample_reset()
        mask = None if options is None else options.get("reset_mask")
        if mask is None or self._state is None:
            self._state = fresh
            self._steps = torch.zeros(self.num_envs, dtype=torch.int32, device=self.device)
        else:
            mask = torch.as_tensor(mask, device=self.device, dtype=torch.bool).reshape(self.num_envs)
            self._state = torch.where(mask, fresh, self._state)
            self._steps = self._steps.masked_fill(mask, 0)
        return self._observe(self._state), {}

    def step(
        self, actions: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        if self._state is None:
            raise RuntimeError(f"{type(self).__name__}: call reset() before step()")
        a = self._prepare_actions(actions)
        stepped, final_obs, reward, terminated = self._physics(self._state, a)

        steps = self._steps + 1
        if self.max_episode_steps is None:
            truncated = torch.zeros_like(terminated)
            done = terminated
        else:
            time_up = steps >= self.max_episode_steps
            done = terminated | time_up
            truncated = time_up.logical_and_(terminated.logical_not())

        fresh = self._sample_reset()
        self._state = torch.where(done, fresh, stepped)
        self._steps = steps.masked_fill_(done, 0)
        obs = torch.where(done.unsqueeze(1), self._observe(fresh), final_obs)
        return obs, reward, terminated, truncated, {"final_obs": final_obs}

    # ------------------------------------------------------------------ state capture
    def get_state(self) -> dict[str, torch.Tensor]:
        """Snapshot for exact resume: physics ``state`` (E, state_dim), ``steps`` (E,), ``rng`` (generator state)."""
        if self._state is None:
            raise RuntimeError(f"{type(self).__name__}: call reset() before get_state()")
        return {
            "state": self._state.T.clone(),
            "steps": self._steps.clone(),
            "rng": self._gen.get_state().clone(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`get_state` (of an env with the same ``num_envs``)."""
        s = torch.as_tensor(state["state"], device=self.device, dtype=self.dtype)
        if s.shape != (self.num_envs, self.state_dim):
            raise ValueError(
                f"state has shape {tuple(s.shape)}, expected {(self.num_envs, self.state_dim)}"
            )
        steps = torch.as_tensor(state["steps"], device=self.device, dtype=torch.int32)
        if steps.shape != (self.num_envs,):
            raise ValueError(f"steps has shape {tuple(steps.shape)}, expected {(self.num_envs,)}")
        self._state = s.T.clone(memory_format=torch.contiguous_format)
        self._steps = steps.clone()
        if "rng" in state and state["rng"] is not None:
            self._gen.set_state(torch.as_tensor(state["rng"], dtype=torch.uint8, device="cpu"))

    @property
    def state(self) -> torch.Tensor | None:
        """Current physics state as an (E, state_dim) view (read-only by convention)."""
        return None if self._state is None else self._state.T

    @property
    def elapsed_steps(self) -> torch.Tensor:
        """Steps taken in the current episode of each env, (E,) int32."""
        return self._steps

    @property
    def generator(self) -> torch.Generator:
        return self._gen

    # ------------------------------------------------------------------ rendering
    def render(self) -> np.ndarray | None:
        """RGB array (H, W, 3) uint8 of env 0 (rendered whatever ``render_mode`` is)."""
        if self._state is None:
            return None
        s0 = self._state[:, 0].detach().to("cpu", torch.float64).numpy()
        return self._draw(s0)

    def _draw(self, s0: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close_extras(self, **kwargs: Any) -> None:
        if self._renderer is not None and hasattr(self._renderer, "close"):
            self._renderer.close()
        self._renderer = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env_id}, num_envs={self.num_envs}, device={self.device})"

    # ------------------------------------------------------------------ helpers
    def _uniform(self, low: torch.Tensor | float, high: torch.Tensor | float, rows: int) -> torch.Tensor:
        u = torch.rand((rows, self.num_envs), generator=self._gen, device=self.device, dtype=self.dtype)
        return u.mul_(high - low).add_(low)

    def _const(self, values: list[float]) -> torch.Tensor:
        """Column vector (len, 1) constant on device, for broadcasting against (D, E)."""
        return torch.tensor(values, dtype=self.dtype, device=self.device).unsqueeze(1)


# ====================================================================== CartPole
class TorchCartPoleV1(TorchVectorEnv):
    """Gymnasium ``CartPole-v1`` dynamics (Euler integrator), 500 step limit.

    Actions: (E,) ints in {0, 1} (any numeric dtype; ``> 0.5`` means push right).
    Observation: [x, x_dot, theta, theta_dot].  Reward 1 every step incl. the terminating one.
    """

    env_id = "CartPole-v1"
    default_max_episode_steps = 500
    state_dim = 4

    gravity = 9.8
    masscart = 1.0
    masspole = 0.1
    total_mass = masspole + masscart
    length = 0.5  # half the pole's length
    polemass_length = masspole * length
    force_mag = 10.0
    tau = 0.02
    theta_threshold_radians = 12 * 2 * math.pi / 360
    x_threshold = 2.4

    def _build_spaces(self, np_dtype):
        high = np.array(
            [self.x_threshold * 2, np.inf, self.theta_threshold_radians * 2, np.inf], dtype=np.float32
        )
        return spaces.Box(-high, high, dtype=np_dtype), spaces.Discrete(2)

    def _prepare_actions(self, actions: Any) -> torch.Tensor:
        a = torch.as_tensor(actions, device=self.device)
        return (a.reshape(self.num_envs) > 0.5)  # bool: push right

    def _sample_reset(self) -> torch.Tensor:
        return self._uniform(-0.05, 0.05, 4)

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        return state.T.contiguous()

    def _physics(self, state, right):
        x, x_dot, theta, theta_dot = state.unbind(0)
        force = torch.where(right, self.force_mag, -self.force_mag).to(self.dtype)
        costheta = torch.cos(theta)
        sintheta = torch.sin(theta)
        # Same operation order as gymnasium's CartPoleEnv.step.
        temp = theta_dot.square().mul_(self.polemass_length).mul_(sintheta).add_(force).div_(self.total_mass)
        denom = costheta.square().mul_(self.masspole).div_(self.total_mass).neg_().add_(4.0 / 3.0).mul_(self.length)
        thetaacc = (sintheta * self.gravity).sub_(costheta * temp).div_(denom)
        xacc = temp - (thetaacc * self.polemass_length).mul_(costheta).div_(self.total_mass)

        tau = self.tau
        nxt = torch.stack((x_dot, xacc, theta_dot, thetaacc)).mul_(tau).add_(state)  # Euler, all 4 at once
        nx, ntheta = nxt[0], nxt[2]
        terminated = (nx.abs() > self.x_threshold) | (ntheta.abs() > self.theta_threshold_radians)
        reward = torch.ones(self.num_envs, dtype=self.dtype, device=self.device)
        return nxt, nxt.T.contiguous(), reward, terminated

    def _draw(self, s0):
        if self._renderer is None:
            from gymnasium.envs.classic_control.cartpole import CartPoleEnv

            self._renderer = CartPoleEnv(render_mode="rgb_array")
        self._renderer.state = s0
        return self._renderer.render()


class TorchCartPoleV0(TorchCartPoleV1):
    """Gymnasium ``CartPole-v0``: same dynamics as v1, 200 step limit."""

    env_id = "CartPole-v0"
    default_max_episode_steps = 200


# ====================================================================== Pendulum
class TorchPendulumV1(TorchVectorEnv):
    """Gymnasium ``Pendulum-v1`` (g=10 by default), 200 step limit, never terminates.

    Actions: (E, 1) (or (E,)) torques, clipped to [-2, 2].  Observation: [cos θ, sin θ, θ_dot].
    """

    metadata = {**TorchVectorEnv.metadata, "render_fps": 30}
    env_id = "Pendulum-v1"
    default_max_episode_steps = 200
    state_dim = 2

    max_speed = 8.0
    max_torque = 2.0
    dt = 0.05
    m = 1.0
    l = 1.0  # noqa: E741

    def __init__(self, num_envs: int, *, g: float = 10.0, **kwargs: Any) -> None:
        self.g = float(g)
        super().__init__(num_envs, **kwargs)
        self._reset_high = self._const([math.pi, 1.0])
        self._last_u: torch.Tensor | None = None

    def _build_spaces(self, np_dtype):
        high = np.array([1.0, 1.0, self.max_speed], dtype=np.float32)
        obs_space = spaces.Box(-high, high, dtype=np_dtype)
        act_space = spaces.Box(-self.max_torque, self.max_torque, shape=(1,), dtype=np.float32)
        return obs_space, act_space

    def _sample_reset(self) -> torch.Tensor:
        u = torch.rand((2, self.num_envs), generator=self._gen, device=self.device, dtype=self.dtype)
        return u.mul_(2.0).sub_(1.0).mul_(self._reset_high)  # U(-high, high)

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        th, thdot = state.unbind(0)
        return torch.stack((torch.cos(th), torch.sin(th), thdot), dim=1)

    def _physics(self, state, a):
        th, thdot = state.unbind(0)
        u = a.clamp(-self.max_torque, self.max_torque)
        self._last_u = u
        # angle_normalize(th)**2 + .1 * thdot**2 + .001 * u**2
        norm = torch.remainder(th + math.pi, 2 * math.pi).sub_(math.pi)
        costs = norm.square_().add_(thdot.square().mul_(0.1)).add_(u.square().mul_(0.001))
        g, m, l, dt = self.g, self.m, self.l, self.dt
        newthdot = (torch.sin(th) * (3 * g / (2 * l))).add_(u * (3.0 / (m * l**2))).mul_(dt).add_(thdot)
        newthdot = newthdot.clamp_(-self.max_speed, self.max_speed)
        newth = th + newthdot * dt
        nxt = torch.stack((newth, newthdot))
        final_obs = torch.stack((torch.cos(newth), torch.sin(newth), newthdot), dim=1)
        terminated = torch.zeros(self.num_envs, dtype=torch.bool, device=self.device)
        return nxt, final_obs, costs.neg_(), terminated

    def _draw(self, s0):
        if self._renderer is None:
            from gymnasium.envs.classic_control.pendulum import PendulumEnv

            self._renderer = PendulumEnv(render_mode="rgb_array", g=self.g)
        self._renderer.state = s0
        self._renderer.last_u = None if self._last_u is None else float(self._last_u[0])
        return self._renderer.render()


# ====================================================================== CartPole swing-up
class TorchCartPoleSwingUpV0(TorchVectorEnv):
    """Cart-pole swing-up (``reinforce/CartPoleSwingUp-v0``), reward ``cos θ``, 500 step limit.

    State (x, x_dot, θ, θ_dot) with θ = 0 upright; reset ~ Normal((0, 0, π, 0), 0.2).
    Actions: (E, 1) (or (E,)), force = 10 * clip(a, -1, 1).  Explicit Euler with dt = 0.01.
    Observation: [x, x_dot, cos θ, sin θ, θ_dot].  Terminates when |x| > 2.4.
    """

    env_id = "reinforce/CartPoleSwingUp-v0"
    default_max_episode_steps = 500
    state_dim = 4

    gravity = 9.82
    masscart = 0.5
    masspole = 0.5
    total_mass = masscart + masspole
    pole_length = 0.6
    force_mag = 10.0
    dt = 0.01
    friction = 0.1
    x_threshold = 2.4

    def __init__(self, num_envs: int, **kwargs: Any) -> None:
        super().__init__(num_envs, **kwargs)
        self._reset_mean = self._const([0.0, 0.0, math.pi, 0.0])

    def _build_spaces(self, np_dtype):
        high = np.array([np.inf, np.inf, 1.0, 1.0, np.inf], dtype=np.float32)
        obs_space = spaces.Box(-high, high, dtype=np_dtype)
        act_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        return obs_space, act_space

    def _sample_reset(self) -> torch.Tensor:
        z = torch.randn((4, self.num_envs), generator=self._gen, device=self.device, dtype=self.dtype)
        return z.mul_(0.2).add_(self._reset_mean)

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        x, x_dot, th, th_dot = state.unbind(0)
        return torch.stack((x, x_dot, torch.cos(th), torch.sin(th), th_dot), dim=1)

    def _reward(self, cos_th: torch.Tensor) -> torch.Tensor:
        return cos_th  # not referenced elsewhere (final_obs holds a copy)

    def _physics(self, state, a):
        x, x_dot, th, th_dot = state.unbind(0)
        m, l, M, g, f = self.masspole, self.pole_length, self.total_mass, self.gravity, self.friction
        u = a.clamp(-1.0, 1.0).mul_(self.force_mag)
        s = torch.sin(th)
        c = torch.cos(th)
        c2 = c.square()
        w2s = th_dot.square().mul_(s)  # θd² sinθ
        fx = x_dot * f
        # xdd = (-2 m l θd² s + 3 m g s c + 4u - 4 f xd) / (4M - 3 m c²)
        xdd = (w2s * (-2 * m * l)).add_((s * c).mul_(3 * m * g)).add_(u * 4).sub_(fx * 4)
        xdd = xdd.div_((c2 * (-3 * m)).add_(4 * M))
        # θdd = (-3 m l θd² s c + 6 M g s + 6 (u - f xd) c) / (4 l M - 3 m l c²)
        thdd = (w2s.mul_(c).mul_(-3 * m * l)).add_(s.mul_(6 * M * g)).add_((u - fx).mul_(c).mul_(6))
        thdd = thdd.div_(c2.mul_(-3 * m * l).add_(4 * l * M))

        nxt = torch.stack((x_dot, xdd, th_dot, thdd)).mul_(self.dt).add_(state)  # Euler, all 4 at once
        nx, nx_dot, nth, nth_dot = nxt.unbind(0)
        ncos = torch.cos(nth)
        final_obs = torch.stack((nx, nx_dot, ncos, torch.sin(nth), nth_dot), dim=1)
        terminated = nx.abs() > self.x_threshold
        return nxt, final_obs, self._reward(ncos), terminated

    def _draw(self, s0):
        return _draw_swingup(s0, self.x_threshold, self.pole_length)


class TorchCartPoleSwingUpV1(TorchCartPoleSwingUpV0):
    """``reinforce/CartPoleSwingUp-v1``: same as v0 with reward ``(1 + cos θ) / 2`` in [0, 1]."""

    env_id = "reinforce/CartPoleSwingUp-v1"

    def _reward(self, cos_th: torch.Tensor) -> torch.Tensor:
        return (cos_th + 1.0).mul_(0.5)


def _draw_swingup(s0: np.ndarray, x_threshold: float, pole_length: float,
                  width: int = 600, height: int = 400) -> np.ndarray:
    """Plain-NumPy drawing of one swing-up state (cart, pole, track) as (H, W, 3) uint8."""
    x, _, th, _ = (float(v) for v in s0)
    img = np.full((height, width, 3), 255, dtype=np.uint8)
    scale = width / (2 * (x_threshold + 2 * pole_length))
    track_y = height // 2
    img[track_y, :] = 0
    for xb in (-x_threshold, x_threshold):  # track limits
        px = int(round(width / 2 + xb * scale))
        if 0 <= px < width:
            img[track_y - 20:track_y + 20, max(px - 1, 0):px + 2] = (200, 0, 0)
    cx = width / 2 + x * scale
    cw, ch = 50, 30
    x0, x1 = int(round(cx - cw / 2)), int(round(cx + cw / 2))
    y0, y1 = track_y - ch // 2, track_y + ch // 2
    img[max(y0, 0):max(y1, 0), max(x0, 0):max(min(x1, width), 0)] = 0
    # Pole: θ = 0 is upright (screen y grows downwards).
    n = 200
    t = np.linspace(0.0, 1.0, n)
    px = cx + t * pole_length * scale * math.sin(th)
    py = track_y - t * pole_length * scale * math.cos(th)
    yy, xx = np.mgrid[-4:5, -4:5]
    disk = (yy**2 + xx**2) <= 16
    dy, dx = yy[disk], xx[disk]
    ix = (np.round(px)[:, None] + dx[None, :]).astype(int).ravel()
    iy = (np.round(py)[:, None] + dy[None, :]).astype(int).ravel()
    ok = (ix >= 0) & (ix < width) & (iy >= 0) & (iy < height)
    img[iy[ok], ix[ok]] = (202, 152, 101)
    return img


# ====================================================================== registry
NATIVE_ENVS: dict[str, Callable[..., TorchVectorEnv]] = {
    "CartPole-v0": TorchCartPoleV0,
    "CartPole-v1": TorchCartPoleV1,
    "Pendulum-v1": TorchPendulumV1,
    "reinforce/CartPoleSwingUp-v0": TorchCartPoleSwingUpV0,
    "reinforce/CartPoleSwingUp-v1": TorchCartPoleSwingUpV1,
}


def make_native(
    env_id: str,
    num_envs: int,
    *,
    device: str | torch.device = "cpu",
    seed: int | None = None,
    **kw: Any,
) -> TorchVectorEnv:
    """Build the native torch implementation of ``env_id`` with ``num_envs`` copies.

    Extra keyword arguments (``max_episode_steps``, ``dtype``, ``render_mode``, ``g`` for
    Pendulum) go to the constructor.  Raises ``ValueError`` for ids without a native version.
    """
    try:
        ctor = NATIVE_ENVS[env_id]
    except KeyError:
        raise ValueError(
            f"No native torch implementation for env id {env_id!r}; supported ids: "
            + ", ".join(sorted(NATIVE_ENVS))
            + ". Use a Gymnasium vector env (e.g. gymnasium.make_vec) for other environments."
        ) from None
    return ctor(num_envs, device=device, seed=seed, **kw)
