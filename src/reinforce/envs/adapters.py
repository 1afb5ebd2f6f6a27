"""Adapters from numpy vector envs (Gymnasium's, EnvPool's) to the torch `VecEnv` contract of
`reinforce.envs.vector`: SAME_STEP autoreset, tensors on `device` (observations as reinforce.observations
encodes them: (E, D) float32 vectors or (E, *shape) uint8/bool images), a full `info["final_obs"]`,
`info["action_mask"]` (E, n) bool when the env gives action masks (in info or in a Dict observation),
and `state_dict` / `load_state_dict` as far as the backend allows.
Actions go to the env through `env_actions`, the one place where Box actions are clipped.
"""
from __future__ import annotations

import json
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from reinforce.observations import batch_one, encode_batch, mask_of, observation_spec
from reinforce.spaces import action_spec

__all__ = ["env_actions", "GymnasiumVecEnv", "EnvPoolVecEnv", "SAME_STEP_HINT"]

Transition = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]

SAME_STEP_HINT = (
    "build it with gym.make_vec(env_id, vector_kwargs={'autoreset_mode': gym.vector.AutoresetMode.SAME_STEP})"
)


def env_actions(actions: torch.Tensor, space: gym.Space) -> np.ndarray:
    """The policy's actions (E,) or (E, flat) as the numpy array the env takes, (E, *space.shape):
    int64 for Discrete and MultiDiscrete, the space's dtype (int8) 0/1 for MultiBinary, float32 for Box.

    The one place where Box actions are clipped to the space's bounds: only on the way to the env,
    so the unclipped sample stays what the rollout stores and scores.
    """
    act = actions.detach().cpu().numpy()
    act = act.reshape(act.shape[0], *space.shape)
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        return act.astype(np.int64)  # a copy: the env may keep it, the tensor is not ours to share
    if isinstance(space, gym.spaces.MultiBinary):
        return act.astype(space.dtype)
    return np.clip(act.astype(np.float32, copy=False), space.low, space.high).astype(np.float32, copy=False)


