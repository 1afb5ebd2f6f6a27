"""Vector environments that speak torch: `make_vec_env(env_id, num_envs, seed, backend=...)`, `from_env(env)`.

Every backend returns an object with the same small surface (the `VecEnv` protocol below):
`reset() -> obs (E, obs_dim)`, `step(actions) -> (obs, reward, terminated, truncated, info)`, all
float32/bool torch tensors on `device`. Every backend autoresets SAME_STEP: the step that ends an
episode returns the *reset* observation and puts the last one in `info["final_obs"]` (E, obs_dim),
so every row of a rollout is a real transition (no ignored-action reset rows to mask out).
`truncated` is True only where the time limit hit and the env did not terminate.

Saving an env for resuming a run (`state_dict` / `load_state_dict`) goes as far as the backend allows:

* "full": native batched envs: physics, step counters and the generator. A resumed run continues
  exactly where it stopped.
* "rng": Gymnasium vector envs (sync or async). Each sub-env's `np_random` generator is saved (as
  JSON text: PCG64 states are 128-bit integers); the physics state is not. With
  `reset_each_epoch=True` (every rollout starts from a reset) that is all a rollout depends on for
  envs whose randomness lives in `np_random` (classic control, the swing-up), so those runs too
  resume exactly; with `reset_each_epoch=False` the episodes in progress are lost and the envs are
  reset on resume.
* "none": EnvPool (its C++ envs expose no state).
"""
from __future__ import annotations

import difflib
import inspect
import warnings
from typing import Any, Protocol

import gymnasium as gym
import torch
from gymnasium.vector import AutoresetMode

from reinforce.checks import require_int
from reinforce.config import BACKENDS
from reinforce.envs.adapters import EnvPoolVecEnv, GymnasiumVecEnv, Transition, env_actions
from reinforce.envs.native import NATIVE_ENVS
from reinforce.envs.torch_env import TorchVectorEnv
from reinforce.envs.plugins import missing_package_is_one_line, resolve_env_id, reward_threshold, wrapper_list

__all__ = [
    "VecEnv", "make_vec_env", "from_env", "check_env_id", "check_device", "reward_threshold", "env_actions",
    "GymnasiumVecEnv", "EnvPoolVecEnv",
]


class VecEnv(Protocol):
    """What the collector needs from a vector env of E sub-envs.

    seed: the seed of the first reset (sub-env i gets seed + i; a native env seeds its one generator
    with it), None for a random start; later resets continue the random streams.
    state_dict() -> the env's state as tensors and plain types, None when nothing can be saved;
    load_state_dict(state) restores it and returns the level restored: "full", "rng" or "none"
    (see the module docstring).
    """

    num_envs: int
    single_observation_space: gym.Space
    single_action_space: gym.Space
    device: torch.device
    seed: int | None

    def reset(self, *, seed: int | None = None) -> tuple[torch.Tensor, dict]: ...

    def step(self, actions: torch.Tensor) -> Transition: ...

    def state_dict(self) -> dict | None: ...

    def load_state_dict(self, state: dict | None) -> str: ...

    def close(self) -> None: ...


