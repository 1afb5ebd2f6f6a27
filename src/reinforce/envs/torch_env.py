"""`TorchVectorEnv`: the base of the native batched envs, whose whole state lives in torch tensors.

A subclass supplies the physics of one env family (spaces, reset distribution, observation, one
step); this class holds the state, the step counters and the generator, and does what every family
shares: the time limit, SAME_STEP autoreset, state capture and rendering of env 0.

Conventions of every native env:

* Autoreset is SAME_STEP: for an env whose episode ended in this step the returned observation is
  already the first one of the next episode; the true last observation is in `info["final_obs"]`
  (a full (E, obs_dim) tensor equal to `obs` wherever the env did not end). On CUDA (any non-CPU
  device) the reset is a `torch.where` selection: fresh initial states are drawn for *all* envs
  every step and selected where `terminated | truncated`, so the step never synchronises with the
  host. On CPU, where nothing is gained by avoiding a sync, fresh states are drawn only for the envs
  that ended (found with `nonzero`) and written over their next state, about twice as fast at large
  num_envs. Either way a seed fixes the run; the two devices consume their random streams
  differently, so CPU and CUDA runs of one seed differ.
* `truncated` is True only when the time limit was hit and the env did not terminate in the same
  step. `max_episode_steps=None` disables the limit.
* State, observations and rewards use `dtype` (default float32; float64 for tight parity checks
  against the NumPy references); the observation space's dtype follows it.
* One `torch.Generator` per env object (on its device) drives all randomness; `seed=` at
  construction or `reset(seed=...)` seeds it. `get_state` / `set_state` capture and restore physics,
  step counters and generator exactly.
* Returned tensors are fresh each step (never views of the internal state or a reused buffer), so
  callers may keep or modify them without copying.
"""
from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

__all__ = ["ENV_DEFAULT", "TorchVectorEnv", "constant"]


def constant(values: Any, dtype: torch.dtype, device: str | torch.device) -> torch.Tensor:
    """A constant tensor for a physics function's cache (made once per dtype and device): a normal tensor even
    when first asked for inside the rollout's inference mode, where autograd could not save an inference one."""
    with torch.inference_mode(False):
        return torch.tensor(values, dtype=dtype, device=device)


class _EnvDefault:
    """Sentinel type: "use the environment's own default episode length"."""

    def __repr__(self) -> str:  # shows up in signatures and docs
        return "<env default>"


ENV_DEFAULT: Any = _EnvDefault()

_NP_DTYPES = {torch.float32: np.float32, torch.float64: np.float64, torch.float16: np.float16}


