"""Native batched environments whose whole state lives in torch tensors.

Every environment here steps all ``num_envs`` copies with a fixed handful of
tensor ops -- no Python loop over environments and no host synchronisation in
:meth:`TorchVectorEnv.step` -- so the same code runs on CPU or CUDA and scales
to tens of thousands of environments.

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
  On CUDA (and any non-CPU device) the reset is a ``torch.where`` selection:
  fresh initial states are drawn for *all* envs every step and selected where
  ``terminated | truncated``, so the step never synchronises with the host. On
  CPU, where nothing is gained by avoiding a sync, fresh states are drawn only
  for the envs that ended (found with ``nonzero``) and written in place of
  their next state -- about twice as fast at large ``num_envs``. Either way the
  run is deterministic for a given seed; the two devices consume their random
  streams differently, so CPU and CUDA runs of one seed differ.
* ``truncated`` is ``True`` only when the time limit was hit and the env did
  not terminate in the same step.  ``max_episode_steps=None`` disables it.
* The physics state, observations and rewards use ``dtype`` (default
  ``torch.float32``; pass ``torch.float64`` for tight parity checks against the
  NumPy references).  The observation space's dtype follows it.
* One ``torch.Generator`` per env object (on the env's device) drives all
  randomness; ``seed=`` at construction or ``reset(seed=...)`` seeds it.
  :meth:`TorchVectorEnv.get_state` / :meth:`TorchVectorEnv.set_state`
  capture and restore physics, step counters and generator state exactly.
* Returned tensors are fresh each step (never views of the internal state or a
  reused buffer), so callers may keep or modify them without copying.
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
    """Sentinel type: "use the environment's own default episode length"."""

    def __repr__(self) -> str:  # shows up in signatures / docs
        return "<env default>"


ENV_DEFAULT: Any = _EnvDefault()

_NP_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16}


class TorchVectorEnv(gymnasium.vector.VectorEnv):
    """Base class: batched env with all state in torch tensors and same-step autoreset.

    Subclasses set the class attributes ``env_id``, ``default_max_episode_steps`` and
    ``state_dim`` and implement :meth:`_build_spaces`, :meth:`_sample_reset`,
    :meth:`_observe`, :meth:`_physics` (and :meth:`_draw` for rendering).

    The physics state is an ``(E, state_dim)`` tensor of ``dtype`` that is replaced (never
    modified in place) every step, so snapshots and returned tensors are never aliased.
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

        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self.dtype = dtype
        self.render_mode = render_mode

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

        self._state: torch.Tensor | None = None  # (E, state_dim), set by reset / set_state
        self._steps = torch.zeros(self.num_envs, dtype=torch.int32, device=self.device)
        self.max_episode_steps = max_episode_steps  # property: also sets the 0-dim self._limit

        self._renderer: Any = None

    @property
    def max_episode_steps(self) -> int | None:
        """Time limit (steps per episode) or None for no limit; may be changed between steps."""
        return self._max_episode_steps

    @max_episode_steps.setter
    def max_episode_steps(self, value: int | None) -> None:
        if value is not None and int(value) < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None, got {value}")
        self._max_episode_steps = None if value is None else int(value)
        # Comparing against a 0-dim tensor of the same dtype avoids a per-step scalar
        # conversion (a measurable share of a step at small num_envs).
        self._limit = torch.tensor(self._max_episode_steps or 0, dtype=torch.int32, device=self.device)

    # ------------------------------------------------------------------ subclass hooks
    def _build_spaces(self, np_dtype: type) -> tuple[spaces.Space, spaces.Space]:
        raise NotImplementedError

    def _sample_reset(self, n: int | None = None) -> torch.Tensor:
        """Fresh initial states for ``n`` envs (default: all), (n, state_dim) of ``self.dtype``."""
        raise NotImplementedError

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        """Observation (E, obs_dim), a new tensor (never a view of ``state``)."""
        raise NotImplementedError

    def _physics(
        self, state: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step of all envs.

        Returns ``(next_state (E, D), final_obs (E, obs_dim), reward (E,), terminated (E,) bool)``,
        all new tensors; ``final_obs`` must not share memory with ``next_state`` and must equal
        ``_observe(next_state)`` exactly (the CPU step copies it for the envs that did not end).
        """
        raise NotImplementedError

    def _prepare_actions(self, actions: Any) -> torch.Tensor:
        """Continuous actions -> (E,) tensor of ``self.dtype`` on device (clipping is the physics' job)."""
        a = torch.as_tensor(actions, device=self.device)
        return a.detach().to(self.dtype).reshape(self.num_envs)

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
            self._state = torch.where(mask.unsqueeze(1), fresh, self._state)
            self._steps = self._steps.masked_fill(mask, 0)
        return self._observe(self._state), {}

    def step(
        self, actions: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Step all envs; ended envs are auto-reset in this same call (see module docstring)."""
        if self._state is None:
            raise RuntimeError(f"{type(self).__name__}: call reset() before step()")
        stepped, final_obs, reward, terminated = self._physics(self._state, self._prepare_actions(actions))

        steps = self._steps + 1
        if self.max_episode_steps is None:
            done = terminated
            truncated = torch.zeros_like(terminated)
        else:
            done = (steps >= self._limit).logical_or_(terminated)
            truncated = torch.logical_xor(done, terminated)  # time limit hit and not terminated

        if self.device.type == "cpu":
            # Draw fresh states only for the envs that ended (a few per step) and write them over
            # `stepped`, which the physics made fresh for us. Nothing to sync with on CPU.
            ended = done.nonzero().squeeze(1)
            obs = final_obs.clone()
            if ended.numel():
                fresh = self._sample_reset(ended.numel())
                stepped[ended] = fresh
                obs[ended] = self._observe(fresh)
                steps.masked_fill_(done, 0)
            self._state, self._steps = stepped, steps
            return obs, reward, terminated, truncated, {"final_obs": final_obs}
        # Accelerators: select between next and fresh states for all envs -- no host sync.
        self._state = torch.where(done.unsqueeze(1), self._sample_reset(), stepped)
        self._steps = steps.masked_fill_(done, 0)
        return self._observe(self._state), reward, terminated, truncated, {"final_obs": final_obs}

    # ------------------------------------------------------------------ state capture
    def get_state(self) -> dict[str, torch.Tensor]:
        """Snapshot for exact resume: ``state`` (E, state_dim), ``steps`` (E,) int32, ``rng`` (uint8)."""
        if self._state is None:
            raise RuntimeError(f"{type(self).__name__}: call reset() before get_state()")
        return {
            "state": self._state.clone(),
            "steps": self._steps.clone(),
            "rng": self._gen.get_state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from :meth:`get_state` (``rng`` is optional)."""
        s = torch.as_tensor(state["state"], device=self.device, dtype=self.dtype).detach()
        if s.shape != (self.num_envs, self.state_dim):
            raise ValueError(
                f"state has shape {tuple(s.shape)}, expected {(self.num_envs, self.state_dim)}"
            )
        steps = torch.as_tensor(state["steps"], device=self.device, dtype=torch.int32)
        if steps.shape != (self.num_envs,):
            raise ValueError(f"steps has shape {tuple(steps.shape)}, expected {(self.num_envs,)}")
        rng = state.get("rng")
        if rng is not None:
            self._gen.set_state(torch.as_tensor(rng, dtype=torch.uint8, device="cpu"))
        self._state = s.clone(memory_format=torch.contiguous_format)
        self._steps = steps.clone()

    @property
    def state(self) -> torch.Tensor | None:
        """Current physics state (E, state_dim); the live tensor, do not modify it in place."""
        return self._state

    @property
    def elapsed_steps(self) -> torch.Tensor:
        """Steps taken in the current episode of each env, (E,) int32."""
        return self._steps

    @property
    def generator(self) -> torch.Generator:
        return self._gen

    # ------------------------------------------------------------------ rendering
    def render(self) -> np.ndarray | None:
        """RGB array (H, W, 3) uint8 of env 0 (whatever ``render_mode`` is); None before reset."""
        if self._state is None:
            return None
        return self._draw(self._state[0].detach().to("cpu", torch.float64).numpy())

    def _draw(self, s0: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def close_extras(self, **kwargs: Any) -> None:
        if self._renderer is not None and hasattr(self._renderer, "close"):
            self._renderer.close()
        self._renderer = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env_id}, num_envs={self.num_envs}, device={self.device})"

    # ------------------------------------------------------------------ helpers
    def _scalar(self, value: float) -> torch.Tensor:
        return torch.tensor(value, dtype=self.dtype, device=self.device)

    def _row(self, values: list[float]) -> torch.Tensor:
        """(state_dim,) constant on device, broadcasting against (E, state_dim)."""
        return torch.tensor(values, dtype=self.dtype, device=self.device)

    def _empty(self, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.empty(shape, device=self.device, dtype=self.dtype)


# ====================================================================== CartPole
class TorchCartPoleV1(TorchVectorEnv):
    """Gymnasium ``CartPole-v1`` dynamics (Euler integrator), 500 step limit.

    Actions: (E,) or (E, 1) in {0, 1}, int / float / bool dtype (1 pushes right).
    Observation = state = [x, x_dot, theta, theta_dot].  Reward 1 every step, incl. the terminating one.
    Reset: all four uniform in (-0.05, 0.05).
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

    def __init__(self, num_envs: int, **kwargs: Any) -> None:
        super().__init__(num_envs, **kwargs)
        self._force_right = self._scalar(self.force_mag)
        self._force_left = self._scalar(-self.force_mag)
        self._x_thr = self._scalar(self.x_threshold)
        self._theta_thr = self._scalar(self.theta_threshold_radians)

    def _build_spaces(self, np_dtype):
        high = np.array(
            [self.x_threshold * 2, np.inf, self.theta_threshold_radians * 2, np.inf], dtype=np_dtype
        )
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
        x, x_dot, theta, theta_dot = state.unbind(1)
        pml, tm = self.polemass_length, self.total_mass
        force = torch.where(right, self._force_right, self._force_left)
        costheta = torch.cos(theta)
        sintheta = torch.sin(theta)
        # gymnasium: temp = (force + pml * theta_dot**2 * sintheta) / total_mass
        temp = torch.addcmul(force, theta_dot.square(), sintheta, value=pml).div_(tm)
        # thetaacc = (g * sin - cos * temp) / (length * (4/3 - masspole * cos**2 / total_mass))
        denom = costheta.square().mul_(-self.masspole * self.length / tm).add_(4.0 / 3.0 * self.length)
        thetaacc = torch.addcmul(sintheta.mul_(self.gravity), costheta, temp, value=-1.0).div_(denom)
        # xacc = temp - pml * thetaacc * cos / total_mass
        xacc = torch.addcmul(temp, thetaacc, costheta, value=-pml / tm)
        # Euler: positions advance with the old velocities, velocities with the accelerations.
        # Written column by column into one new tensor (no stack of a derivative tensor).
        nxt = torch.empty_like(state)
        tau = self.tau
        torch.add(x, x_dot, alpha=tau, out=nxt[:, 0])
        torch.add(x_dot, xacc, alpha=tau, out=nxt[:, 1])
        torch.add(theta, theta_dot, alpha=tau, out=nxt[:, 2])
        torch.add(theta_dot, thetaacc, alpha=tau, out=nxt[:, 3])
        terminated = (nxt[:, 0].abs() > self._x_thr).logical_or_(nxt[:, 2].abs() > self._theta_thr)
        reward = torch.ones(self.num_envs, dtype=self.dtype, device=self.device)
        return nxt, nxt.clone(), reward, terminated

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
    """Gymnasium ``Pendulum-v1`` (``g=10`` by default), 200 step limit, never terminates.

    State [θ, θ_dot]; actions (E, 1) or (E,) torques, clipped to [-2, 2];
    observation [cos θ, sin θ, θ_dot]; reward -(angle_normalize(θ)² + .1 θ_dot² + .001 u²)
    on the pre-step state; reset θ ~ U(-π, π), θ_dot ~ U(-1, 1).
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
        self._reset_high = self._row([math.pi, 1.0])
        self._last_u: torch.Tensor | None = None

    def _build_spaces(self, np_dtype):
        high = np.array([1.0, 1.0, self.max_speed], dtype=np_dtype)
        obs_space = spaces.Box(-high, high, dtype=np_dtype)
        act_space = spaces.Box(-self.max_torque, self.max_torque, shape=(1,), dtype=np.float32)
        return obs_space, act_space

    def _sample_reset(self, n: int | None = None) -> torch.Tensor:
        u = self._empty((self.num_envs if n is None else n, 2)).uniform_(-1.0, 1.0, generator=self._gen)
        return u.mul_(self._reset_high)  # θ ~ U(-π, π), θ_dot ~ U(-1, 1)

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        th = state[:, 0]
        return torch.stack((torch.cos(th), torch.sin(th), state[:, 1]), dim=1)

    def _physics(self, state, a):
        th, thdot = state[:, 0], state[:, 1]
        g, m, l, dt = self.g, self.m, self.l, self.dt
        u = a.clamp(-self.max_torque, self.max_torque)
        self._last_u = u  # for render()
        # costs = angle_normalize(th)**2 + .1 * thdot**2 + .001 * u**2
        costs = torch.remainder(th + math.pi, 2 * math.pi).sub_(math.pi).square_()
        costs = costs.addcmul_(thdot, thdot, value=0.1).addcmul_(u, u, value=0.001)
        # newthdot = clip(thdot + (3g/(2l) sin(th) + 3/(m l²) u) dt, ±max_speed); newth = th + newthdot dt
        newthdot = torch.sin(th).mul_(3 * g / (2 * l)).add_(u, alpha=3.0 / (m * l**2)).mul_(dt).add_(thdot)
        newthdot = newthdot.clamp_(-self.max_speed, self.max_speed)
        newth = torch.add(th, newthdot, alpha=dt)
        nxt = torch.stack((newth, newthdot), dim=1)
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
    """Cart-pole swing-up ``reinforce/CartPoleSwingUp-v0``: reward ``cos θ``, 500 step limit.

    State [x, x_dot, θ, θ_dot] with θ = 0 upright; reset ~ Normal((0, 0, π, 0), 0.2).
    Actions (E, 1) or (E,): force = 10 * clip(a, -1, 1); explicit Euler with dt = 0.01.
    Observation [x, x_dot, cos θ, sin θ, θ_dot]; reward on the next state; terminates when |x| > 2.4.
    """

    env_id = "reinforce/CartPoleSwingUp-v0"
    default_max_episode_steps = 500
    state_dim = 4

    # Same constants as reinforce.envs.swingup.DEFAULT_PARAMS (checked by the parity tests).
    gravity = 9.82
    masscart = 0.5
    masspole = 0.5
    total_mass = masscart + masspole
    pole_length = 0.6  # full length
    force_mag = 10.0
    dt = 0.01
    friction = 0.1
    x_threshold = 2.4
    init_mean = (0.0, 0.0, math.pi, 0.0)
    init_std = 0.2

    def __init__(self, num_envs: int, **kwargs: Any) -> None:
        super().__init__(num_envs, **kwargs)
        self._reset_mean = self._row(list(self.init_mean))
        self._x_thr = self._scalar(self.x_threshold)

    def _build_spaces(self, np_dtype):
        high = np.array([2 * self.x_threshold, np.inf, 1.0, 1.0, np.inf], dtype=np_dtype)
        obs_space = spaces.Box(-high, high, dtype=np_dtype)
        act_space = spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        return obs_space, act_space

    def _sample_reset(self, n: int | None = None) -> torch.Tensor:
        z = self._empty((self.num_envs if n is None else n, 4)).normal_(0.0, self.init_std, generator=self._gen)
        return z.add_(self._reset_mean)

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        th = state[:, 2]
        return torch.stack((state[:, 0], state[:, 1], torch.cos(th), torch.sin(th), state[:, 3]), dim=1)

    def _reward(self, cos_th: torch.Tensor) -> torch.Tensor:
        return cos_th.clone()

    def _physics(self, state, a):
        x_dot, th, th_dot = state[:, 1], state[:, 2], state[:, 3]
        m, l, M, g, f = self.masspole, self.pole_length, self.total_mass, self.gravity, self.friction
        u = a.clamp(-1.0, 1.0).mul_(self.force_mag)
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
        dt = self.dt
        nxt = torch.empty_like(state)
        final_obs = self._empty((state.shape[0], 5))
        torch.add(state[:, 0], x_dot, alpha=dt, out=nxt[:, 0])
        torch.add(x_dot, xdd, alpha=dt, out=nxt[:, 1])
        torch.add(th, th_dot, alpha=dt, out=nxt[:, 2])
        torch.add(th_dot, thdd, alpha=dt, out=nxt[:, 3])
        final_obs[:, 0:2] = nxt[:, 0:2]
        final_obs[:, 4] = nxt[:, 3]
        ncos = torch.cos(nxt[:, 2], out=final_obs[:, 2])
        torch.sin(nxt[:, 2], out=final_obs[:, 3])
        terminated = nxt[:, 0].abs() > self._x_thr
        return nxt, final_obs, self._reward(ncos), terminated

    def _draw(self, s0):
        if self._renderer is None:
            try:
                from reinforce.envs.swingup import CartPoleSwingUpEnv
            except ImportError:  # pragma: no cover - swingup module absent
                return _draw_swingup(s0, self.x_threshold, self.pole_length)
            self._renderer = CartPoleSwingUpEnv(render_mode="rgb_array")
        self._renderer.state = s0
        return self._renderer.render()


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
    # Pole: θ = 0 is upright, tip at (x - l sin θ, l cos θ) as in reinforce.envs.swingup
    # (screen y grows downwards).
    n = 200
    t = np.linspace(0.0, 1.0, n)
    px = cx - t * pole_length * scale * math.sin(th)
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

    Extra keyword arguments (``max_episode_steps``, ``dtype``, ``render_mode``; ``g`` for
    Pendulum) go to the constructor.  Raises ``ValueError`` for ids without a native version.
    """
    try:
        ctor = NATIVE_ENVS[env_id]
    except KeyError:
        raise ValueError(
            f"No native torch implementation of env id {env_id!r}; supported ids: "
            + ", ".join(NATIVE_ENVS)
            + ". Use a Gymnasium vector env (e.g. gymnasium.make_vec) for other ids."
        ) from None
    return ctor(num_envs, device=device, seed=seed, **kw)