class _NumpyVecEnv:
    """What the adapters around numpy vector envs share: spaces, seed, actions out, tensors in."""

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, env: Any, num_envs: int, observation_space: gym.Space, action_space: gym.Space,
                 seed: int | None, device: torch.device | str, spec: Any):
        self.env = env
        self.num_envs = int(num_envs)
        self.single_observation_space = observation_space
        self.single_action_space = action_space
        # clear TypeErrors if unsupported, observation space first
        self.obs_spec, self.action_spec = observation_spec(observation_space), action_spec(action_space)
        self.obs_dim = self.obs_spec.flat_dim
        self.seed = None if seed is None else int(seed)
        self.device = torch.device(device)
        self.spec = spec

    def _obs(self, obs: Any, n: int | None = None) -> np.ndarray:
        """A batch of n (default E) observations as the policy takes them, (n, D) float32 or (n, *shape)
        images; a copy: the backend may reuse its output buffers on the next call."""
        try:
            return encode_batch(self.single_observation_space, self.obs_spec, obs, self.num_envs if n is None else n)
        except ValueError as err:
            name = getattr(self.spec, "id", None) or "the env"
            raise ValueError(f"{name}: {err}") from None

    def _one_obs(self, obs: Any) -> np.ndarray:
        """One sub-env's observation (a final obs from info) encoded like a batch row."""
        return self._obs(batch_one(self.single_observation_space, obs), 1)[0]

    def _tensor(self, array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        return torch.tensor(array, dtype=dtype, device=self.device)

    def _transition(self, obs: np.ndarray, reward: Any, terminated: Any, truncated: Any,
                    final_obs: np.ndarray, info: dict | None = None) -> Transition:
        """Torch tensors of one step: obs, final_obs (E, ...) encoded, reward (E,) float32, flags (E,) bool."""
        terminated = np.array(terminated, dtype=bool)
        truncated = np.array(truncated, dtype=bool) & ~terminated  # a time limit in the terminating step: terminated
        return (
            self._tensor(obs, self.obs_spec.torch_dtype),
            self._tensor(np.asarray(reward, dtype=np.float32), torch.float32),
            self._tensor(terminated, torch.bool),
            self._tensor(truncated, torch.bool),
            {**(info or {}), "final_obs": self._tensor(final_obs, self.obs_spec.torch_dtype)},
        )

    def state_dict(self) -> dict | None:
        """VecEnv: None (nothing can be saved)."""
        return None

    def load_state_dict(self, state: dict | None) -> str:
        """VecEnv: nothing to restore; returns "none"."""
        return "none"

    def render(self) -> Any:
        return None

    def close(self) -> None:
        close = getattr(self.env, "close", None)
        if close is not None:
            close()


class GymnasiumVecEnv(_NumpyVecEnv):
    """A Gymnasium numpy `VectorEnv` in SAME_STEP autoreset mode, taking and giving torch tensors.

    `seed` is the VecEnv seed of the first reset (sub-env i gets seed + i, Gymnasium's own rule).
    """

    def __init__(self, env: gym.vector.VectorEnv, *, seed: int | None = None, device: torch.device | str = "cpu"):
        mode = env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)  # NEXT_STEP: Gymnasium's default
        if mode != AutoresetMode.SAME_STEP:
            raise ValueError(f"the vector env autoresets in mode {mode}, we need SAME_STEP: {SAME_STEP_HINT}")
        super().__init__(env, env.num_envs, env.single_observation_space, env.single_action_space, seed, device,
                         env.spec)
        self.metadata = env.metadata

    def _with_mask(self, info: dict, obs: Any) -> dict:
        """`info` with the batched "action_mask" (E, n) as a bool tensor on the device, from a Dict
        observation's "action_mask" entry or else from Gymnasium's info; rows of the envs that gave none
        (the info's "_action_mask" presence flag False) allow every action.

        At a SAME_STEP autoreset Gymnasium puts the reset's info at the top level for the envs that
        ended (the last step's is under "final_info"), so the mask always goes with the returned obs.
        """
        in_obs = mask_of(self.obs_spec, obs)
        if in_obs is not None:
            return {**info, "action_mask": self._tensor(in_obs.reshape(self.num_envs, -1), torch.bool)}
        mask = info.get("action_mask")
        if mask is None:
            return info
        mask = np.array(mask, dtype=bool).reshape(self.num_envs, -1)
        present = info.get("_action_mask")
        if present is not None:
            mask[~np.asarray(present, dtype=bool)] = True
        return {**info, "action_mask": self._tensor(mask, torch.bool)}

    def reset(self, *, seed: int | None = None) -> tuple[torch.Tensor, dict]:
        obs, info = self.env.reset(seed=seed)
        return self._tensor(self._obs(obs), self.obs_spec.torch_dtype), self._with_mask(info, obs)

    def step(self, actions: torch.Tensor) -> Transition:
        raw, reward, terminated, truncated, info = self.env.step(env_actions(actions, self.single_action_space))
        obs = self._obs(raw)
        final = obs
        done = np.flatnonzero(np.logical_or(terminated, truncated))
        if done.size:  # only the envs that just ended carry a final obs
            final = obs.copy()
            for i in done:
                final[i] = self._one_obs(info["final_obs"][i])
        return self._transition(obs, reward, terminated, truncated, final, self._with_mask(info, raw))

    def state_dict(self) -> dict | None:
        """VecEnv: {"kind": "rng", "np_random": JSON list of each sub-env's bit-generator state}.

        None when a sub-env has no numpy `np_random` generator.
        """
        try:
            states = [g.bit_generator.state for g in self.env.get_attr("np_random")]
        except Exception:  # an env without np_random (the error type depends on sync/async): nothing to save
            return None
        return {"kind": "rng", "np_random": json.dumps(states)}

    def load_state_dict(self, state: dict | None) -> str:
        """VecEnv: restore each sub-env's `np_random`; returns "rng", or "none" for None or another kind."""
        if state is None or state.get("kind") != "rng":
            return "none"
        states = json.loads(state["np_random"])
        if len(states) != self.num_envs:
            raise ValueError(f"saved env state is for {len(states)} envs, this env has {self.num_envs}")
        generators = []
        for s in states:
            bit_generator = getattr(np.random, s["bit_generator"])()
            bit_generator.state = s
            generators.append(np.random.Generator(bit_generator))
        self.env.set_attr("np_random", generators)
        return "rng"

    def render(self) -> Any:
        return self.env.render()


