"""Custom Gymnasium environments; importing this module registers their ids.

Registered ids (both with ``max_episode_steps=500``):

* ``reinforce/CartPoleSwingUp-v0``: reward ``cos θ``.
* ``reinforce/CartPoleSwingUp-v1``: reward ``(1 + cos θ) / 2``.

Note: Gymnasium logs an "out of date, consider v1" deprecation notice when
``-v0`` is made, because it treats the highest version as the current one; here
v0 and v1 are two reward variants, both supported.

Modules: `vector` (the `VecEnv` protocol, `make_vec_env`, `from_env`), `adapters` (Gymnasium and
EnvPool vector envs as torch `VecEnv`s), `native` (the registry of batched torch envs), `torch_env`
(their base class), one module per native family (`cartpole`, `pendulum`, `acrobot`, `mountain_car`,
`swingup_torch`), `swingup` (the Gymnasium swing-up and its `SwingUpParams`) and `render` (the
swing-up's drawing).
"""
from __future__ import annotations

from gymnasium.envs.registration import register, registry

from reinforce.envs.swingup import (
    DEFAULT_PARAMS,
    CartPoleSwingUpEnv,
    SwingUpParams,
    swingup_obs,
    swingup_reward,
    swingup_step,
)

__all__ = [
    "CartPoleSwingUpEnv",
    "SwingUpParams",
    "DEFAULT_PARAMS",
    "swingup_step",
    "swingup_reward",
    "swingup_obs",
    "SWINGUP_ENV_IDS",
]

SWINGUP_ENV_IDS: dict[str, str] = {
    "reinforce/CartPoleSwingUp-v0": "v0",
    "reinforce/CartPoleSwingUp-v1": "v1",
}


def _register_all() -> None:
    # Skip ids already present so re-imports (importlib.reload, notebooks,
    # multiprocessing workers) neither raise nor trigger "overriding" warnings.
    for env_id, version in SWINGUP_ENV_IDS.items():
        if env_id in registry:
            continue
        register(
            id=env_id,
            entry_point="reinforce.envs.swingup:CartPoleSwingUpEnv",
            max_episode_steps=500,
            kwargs={"reward_version": version},
        )


_register_all()
