"""CartPole swing-up: the pole starts hanging down and must be swung up and balanced.

Dynamics, constants, observation and rewards follow the widely used
``gym-cartpole-swingup`` package (v0: reward ``cos θ``; v1: ``(1 + cos θ) / 2``),
ported to Gymnasium >= 1.0 with a float64 internal state.

Conventions (SI units throughout):

* state ``(x, x_dot, theta, theta_dot)``: cart position [m], cart velocity [m/s],
  pole angle [rad] (0 = upright, pi = hanging down; the tip sits at
  ``(x - l sin θ, l cos θ)``), pole angular velocity [rad/s].
* observation (float32): ``[x, x_dot, cos θ, sin θ, theta_dot]``.
* action: one float in [-1, 1] (values outside are clipped), scaled to a
  horizontal force of ``force_mag * a`` newtons on the cart.

The transition is exposed as the pure function :func:`swingup_step` together with
the frozen :class:`SwingUpParams`, which the batched torch env
(:mod:`reinforce.envs.swingup_torch`) takes too, so the constants are written once here.
Drawing lives in :mod:`reinforce.envs.render`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import ArrayLike, NDArray

from reinforce.envs.render import swingup_frame

__all__ = [
    "RewardVersion",
    "SwingUpParams",
    "DEFAULT_PARAMS",
    "swingup_step",
    "swingup_reward",
    "swingup_obs",
    "swingup_spaces",
    "CartPoleSwingUpEnv",
]

RewardVersion = Literal["v0", "v1"]


@dataclass(frozen=True)
class SwingUpParams:
    """Physical and episode constants of the swing-up cart-pole (SI units)."""

    cart_mass: float = 0.5  # kg
    pole_mass: float = 0.5  # kg
    pole_length: float = 0.6  # m, full length (centre of mass at half of it)
    gravity: float = 9.82  # m/s^2 (value used by the reference package, not 9.81)
    force_mag: float = 10.0  # N applied for action = 1
    dt: float = 0.01  # s per environment step (one explicit-Euler step)
    friction: float = 0.1  # N·s/m, viscous friction on the cart velocity
    x_threshold: float = 2.4  # m, episode terminates when |x| exceeds this
    init_mean: tuple[float, float, float, float] = (0.0, 0.0, math.pi, 0.0)
    init_std: float = 0.2  # same std for all four state components

    @property
    def total_mass(self) -> float:
        """Cart plus pole mass [kg]."""
        return self.cart_mass + self.pole_mass


DEFAULT_PARAMS = SwingUpParams()


def _accelerations(
    sin_t: Any, cos_t: Any, x_dot: Any, theta_dot: Any, u: Any, params: SwingUpParams
) -> tuple[Any, Any]:
    """Cart [m/s^2] and pole [rad/s^2] accelerations; plain arithmetic, so it works
    on Python floats (fast scalar path) and on numpy arrays (batched path) alike."""
    m = params.pole_mass
    l = params.pole_length  # noqa: E741  (physics notation)
    big_m = params.total_mass
    g = params.gravity
    f = params.friction
    # Closed-form accelerations of the cart and of a uniform rod pivoting on it
    # (Lagrangian with rod inertia m l^2 / 12 about its centre), with viscous cart friction.
    x_acc = (
        -2.0 * m * l * theta_dot**2 * sin_t
        + 3.0 * m * g * sin_t * cos_t
        + 4.0 * u
        - 4.0 * f * x_dot
    ) / (4.0 * big_m - 3.0 * m * cos_t**2)
    theta_acc = (
        -3.0 * m * l * theta_dot**2 * sin_t * cos_t
        + 6.0 * big_m * g * sin_t
        + 6.0 * (u - f * x_dot) * cos_t
    ) / (4.0 * l * big_m - 3.0 * m * l * cos_t**2)
    return x_acc, theta_acc


def swingup_step(
    state: ArrayLike, force: ArrayLike, params: SwingUpParams = DEFAULT_PARAMS
) -> NDArray[np.float64]:
    """Advance the cart-pole by one explicit-Euler step of ``params.dt`` seconds.

    Args:
        state: ``(4,)`` or ``(..., 4)`` array of
            ``(x [m], x_dot [m/s], theta [rad], theta_dot [rad/s])``.
        force: horizontal force on the cart [N], already clipped/scaled
            (``force_mag * clip(action, -1, 1)``); broadcasts against ``state[..., 0]``.
        params: physical constants.

    Returns:
        The next state, float64, same leading shape as ``state``.
    """
    s = np.asarray(state, dtype=np.float64)
    dt = params.dt
    # Explicit Euler: positions advance with the *old* velocities (as in the
    # reference implementation; semi-implicit Euler would change trajectories).
    # theta is deliberately not wrapped: observations only use cos/sin of it.
    if s.shape == (4,) and np.ndim(force) == 0:
        # Single env: Python floats + math are ~5x faster than numpy scalars here.
        x, x_dot, theta, theta_dot = s.tolist()
        x_acc, theta_acc = _accelerations(
            math.sin(theta), math.cos(theta), x_dot, theta_dot, float(force), params
        )
        return np.array(
            [x + x_dot * dt, x_dot + x_acc * dt, theta + theta_dot * dt, theta_dot + theta_acc * dt],
            dtype=np.float64,
        )
    x, x_dot, theta, theta_dot = s[..., 0], s[..., 1], s[..., 2], s[..., 3]
    u = np.asarray(force, dtype=np.float64)
    x_acc, theta_acc = _accelerations(np.sin(theta), np.cos(theta), x_dot, theta_dot, u, params)
    return np.stack(
        [x + x_dot * dt, x_dot + x_acc * dt, theta + theta_dot * dt, theta_dot + theta_acc * dt],
        axis=-1,
    )


def swingup_reward(
    theta: ArrayLike, reward_version: RewardVersion = "v0"
) -> np.float64 | NDArray[np.float64]:
    """Per-step reward from the pole angle [rad] of the *next* state.

    ``"v0"``: ``cos θ`` in [-1, 1]; ``"v1"``: ``(1 + cos θ) / 2`` in [0, 1].
    Returns a numpy scalar for scalar input, an array otherwise.
    """
    c = np.cos(theta)
    if reward_version == "v0":
        return c
    if reward_version == "v1":
        return (1.0 + c) / 2.0
    raise ValueError(f"reward_version must be 'v0' or 'v1', got {reward_version!r}")


def swingup_spaces(
    params: SwingUpParams = DEFAULT_PARAMS, dtype: type = np.float32
) -> tuple[spaces.Box, spaces.Box]:
    """(observation space (5,) of `dtype`, action space (1,) float32 in [-1, 1]) of the swing-up."""
    # x can overshoot x_threshold by one step before termination, so bound it
    # at twice the threshold (as classic CartPole does); velocities are unbounded.
    high = np.array([2.0 * params.x_threshold, np.inf, 1.0, 1.0, np.inf], dtype=dtype)
    return spaces.Box(-high, high, dtype=dtype), spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)


def swingup_obs(state: ArrayLike) -> NDArray[np.float32]:
    """Observation ``[x, x_dot, cos θ, sin θ, theta_dot]`` (float32) from a ``(..., 4)`` state."""
    s = np.asarray(state, dtype=np.float64)
    theta = s[..., 2]
    return np.stack(
        [s[..., 0], s[..., 1], np.cos(theta), np.sin(theta), s[..., 3]], axis=-1
    ).astype(np.float32)


class CartPoleSwingUpEnv(gym.Env[NDArray[np.float32], NDArray[np.float32]]):
    """Cart-pole swing-up task (Gymnasium API).

    The pole starts near hanging down (``θ ~ N(π, 0.2²)``, other components
    ``~ N(0, 0.2²)``). Each step applies ``force_mag * clip(a, -1, 1)`` newtons for
    ``dt`` seconds; the reward is computed on the resulting state. The episode
    terminates (no extra penalty) once ``|x| > x_threshold``; the time limit comes
    from the registration's ``max_episode_steps`` (500), not from this class.

    ``reset(options={"state": (x, x_dot, theta, theta_dot)})`` sets an exact start
    state, which tests and parity checks use.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 100}  # 1 / dt

    def __init__(
        self,
        reward_version: RewardVersion = "v0",
        render_mode: str | None = None,
        params: SwingUpParams | None = None,
    ) -> None:
        if reward_version not in ("v0", "v1"):
            raise ValueError(
                f"reward_version must be 'v0' or 'v1', got {reward_version!r}"
            )
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']} or None, "
                f"got {render_mode!r}"
            )
        self.reward_version: RewardVersion = reward_version
        self.render_mode = render_mode
        self.params = params if params is not None else DEFAULT_PARAMS

        self.observation_space, self.action_space = swingup_spaces(self.params)
        self.state: NDArray[np.float64] | None = None  # (x, x_dot, theta, theta_dot)

    # ------------------------------------------------------------------ API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[NDArray[np.float32], dict[str, Any]]:
        """Sample (or, with ``options["state"]``, set) the start state; returns ``(obs, {})``."""
        super().reset(seed=seed)
        if options is not None and "state" in options:
            state = np.asarray(options["state"], dtype=np.float64).reshape(4).copy()
        else:
            p = self.params
            state = self.np_random.normal(
                loc=np.asarray(p.init_mean, dtype=np.float64), scale=p.init_std
            ).astype(np.float64)
        self.state = state
        return swingup_obs(self.state), {}

    def step(
        self, action: ArrayLike
    ) -> tuple[NDArray[np.float32], float, bool, bool, dict[str, Any]]:
        """Apply ``action`` (shape ``(1,)``, clipped to [-1, 1]) for ``dt`` seconds."""
        if self.state is None:
            raise RuntimeError("Call reset() before step().")
        a = np.asarray(action, dtype=np.float64)
        if a.size != 1:
            raise ValueError(f"action must contain exactly one value, got shape {a.shape}")
        # Out-of-range actions are clipped rather than rejected, as in the reference env.
        force = self.params.force_mag * min(max(float(a.reshape(())), -1.0), 1.0)
        self.state = swingup_step(self.state, force, self.params)
        x, x_dot, theta, theta_dot = self.state.tolist()
        cos_t = math.cos(theta)
        # Reward and termination are evaluated on the state *after* the step.
        reward = cos_t if self.reward_version == "v0" else (1.0 + cos_t) / 2.0
        terminated = abs(x) > self.params.x_threshold
        obs = np.array([x, x_dot, cos_t, math.sin(theta), theta_dot], dtype=np.float32)
        # Truncation is left to the TimeLimit wrapper added by gymnasium.make.
        return obs, reward, terminated, False, {}

    def render(self) -> NDArray[np.uint8] | None:
        """Return an ``(H, W, 3)`` uint8 frame in ``rgb_array`` mode, else ``None``."""
        if self.render_mode is None:
            gym.logger.warn(
                "render() called without render_mode; pass render_mode='rgb_array'."
            )
            return None
        if self.state is None:
            return None
        return swingup_frame(self.state, self.params.x_threshold, self.params.pole_length)