class EnvPoolVecEnv(_NumpyVecEnv):
    """EnvPool (C++ thread pool of envs, sync mode) converted to our SAME_STEP contract, torch out.

    EnvPool autoresets NEXT_STEP style: the step after an episode ends returns the reset
    observation with reward 0 and ignores the action. We convert instead of masking: right after
    a step in which some envs ended we reset exactly those envs (EnvPool's partial
    `reset(env_ids)`), return their reset observations in `obs` and the last ones in
    `info["final_obs"]`. The next step of such an env is then a real transition with the policy's
    action, so the rows a rollout records are the same kind as with the other backends.

    Seeding: EnvPool fixes seeds at construction (env i gets seed + i, as our other backends do);
    `reset(seed=s)` with a seed other than the pool's rebuilds the pool with seed s, `reset()`
    continues each env's random stream. No state can be saved (`state_dict()` is None).
    """

    def __init__(self, env_id: str, num_envs: int, seed: int | None = None, device: torch.device | str = "cpu",
                 env_kwargs: dict | None = None):
        try:
            import envpool  # noqa: PLC0415  (optional extra)
        except ImportError:  # pragma: no cover - depends on the optional extra
            raise ImportError("backend 'envpool' needs the envpool package: pip install 'reinforce[envpool]'") from None
        if env_id not in envpool.list_all_envs() and env_id.startswith("ALE/") and env_id[4:] in envpool.list_all_envs():
            # EnvPool names Atari games without Gymnasium's namespace, and preprocesses them itself (84×84 grey,
            # 4 stacked frames, 4 frames skipped): the same observations as AtariPreprocessing + FrameStackObservation
            spec_id, env_id = env_id, env_id[4:]
        else:
            spec_id = env_id
        if env_id not in envpool.list_all_envs():
            ours = [i for i in envpool.list_all_envs() if "/" not in i and ("CartPole" in i or "Pendulum" in i)]
            raise ValueError(f"EnvPool has no env {env_id!r} (e.g. {', '.join(ours)}); use backend 'sync' or 'native'")
        self._envpool, self._env_id, self._kwargs = envpool, env_id, dict(env_kwargs or {})
        # The pool needs a seed; without one, a random one (the pool's, not the VecEnv seed).
        self._pool_seed = int(seed) if seed is not None else int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        pool = self._make(int(num_envs), self._pool_seed)
        super().__init__(pool, num_envs, pool.observation_space, pool.action_space, seed, device, gym.spec(spec_id))
        self._fresh = True  # no step since (re)construction: a reset with the same seed needs no rebuild
        self._all_ids = np.arange(self.num_envs, dtype=np.int32)

    def _make(self, num_envs: int, seed: int) -> Any:
        with warnings.catch_warnings():  # EnvPool's spaces are float64-declared Boxes cast to float32
            warnings.simplefilter("ignore", UserWarning)
            env = self._envpool.make(self._env_id, env_type="gymnasium", num_envs=num_envs, seed=seed, **self._kwargs)
            env.observation_space, env.action_space  # noqa: B018  (built lazily; warns once here)
            return env

    def _order(self, env_ids: np.ndarray) -> np.ndarray | None:
        """None when the rows come in env-id order (sync EnvPool returns them so), else the ids to scatter by."""
        if env_ids.shape[0] == self.num_envs and np.array_equal(env_ids, self._all_ids):
            return None
        return env_ids

    @staticmethod
    def _rows(array: np.ndarray, order: np.ndarray | None) -> np.ndarray:
        if order is None:
            return array
        out = np.empty_like(array)
        out[order] = array
        return out

    def reset(self, *, seed: int | None = None) -> tuple[torch.Tensor, dict]:
        if seed is not None and (int(seed) != self._pool_seed or not self._fresh):
            self.env.close()
            self._pool_seed = int(seed)
            self.env = self._make(self.num_envs, self._pool_seed)
        self._fresh = False
        obs, info = self.env.reset()
        return self._tensor(self._rows(self._obs(obs), self._order(info["env_id"])), self.obs_spec.torch_dtype), {}

    def step(self, actions: torch.Tensor) -> Transition:
        self._fresh = False
        obs, reward, terminated, truncated, info = self.env.step(
            env_actions(actions, self.single_action_space), self._all_ids
        )
        order = self._order(info["env_id"])  # one check for all four arrays
        final = self._rows(self._obs(obs), order)
        reward = self._rows(np.array(reward, dtype=np.float32), order)
        terminated = self._rows(np.array(terminated, dtype=bool), order)
        truncated = self._rows(np.array(truncated, dtype=bool), order)
        obs = final
        done = np.flatnonzero(terminated | truncated)
        if done.size:
            obs = final.copy()
            reset_obs, reset_info = self.env.reset(done.astype(np.int32))
            obs[reset_info["env_id"]] = self._obs(reset_obs, len(reset_info["env_id"]))
        return self._transition(obs, reward, terminated, truncated, final)
