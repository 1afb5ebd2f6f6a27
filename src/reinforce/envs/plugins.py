"""Env ids from anywhere, and Gymnasium wrappers by name.

* `resolve_env_id(env_id)`: "module:EnvId" imports `module` first (Gymnasium's own convention for ids
  registered on import); an id of a known plug-in family (ALE/…, MiniGrid-…, BabyAI-…, MinAtar/…)
  imports the package that registers it, so `--env ALE/Pong-v5` works without a line of Python. A
  missing package is one ImportError naming the install command; so is a missing dependency met while
  making a registered env (`missing_package_is_one_line`): every extra an env may need is named here.
* `wrapper_factory(spec)`: "Name" or "Name(key=literal, ...)" (reinforce.config.parse_wrapper) ->
  a function env -> wrapped env; Name is looked up in gymnasium.wrappers, then in the plug-in packages'
  wrapper modules (minigrid.wrappers), or given in full as "package.module:Name".
"""
from __future__ import annotations

import contextlib
import importlib
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

from reinforce.config import parse_wrapper

# id prefix -> (module that registers the family on import, optional registration function, our extra)
PLUGIN_FAMILIES: tuple[tuple[str, str, str | None, str], ...] = (
    ("ALE/", "ale_py", None, "atari"),
    ("MiniGrid-", "minigrid", None, "minigrid"),
    ("BabyAI-", "minigrid", None, "minigrid"),
    ("MinAtar/", "minatar.gym", "register_envs", "minatar"),
)
WRAPPER_MODULES = ("gymnasium.wrappers", "minigrid.wrappers")

# Where an env's optional dependency comes from: entry-point module prefix -> our extra.
EXTRAS_BY_ENTRY_POINT = {
    "gymnasium.envs.box2d": "box2d",
    "gymnasium.envs.mujoco": "mujoco",
    "ale_py": "atari",
    "minigrid": "minigrid",
    "minatar": "minatar",
}


@contextlib.contextmanager
def missing_package_is_one_line(spec: gym.envs.registration.EnvSpec):
    """Turn Gymnasium's DependencyNotInstalled (and a bare ImportError) while making `spec`'s env into
    one ImportError naming the extra to install."""
    try:
        yield
    except (gym.error.DependencyNotInstalled, ImportError) as err:
        entry = spec.entry_point if isinstance(spec.entry_point, str) else ""
        extra = next((x for prefix, x in EXTRAS_BY_ENTRY_POINT.items() if entry.startswith(prefix)), None)
        reason = (str(err).splitlines() or [type(err).__name__])[0]
        how = f"pip install 'reinforce[{extra}]'" if extra else "install the package it names"
        raise ImportError(f"{spec.id} needs an optional package that is not installed ({reason}): {how}") from None


def _import_plugin(module: str, register: str | None, extra: str | None, env_id: str) -> None:
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        how = f"pip install 'reinforce[{extra}]'" if extra else f"install the package that provides {module!r}"
        raise ImportError(f"{env_id} needs the {module.split('.')[0]} package ({err.name or module} is not installed): "
                          f"{how}") from None
    if register is not None and not any(k.startswith(env_id.split("/")[0] + "/") for k in gym.registry):
        getattr(mod, register)()


def resolve_env_id(env_id: str) -> str:
    """The registered id `env_id` names, after importing what registers it ("module:EnvId", or a known
    plug-in family's package); the id itself when nothing needs importing."""
    if ":" in env_id:
        module, _, name = env_id.partition(":")
        if not module or not name:
            raise ValueError(f"env id {env_id!r} must be EnvId or module:EnvId")
        _import_plugin(module, None, None, name)
        return name
    if env_id not in gym.registry:
        for prefix, module, register, extra in PLUGIN_FAMILIES:
            if env_id.startswith(prefix):
                _import_plugin(module, register, extra, env_id)
                break
    return env_id


def reward_threshold(env_id: str) -> float | None:
    """The env's registered `reward_threshold` (its "solved" level), if it has one (no torch needed)."""
    try:
        return gym.spec(resolve_env_id(env_id)).reward_threshold
    except (gym.error.Error, ImportError, ValueError):
        return None


def _find_wrapper(name: str) -> Callable[..., gym.Env]:
    if ":" in name:
        module, _, attr = name.partition(":")
        modules: Sequence[str] = (module,)
    else:
        modules, attr = WRAPPER_MODULES, name
    for module in modules:
        try:
            found = getattr(importlib.import_module(module), attr, None)
        except ImportError:
            if ":" in name:
                raise ImportError(f"wrapper {name!r}: module {module!r} is not installed") from None
            continue
        if callable(found):
            return found
    raise ValueError(f"unknown wrapper {name!r}: not in {', '.join(WRAPPER_MODULES)}; "
                     "name it as package.module:Name, e.g. 'minigrid.wrappers:ImgObsWrapper'")


def wrapper_factory(spec: str) -> Callable[[gym.Env], gym.Env]:
    """env -> the env wrapped as `spec` says (checked now: an unknown name fails before any env is built)."""
    name, kwargs = parse_wrapper(spec)
    wrapper = _find_wrapper(name)

    def wrap(env: gym.Env) -> gym.Env:
        try:
            return wrapper(env, **kwargs)
        except TypeError as err:  # a wrong keyword: say which wrapper
            raise ValueError(f"wrapper {spec!r}: {err}") from None

    return wrap


def wrap_all(env: gym.Env, specs: Sequence[str]) -> gym.Env:
    """`env` with each wrapper of `specs` applied in order (the first is innermost)."""
    for wrap in wrapper_list(specs):
        env = wrap(env)
    return env


def wrapper_list(specs: Sequence[str]) -> list[Callable[[Any], Any]]:
    """The wrappers of `specs` as gym.make_vec takes them (one function per wrapper, innermost first)."""
    return [wrapper_factory(s) for s in specs]


def quiet_make(env_id: str, **kwargs: Any) -> gym.Env:
    """`gym.make` without the "CartPole-v0 is out of date" notice: v0 is the article's env, on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return gym.make(env_id, **kwargs)
