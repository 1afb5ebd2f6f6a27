"""The registry of native batched envs (all state in torch tensors; see `reinforce.envs.torch_env`).

Implemented ids:

* `CartPole-v0` / `CartPole-v1`: Gymnasium's classic cart-pole, 200 / 500 step limit
  (`reinforce.envs.cartpole`).
* `Pendulum-v1`: Gymnasium's pendulum, 200 step limit (`reinforce.envs.pendulum`).
* `Acrobot-v1`: Gymnasium's acrobot (RK4, "book" dynamics), 500 step limit (`reinforce.envs.acrobot`).
* `MountainCar-v0` / `MountainCarContinuous-v0`: Gymnasium's mountain cars, 3 actions resp. a force
  in [-1, 1], 200 / 999 step limit (`reinforce.envs.mountain_car`).
* `reinforce/CartPoleSwingUp-v0` / `-v1`: the swing-up of `reinforce.envs.swingup` (reward `cos θ`
  resp. `(1 + cos θ) / 2`), 500 step limit (`reinforce.envs.swingup_torch`).

The env classes are re-exported here, so `from reinforce.envs.native import TorchCartPoleV1` works.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from reinforce.envs.acrobot import TorchAcrobotV1
from reinforce.envs.cartpole import TorchCartPoleV0, TorchCartPoleV1
from reinforce.envs.mountain_car import TorchMountainCarContinuousV0, TorchMountainCarV0
from reinforce.envs.pendulum import TorchPendulumV1
from reinforce.envs.swingup_torch import TorchCartPoleSwingUpV0, TorchCartPoleSwingUpV1
from reinforce.envs.torch_env import TorchVectorEnv

__all__ = [
    "TorchVectorEnv",
    "TorchCartPoleV0",
    "TorchCartPoleV1",
    "TorchPendulumV1",
    "TorchAcrobotV1",
    "TorchMountainCarV0",
    "TorchMountainCarContinuousV0",
    "TorchCartPoleSwingUpV0",
    "TorchCartPoleSwingUpV1",
    "NATIVE_ENVS",
    "make_native",
]

NATIVE_ENVS: dict[str, Callable[..., TorchVectorEnv]] = {
    "CartPole-v0": TorchCartPoleV0,
    "CartPole-v1": TorchCartPoleV1,
    "Pendulum-v1": TorchPendulumV1,
    "Acrobot-v1": TorchAcrobotV1,
    "MountainCar-v0": TorchMountainCarV0,
    "MountainCarContinuous-v0": TorchMountainCarContinuousV0,
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
    """The native torch implementation of `env_id` with `num_envs` copies.

    Extra keyword arguments (`max_episode_steps`, `dtype`, `render_mode`; `g` for Pendulum,
    `goal_velocity` for the mountain cars, `params` for the swing-up) go to the constructor.
    ValueError for ids without a native version.
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