class TorchVectorEnv(gymnasium.vector.VectorEnv):
    """Batched env with all state in torch tensors and SAME_STEP autoreset (see the module docstring).

    Subclasses set `env_id`, `default_max_episode_steps` and `state_dim` and implement
    `_build_spaces`, `_sample_reset`, `_observe`, `_physics` and `_draw`. The physics state is an
    (E, state_dim) tensor of `dtype`, replaced (never modified in place) every step, so snapshots
    and returned tensors are never aliased.
    """

    metadata: dict[str, Any] = {
        "autoreset_mode": AutoresetMode.SAME_STEP,
        "render_modes": ["rgb_array"],
        "render_fps": 50,
    }

    env_id: str = ""
    default_max_episode_steps: int | None = None
    state_dim: int = 0
    clip_actions: bool = False  # clip Box actions to the space before the physics (set by make_vec_env)

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
        self.seed = None if seed is None else int(seed)  # VecEnv: the seed of the first reset
        # Auto-reset by selection (no host sync; a CUDA graph can hold the step): the accelerators' way,
        # and the CPU's under a graphed epoch (reinforce.run.graphed), which sets it.
        self.select_resets = self.device.type != "cpu"

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
        self._renderer: Any = None  # a family's drawing helper, built on the first render()

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
        """Fresh initial states for `n` envs (default: all), (n, state_dim) of `self.dtype`."""
        raise NotImplementedError

    def _observe(self, state: torch.Tensor) -> torch.Tensor:
        """Observation (E, obs_dim), a new tensor (never a view of `state`)."""
        raise NotImplementedError

    def _physics(
        self, state: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step of all envs: (next_state (E, D), final_obs (E, obs_dim), reward (E,), terminated (E,) bool).

        All new tensors; `final_obs` must not share memory with `next_state` and must equal
        `_observe(next_state)` exactly (the CPU step copies it for the envs that did not end).
        """
        raise NotImplementedError

    def _draw(self, s0: np.ndarray) -> np.ndarray:
        """RGB frame (H, W, 3) uint8 of one float64 state (state_dim,)."""
        raise NotImplementedError

    def _prepare_actions(self, actions: Any) -> torch.Tensor:
        """Continuous actions -> (E,) tensor of `self.dtype` on device. The physics clips as Gymnasium's env does
        (MountainCarContinuous then charges the unclipped action); with `clip_actions` (what make_vec_env sets, the
        library's VecEnv contract) the actions are clipped to the Box first, as the Gymnasium backends' are."""
        a = torch.as_tensor(actions, device=self.device).detach().to(self.dtype).reshape(self.num_envs)
        if self.clip_actions:
            a = a.clamp(float(self.single_action_space.low[0]), float(self.single_action_space.high[0]))
        return a

    def _signed_actions(self, actions: Any) -> torch.Tensor:
        """Three-way discrete actions {0, 1, 2}, (E,) or (E, 1) -> (E,) tensor of `self.dtype` in {-1, 0, +1}.

        Any int / float / bool dtype; floats are rounded, and out-of-range actions become the nearest
        valid one (clamped: a range check would cost a host sync every step).
        """
        a = torch.as_tensor(actions, device=self.device).detach().reshape(self.num_envs)
        # copy=True: the in-place ops below must never modify the caller's tensor
        return a.to(self.dtype, copy=True).round_().clamp_(0.0, 2.0).sub_(1.0)

    # ------------------------------------------------------------------ gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Reset all envs (or, with `options={"reset_mask": bool (E,)}`, only the masked ones)."""
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
        """Step all envs; ended envs are auto-reset in this same call (see the module docstring)."""
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

        if not self.select_resets:
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
        """Snapshot for exact resume: `state` (E, state_dim), `steps` (E,) int32, `rng` (uint8)."""
        if self._state is None:
            raise RuntimeError(f"{type(self).__name__}: call reset() before get_state()")
        return {
            "state": self._state.clone(),
            "steps": self._steps.clone(),
            "rng": self._gen.get_state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a snapshot from `get_state` (`rng` is optional)."""
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

    def state_dict(self) -> dict[str, Any] | None:
        """VecEnv: `{"kind": "full", "state": get_state()}`, or None before the first reset.

        "full": physics, step counters and generator, so a resumed run continues exactly.
        """
        if self._state is None:
            return None
        return {"kind": "full", "state": self.get_state()}

    def load_state_dict(self, state: dict[str, Any] | None) -> str:
        """VecEnv: restore `state_dict()`'s result; returns "full", or "none" for None or another kind."""
        if state is None or state.get("kind") != "full":
            return "none"
        self.set_state(state["state"])
        return "full"

    @property
    def state(self) -> torch.Tensor | None:
        """Current physics state (E, state_dim); the live tensor, do not modify it in place."""
        return self._state

    @property
    def elapsed_steps(self) -> torch.Tensor:
        """Steps taken in the current episode of each env, (E,) int32."""
        return self._steps

    # ------------------------------------------------------------------ rendering
    def render(self) -> np.ndarray | None:
        """RGB array (H, W, 3) uint8 of env 0 (whatever `render_mode` is); None before reset."""
        if self._state is None:
            return None
        return self._draw(self._state[0].detach().to("cpu", torch.float64).numpy())

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