def check_env_id(env_id: str) -> gym.envs.registration.EnvSpec:
    """The registered spec for `env_id` ("EnvId" or "module:EnvId"; a plug-in family's package is imported
    first, reinforce.envs.plugins), or a ValueError that suggests close ids."""
    env_id = resolve_env_id(env_id)
    try:
        return gym.spec(env_id)
    except gym.error.Error:
        close = difflib.get_close_matches(env_id, list(gym.registry), n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else " See gymnasium.pprint_registry() for all ids."
        raise ValueError(f"unknown environment id {env_id!r}.{hint}") from None


def check_device(device: torch.device | str) -> torch.device:
    """`device` as a torch.device, or a clear ValueError for one this machine does not have (before anything is
    built on it)."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {device!r}; use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} is not available: this torch build or machine has no CUDA GPU; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {str(device)!r} is not available: this machine has {torch.cuda.device_count()} CUDA devices")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {str(device)!r} is not available on this machine; use --device cpu")
    return dev


def native_kwargs(ctor: Any) -> set[str]:
    """The keyword arguments a native env's constructor takes (its own and TorchVectorEnv's), `device` and `seed` aside."""
    names = set()
    for fn in (ctor.__init__, TorchVectorEnv.__init__):
        names |= {p.name for p in inspect.signature(fn).parameters.values() if p.kind == p.KEYWORD_ONLY}
    return names - {"device", "seed"}


def _seed_torch(seed: int | None) -> None:
    if seed is not None:
        torch.manual_seed(int(seed))


def make_vec_env(
    env_id: str,
    num_envs: int = 1,
    seed: int | None = None,
    backend: str = "auto",
    device: torch.device | str = "cpu",
    env_kwargs: dict | None = None,
    wrappers: tuple[str, ...] | list[str] = (),
) -> VecEnv:
    """A vector env of `num_envs` copies of `env_id` yielding torch tensors on `device`.

    backend: "auto" (native batched tensor env when we have one for the id, else "sync"),
    "native", "sync" (Gymnasium SyncVectorEnv), "async" (AsyncVectorEnv, one process per env) or
    "envpool" (EnvPool's C++ pool, optional extra; converted to SAME_STEP autoreset).
    `seed` becomes the env's `seed`: the first reset seeds sub-env i with seed + i. It seeds torch's
    global generator too, so a policy built next and the actions sampled are reproducible, as
    `Config.seed` does. `env_kwargs` go to the env's constructor. `wrappers`: Gymnasium wrapper specs
    ("Name" or "Name(key=literal, ...)", reinforce.envs.plugins) applied to each sub-env in order; they
    need a Gymnasium backend ("auto" then means "sync"), as do `env_kwargs` (the native envs take none).
    The env remembers how it was made (`made_with`: backend, wrappers, env_kwargs), so that an agent on it can
    describe itself as a Config (Reinforce.describe) for saving and evaluating.
    """
    num_envs = require_int("num_envs", num_envs, 1)
    seed = None if seed is None else require_int("seed", seed, 0)
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    device = check_device(device)
    spec = check_env_id(env_id)
    native = NATIVE_ENVS.get(spec.id)
    if backend == "native" and native is None:
        raise ValueError(f"no native batched env for {spec.id!r}; use backend 'sync' or 'async'")
    env_kwargs = dict(env_kwargs or {})
    if env_kwargs.get("dtype", torch.float32) != torch.float32:  # the VecEnv contract: float32 observations
        raise ValueError(f"dtype {env_kwargs['dtype']} is for checking a native env against Gymnasium's "
                         "(reinforce.envs.native.make_native); training and evaluation take float32 observations")
    if "max_episode_steps" in env_kwargs and env_kwargs["max_episode_steps"] is None:
        del env_kwargs["max_episode_steps"]  # None: the registered limit, as gymnasium.make reads it, on every backend
    made_with = {"backend": backend, "wrappers": tuple(wrappers), "env_kwargs": dict(env_kwargs)}
    # an unknown wrapper fails here, before any env is built; callables in env_kwargs go outermost
    wrap = wrapper_list(wrappers) + list(env_kwargs.pop("wrappers", None) or [])
    if wrap and backend in ("native", "envpool"):
        raise ValueError(f"wrappers apply to each Gymnasium sub-env: use backend 'sync' or 'async', not {backend!r}")
    foreign = sorted(set(env_kwargs) - native_kwargs(native)) if native is not None else []
    if foreign and backend == "native":
        raise ValueError(f"the native {spec.id} takes no {', '.join(foreign)} (it takes "
                         f"{', '.join(sorted(native_kwargs(native)))}); use backend 'sync', which passes them to gymnasium.make")
    if wrap or foreign:
        native = None  # "auto": Gymnasium's env, which takes them
    env: VecEnv
    if backend in ("auto", "native") and native is not None:
        env = native(num_envs, device=device, seed=seed, **env_kwargs)
        env.spec = spec  # the id an agent saved from this env is rebuilt with
        env.clip_actions = True  # Box actions reach the env clipped, as env_actions sends them to Gymnasium's
    elif backend == "envpool":
        env = EnvPoolVecEnv(spec.id, num_envs, seed=seed, device=device, env_kwargs=env_kwargs)
    else:
        with warnings.catch_warnings(), missing_package_is_one_line(spec):
            # Gymnasium calls any id with a higher version "out of date"; the article's CartPole-v0 and
            # our swing-up v0 (another reward, not an old one) are used on purpose.
            warnings.filterwarnings("ignore", message=".*is out of date", category=DeprecationWarning)
            vec = gym.make_vec(
                spec.id,
                num_envs=num_envs,
                vectorization_mode="async" if backend == "async" else "sync",
                vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP},
                wrappers=wrap or None,
                **env_kwargs,
            )
        env = GymnasiumVecEnv(vec, seed=seed, device=device)
    env.made_with = made_with
    _seed_torch(seed)
    return env


def from_env(env: gym.Env | gym.vector.VectorEnv, seed: int | None = None, device: torch.device | str = "cpu") -> VecEnv:
    """Your own Gymnasium env as a `VecEnv` on `device`.

    env: a `gym.vector.VectorEnv` in SAME_STEP autoreset mode (ValueError otherwise, saying how to
    build one), or a single `gym.Env` (run as a one-env SyncVectorEnv with SAME_STEP autoreset).
    The spaces must be supported (`reinforce.spaces.action_spec`; TypeError otherwise). `seed` as in
    `make_vec_env`: the first reset's seed, and torch's global generator is seeded with it.
    """
    if isinstance(env, gym.vector.VectorEnv):
        vec = env
    elif isinstance(env, gym.Env):
        vec = gym.vector.SyncVectorEnv([lambda: env], autoreset_mode=AutoresetMode.SAME_STEP)
    else:
        raise TypeError(f"from_env needs a gymnasium Env or VectorEnv, got {type(env).__name__}")
    out = GymnasiumVecEnv(vec, seed=seed, device=device)
    _seed_torch(seed)
    return out
