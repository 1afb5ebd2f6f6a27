"""The action spaces the library can act in, checked in one place (observations: reinforce.observations)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

SUPPORTED_SPACES = (
    "actions: Discrete (starting at 0), MultiDiscrete (starting at 0), MultiBinary or a floating-point Box of any shape"
)

ACTION_KINDS = ("discrete", "multi_discrete", "multi_binary", "box")


@dataclass(frozen=True)
class ActionSpec:
    """How a policy acts in an action space: every kind samples flat actions per row, reshaped for the env.

    kind: one of ACTION_KINDS. shape: the env's action shape for one env (() for Discrete).
    nvec: choices per flat sub-action ((n,) for Discrete, the flattened nvec for MultiDiscrete, () otherwise).
    outputs: the policy network's output width (n, sum(nvec), n, prod(shape)).
    The policy's actions per row: Discrete (...,) int64; MultiDiscrete (..., K) int64; MultiBinary
    (..., n) float32 0/1; Box (..., prod(shape)) float32.
    """

    kind: str
    shape: tuple[int, ...]
    nvec: tuple[int, ...]
    outputs: int

    @property
    def flat_dim(self) -> int:
        """Sub-actions per row: 1 for Discrete, prod(shape) otherwise."""
        return math.prod(self.shape)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one row's action as the policy samples it: () for Discrete, (flat_dim,) otherwise."""
        return () if self.kind == "discrete" else (self.flat_dim,)


def _unsupported(what: str, space: gym.Space) -> TypeError:
    return TypeError(f"unsupported {what} space {space}; supported {SUPPORTED_SPACES}")


def action_spec(action_space: gym.Space) -> ActionSpec:
    """The ActionSpec of `action_space`; a clear TypeError for what we cannot handle."""
    space = action_space
    if isinstance(space, gym.spaces.Discrete):
        if space.start != 0:
            raise _unsupported("action", space)
        return ActionSpec("discrete", (), (int(space.n),), int(space.n))
    if isinstance(space, gym.spaces.MultiDiscrete):
        # A nonzero start would need an offset on the way to the env; nobody has asked for it yet.
        if np.any(space.start != 0) or space.nvec.size == 0:
            raise _unsupported("action", space)
        nvec = tuple(int(n) for n in space.nvec.reshape(-1))
        return ActionSpec("multi_discrete", tuple(space.shape), nvec, sum(nvec))
    if isinstance(space, gym.spaces.MultiBinary):
        shape = tuple(int(n) for n in space.shape)
        if math.prod(shape) == 0:
            raise _unsupported("action", space)
        return ActionSpec("multi_binary", shape, (), math.prod(shape))
    if isinstance(space, gym.spaces.Box) and math.prod(space.shape) > 0:
        if not np.issubdtype(space.dtype, np.floating):  # a Gaussian's actions are reals: an integer Box is a grid
            raise TypeError(f"unsupported action space {space}: a Box of {space.dtype} holds integers, which a Gaussian "
                            "policy's real-valued actions are not; describe the choices as MultiDiscrete (or Discrete)")
        return ActionSpec("box", tuple(space.shape), (), math.prod(space.shape))
    raise _unsupported("action", space)
