"""What the library can learn on: the observation and action spaces it supports, checked in one place."""
from __future__ import annotations

import math

import gymnasium as gym

SUPPORTED_SPACES = "observations: Box (flattened); actions: Discrete (starting at 0) or 1-D Box"


def space_dims(observation_space: gym.Space, action_space: gym.Space) -> tuple[int, int, bool]:
    """(obs_dim, action dim or count, is_discrete); raises a clear TypeError for what we cannot handle."""
    if not isinstance(observation_space, gym.spaces.Box):
        raise TypeError(f"unsupported observation space {observation_space}; supported {SUPPORTED_SPACES}")
    obs_dim = math.prod(observation_space.shape) if observation_space.shape else 1
    if isinstance(action_space, gym.spaces.Discrete):
        if action_space.start != 0:
            raise TypeError(f"unsupported action space {action_space}; supported {SUPPORTED_SPACES}")
        return int(obs_dim), int(action_space.n), True
    if isinstance(action_space, gym.spaces.Box) and len(action_space.shape) == 1:
        return int(obs_dim), int(action_space.shape[0]), False
    raise TypeError(f"unsupported action space {action_space}; supported {SUPPORTED_SPACES}")
