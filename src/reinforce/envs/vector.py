"""Vector environments that speak torch: `make_vec_env(env_id, num_envs, seed, backend=...)`.

Every backend returns an object with the same small surface (the `VecEnv` protocol below):
`reset() -> obs (E, obs_dim)`, `step(actions) -> (obs, reward, terminated, truncated, info)`, all
float32/bool torch tensors on `device`. Gymnasium backends run in SAME_STEP autoreset mode: the step
that ends an episode returns the *reset* observation and puts the last one in `info["final_obs"]`,
so every row of a rollout is a real transition (no ignored-action reset rows to mask out).
"""
from __future__ import annotations

import difflib
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from reinforce.config import BACKENDS
from reinforce.spaces import space_dims



class VecEnv(Protocol):
    num_envs: int
    single_observation_space: gym.Space
    single_action_space: gym.Space
    device: torch.device

    def reset(self, *, seed: int | None = None) -> tuple[torch.Tensor, dict]: ...

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]: ...

    def close(self) -> None: ...


def check_env_id(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec for `env_id`, or a ValueError that suggests close ids."""
    try:
        return gym.spec(env_id)
    except gym.error.Error:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else " See gymnasium.pprint_registry() for all ids."
        raise ValueError(f"unknown environment id {env_id!r}.{hint}") from None


def reward_threshold(env_id: str) -> float | None:
    """The env's registered `reward_threshold` (its "solved" level), if it has one."""
    try:
        return gym.spec(env_id).reward_threshold
    except gym.error.Error:
        return None


def env_actions(actions: torch.Tensor, space: gym.Space) -> np.ndarray:
    """The policy's actions (E,) or (E, A) as the numpy array the env takes.

    The one place where Box actions are clipped to the space's bounds: only on the way to the env,
    so the unclipped sample stays what the rollout stores and scores.
    """
    act = actions.detach().cpu().numpy()
    if isinstance(space, gym.spaces.Discrete):
        return act.astype(np.int64)
    return np.clip(act.astype(np.float32), space.low, space.high)


class GymnasiumVecEnv:
    """Wraps a Gymnasium numpy `VectorEnv` (SAME_STEP autoreset) so that it takes and gives torch tensors.

    Box actions are clipped to the space's bounds here, on the way to the env only: the policy's
    unclipped sample is what the rollout stores and scores.
    """

    def __init__(self, env: gym.vector.VectorEnv, device: torch.device | str = "cpu"):
        mode = env.metadata.get("autoreset_mode")
        if mode is not AutoresetMode.SAME_STEP:
            raise ValueError(f"GymnasiumVecEnv needs SAME_STEP autoreset, got {mode}")
        self.env = env
        self.num_envs = env.num_envs
        self.single_observation_space = env.single_observation_space
        self.single_action_space = env.single_action_space
        self.device = torch.device(device)
        self.obs_dim, _, self.discrete = space_dims(self.single_observation_space, self.single_action_space)
        if not self.discrete:
            self._low = np.asarray(self.single_action_space.low, dtype=np.float32)
            self._high = np.asarray(self.single_action_space.high, dtype=np.float32)
        self.spec = env.spec

    def _obs(self, obs: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(obs, dtype=np.float32).reshape(self.num_envs, self.obs_dim), device=self.device)

    def reset(self, *, seed: int | None = None) -> tuple[torch.Tensor, dict]:
        obs, info = self.env.reset(seed=seed)
        return self._obs(obs), info

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        act = actions.detach().cpu().numpy()
        act = act.astype(np.int64) if self.discrete else np.clip(act, self._low, self._high)
        obs, reward, terminated, truncated, info = self.env.step(act)
        if "final_obs" in info:
            done = np.logical_or(terminated, truncated)
            final = np.asarray(obs, dtype=np.float32).reshape(self.num_envs, self.obs_dim).copy()
            for i in np.flatnonzero(done):  # only the envs that just ended carry a final obs
                final[i] = np.asarray(info["final_obs"][i], dtype=np.float32).reshape(self.obs_dim)
            info = {**info, "final_obs": torch.as_tensor(final, device=self.device)}
        return (
            self._obs(obs),
            torch.as_tensor(np.asarray(reward, dtype=np.float32), device=self.device),
            torch.as_tensor(np.asarray(terminated, dtype=bool), device=self.device),
            torch.as_tensor(np.asarray(truncated, dtype=bool), device=self.device),
            info,
        )

    def render(self) -> Any:
        return self.env.render()

    def close(self) -> None:
        self.env.close()


class EnvPoolVecEnv:
    """EnvPool (C++ thread pool of envs, sync mode) converted to our SAME_STEP contract, torch out.

    EnvPool autoresets NEXT_STEP style: the step after an episode ends returns the reset
    observation with reward 0 and ignores the action. We convert instead of masking: right after
    a step in which some envs ended we reset exactly those envs (EnvPool's partial
    `reset(env_ids)`), return their reset observations in `obs` and the last ones in
    `info["final_obs"]` (a full (E, obs_dim) tensor equal to `obs` where no episode ended). The
    next step of such an env is then a real transition with the policy's action, so the rows a
    rollout records are the same kind as with the native and Gymnasium backends.

    Seeding: EnvPool fixes seeds at construction (env i gets seed + i, as our other backends do);
    `reset(seed=s)` with a seed other than the construction one rebuilds the pool with seed s,
    `reset()` continues each env's random stream.
    """

    def __init__(self, env_id: str, num_envs: int, seed: int | None = None, device: torch.device | str = "cpu",
                 env_kwargs: dict | None = None):
        try:
            import envpool
        except ImportError:  # pragma: no cover - depends on the optional extra
            raise ImportError("backend 'envpool' needs the envpool package: pip install 'reinforce[envpool]'") from None
        if env_id not in envpool.list_all_envs():
            ours = [i for i in envpool.list_all_envs() if "/" not in i and ("CartPole" in i or "Pendulum" in i)]
            raise ValueError(f"EnvPool has no env {env_id!r} (e.g. {', '.join(ours)}); use backend 'sync' or 'native'")
        self._envpool, self._env_id = envpool, env_id
        self._kwargs = dict(env_kwargs or {})
        self.num_envs = int(num_envs)
        self.device = torch.device(device)
        self._seed = int(seed) if seed is not None else int(np.random.SeedSequence().generate_state(1)[0] >> 1)
        self.env = self._make(self._seed)
        self._fresh = True  # no step since (re)construction: a reset with the same seed needs no rebuild
        self.single_observation_space = self.env.observation_space
        self.single_action_space = self.env.action_space
        self.obs_dim, _, self.discrete = space_dims(self.single_observation_space, self.single_action_space)
        if not self.discrete:
            self._low = np.asarray(self.single_action_space.low, dtype=np.float32)
            self._high = np.asarray(self.single_action_space.high, dtype=np.float32)
        self.spec = gym.spec(env_id)
        self.metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}
        self._all_ids = np.arange(self.num_envs, dtype=np.int32)

    def _make(self, seed: int):
        import warnings

        with warnings.catch_warnings():  # EnvPool's spaces are float64-declared Boxes cast to float32
            warnings.simplefilter("ignore", UserWarning)
            env = self._envpool.make(self._env_id, env_type="gymnasium", num_envs=self.num_envs, seed=seed, **self._kwargs)
            env.observation_space, env.action_space  # noqa: B018  (built lazily; warns once here)
            return env

    def _tensor(self, array: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
        # A copy: EnvPool may reuse its output buffers on the next call.
        return torch.tensor(array, dtype=dtype, device=self.device)

    def _ordered(self, array: np.ndarray, env_ids: np.ndarray) -> np.ndarray:
        """Rows in env-id order (sync EnvPool already returns them so; this is a cheap check)."""
        if env_ids.shape[0] == self.num_envs and np.array_equal(env_ids, self._all_ids):
            return array
        out = np.empty_like(array)
        out[env_ids] = array
        return out

    def reset(self, *, seed: int | None = None) -> tuple[torch.Tensor, dict]:
        if seed is not None and (int(seed) != self._seed or not self._fresh):
            self.env.close()
            self._seed = int(seed)
            self.env = self._make(self._seed)
        self._fresh = False
        obs, info = self.env.reset()
        obs = self._ordered(np.asarray(obs, dtype=np.float32).reshape(self.num_envs, self.obs_dim), info["env_id"])
        return self._tensor(obs, torch.float32), {}

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        self._fresh = False
        act = actions.detach().cpu().numpy()
        act = act.astype(np.int32) if self.discrete else np.clip(act, self._low, self._high).reshape(self.num_envs, -1)
        obs, reward, terminated, truncated, info = self.env.step(act, self._all_ids)
        ids = info["env_id"]
        obs = self._ordered(np.asarray(obs, dtype=np.float32).reshape(self.num_envs, self.obs_dim), ids)
        reward = self._ordered(np.asarray(reward, dtype=np.float32), ids)
        terminated = self._ordered(np.asarray(terminated, dtype=bool), ids)
        truncated = self._ordered(np.asarray(truncated, dtype=bool), ids) & ~terminated
        final_obs = self._tensor(obs, torch.float32)
        done = terminated | truncated
        if done.any():
            obs = obs.copy()
            reset_obs, reset_info = self.env.reset(np.flatnonzero(done).astype(np.int32))
            obs[reset_info["env_id"]] = np.asarray(reset_obs, dtype=np.float32).reshape(-1, self.obs_dim)
        return (
            self._tensor(obs, torch.float32),
            self._tensor(reward, torch.float32),
            self._tensor(terminated, torch.bool),
            self._tensor(truncated, torch.bool),
            {"final_obs": final_obs},
        )

    def render(self) -> Any:
        return None

    def close(self) -> None:
        close = getattr(self.env, "close", None)
        if close is not None:
            close()


def _native_constructor(env_id: str):
    try:
        from reinforce.envs.native import NATIVE_ENVS
    except ImportError:  # native envs not built in this install
        return None
    return NATIVE_ENVS.get(env_id)


def make_vec_env(
    env_id: str,
    num_envs: int = 1,
    seed: int | None = None,
    backend: str = "auto",
    device: torch.device | str = "cpu",
    env_kwargs: dict | None = None,
) -> VecEnv:
    """A vector env of `num_envs` copies of `env_id` yielding torch tensors on `device`.

    backend: "auto" (native batched tensor env when we have one for the id, else "sync"),
    "native", "sync" (Gymnasium SyncVectorEnv), "async" (AsyncVectorEnv, one process per env) or
    "envpool" (EnvPool's C++ pool, optional extra; converted to SAME_STEP autoreset).
    `seed` seeds sub-env i with seed + i on the first reset.
    """
    import reinforce.envs  # noqa: F401  (registers reinforce/* ids before the lookup)

    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    spec = check_env_id(env_id)
    env_kwargs = dict(env_kwargs or {})
    native = _native_constructor(spec.id)
    if backend == "native" and native is None:
        raise ValueError(f"no native batched env for {spec.id!r}; use backend 'sync' or 'async'")
    if backend in ("auto", "native") and native is not None:
        env = native(num_envs, device=device, seed=seed, **env_kwargs)
    elif backend == "envpool":
        env = EnvPoolVecEnv(spec.id, num_envs, seed=seed, device=device, env_kwargs=env_kwargs)
    else:
        mode = "async" if backend == "async" else "sync"
        vec = gym.make_vec(
            spec.id,
            num_envs=num_envs,
            vectorization_mode=mode,
            vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
            **env_kwargs,
        )
        env = GymnasiumVecEnv(vec, device=device)
    space_dims(env.single_observation_space, env.single_action_space)  # clear error if unsupported
    env.first_reset_seed = seed  # the collector's first reset uses it; later resets continue the RNG
    return env
