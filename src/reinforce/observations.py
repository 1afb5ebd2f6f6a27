"""Observations as the policy takes them: what each Gymnasium observation space becomes, batched.

Two kinds (`ObsSpec.kind`):

* "vector": (E, D) float32. Box vectors are flattened; Discrete and MultiDiscrete parts are one-hot
  encoded, MultiBinary parts kept as 0/1; Dict and Tuple spaces concatenate their parts in the space's
  own order. A Dict's "action_mask" entry (the Gymnasium / PettingZoo convention) is not an input: it
  becomes `info["action_mask"]`. Parts that are not numbers (Text; MiniGrid's mission) are dropped,
  with a one-time notice.
* "image": a uint8 or bool Box of 2 or 3 dimensions, kept in its own dtype and shape, (E, *shape),
  so a rollout of 84×84×4 frames stays a quarter of float32's size; the encoder scales it on the
  device (reinforce.encoders). `channels_last` says whether the channel axis is the last (HWC).
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

MASK_KEY = "action_mask"
SUPPORTED_OBSERVATIONS = (
    "Box (vectors flattened; uint8/bool images of 2 or 3 dims), Discrete, MultiDiscrete, MultiBinary, "
    "and Dict or Tuple of these (Text parts dropped)"
)
_TORCH_DTYPES = {"float32": torch.float32, "uint8": torch.uint8, "bool": torch.bool}
_NUMERIC = (gym.spaces.Box, gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)


@dataclass(frozen=True)
class ObsSpec:
    """What one env's observation becomes for the policy.

    kind: "vector" or "image". shape: (D,) for vectors, the image's shape otherwise (a 2-D image gets
    no channel axis here; the encoder adds it). dtype: "float32", "uint8" or "bool", the dtype the
    rollout stores. channels_last: images only, True for HWC. unread: the parts that are not numbers
    (Text), left out of the input. mask_key: "action_mask" when a Dict observation carries one.
    """

    kind: str
    shape: tuple[int, ...]
    dtype: str = "float32"
    channels_last: bool = False
    unread: tuple[str, ...] = ()
    mask_key: str | None = None

    @property
    def dropped(self) -> tuple[str, ...]:
        """Every Dict entry left out of the input: the unread parts and the action mask."""
        return self.unread + ((self.mask_key,) if self.mask_key else ())

    @property
    def chw(self) -> tuple[int, int, int]:
        """An image's (channels, height, width), whatever its layout (a 2-D image has 1 channel)."""
        if len(self.shape) == 2:
            return (1, *self.shape)
        if self.channels_last:
            height, width, channels = self.shape
            return channels, height, width
        return self.shape

    @property
    def flat_dim(self) -> int:
        """Values per observation (the image's pixels for images)."""
        return math.prod(self.shape)

    @property
    def torch_dtype(self) -> torch.dtype:
        return _TORCH_DTYPES[self.dtype]


def _unsupported(space: gym.Space) -> TypeError:
    return TypeError(f"unsupported observation space {space}; supported: {SUPPORTED_OBSERVATIONS}")


def is_image_space(space: gym.Space) -> bool:
    """A Box of uint8 or bool with 2 (H, W) or 3 (HWC or CHW) dimensions, each side ≥ 3."""
    return (isinstance(space, gym.spaces.Box) and space.dtype in (np.uint8, np.bool_)
            and len(space.shape) in (2, 3) and sorted(space.shape)[-2] >= 3)


def _vector_width(space: gym.Space, path: str, dropped: list[str]) -> int:
    """Flat float values of `space` (one-hot widths for discrete parts); records dropped Text parts."""
    if isinstance(space, gym.spaces.Box):
        return math.prod(space.shape)
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return int(space.nvec.sum())
    if isinstance(space, gym.spaces.MultiBinary):
        return math.prod(space.shape)
    if isinstance(space, gym.spaces.Dict):
        return sum(_vector_width(s, f"{path}.{k}" if path else k, dropped) for k, s in space.spaces.items()
                   if not (path == "" and k == MASK_KEY))
    if isinstance(space, gym.spaces.Tuple):
        return sum(_vector_width(s, f"{path}[{i}]", dropped) for i, s in enumerate(space.spaces))
    if path:  # a part of a Dict or Tuple that is not numbers (Text, MiniGrid's MissionSpace): left out
        dropped.append(path)
        return 0
    raise _unsupported(space)


def observation_spec(space: gym.Space) -> ObsSpec:
    """The ObsSpec of `space`; a clear TypeError for what cannot be encoded."""
    if is_image_space(space):
        shape = tuple(int(n) for n in space.shape)
        # the channel axis is the short one: (84, 84, 4) and (10, 10, 4) are HWC, (4, 84, 84) is CHW
        channels_last = len(shape) == 3 and shape[-1] <= shape[0]
        return ObsSpec("image", shape, "bool" if space.dtype == np.bool_ else "uint8", channels_last)
    dropped: list[str] = []
    width = _vector_width(space, "", dropped)
    if width == 0:
        raise _unsupported(space)
    mask_key = MASK_KEY if isinstance(space, gym.spaces.Dict) and MASK_KEY in space.spaces else None
    return ObsSpec("vector", (width,), unread=tuple(dropped), mask_key=mask_key)


def _one_hot(index: np.ndarray, n: int) -> np.ndarray:
    """(len(index), n) float32 rows with a 1 at each index (no n×n identity built on every step)."""
    index = np.asarray(index, dtype=np.int64)
    out = np.zeros((index.shape[0], n), dtype=np.float32)
    out[np.arange(index.shape[0]), index] = 1.0
    return out


def _indices(space: gym.Space, raw: np.ndarray, start: Any, n: Any) -> np.ndarray:
    """raw − start, the indices from 0, if they are whole numbers below n (per column for MultiDiscrete), else a
    ValueError naming the values: a negative index would wrap around and a fraction be cut, each to another state."""
    index = raw - start
    bad = (np.mod(index, 1) != 0) | (index < 0) | (index >= n)
    if bad.any():
        raise ValueError(f"observation values {np.asarray(raw)[bad][:5].tolist()} are not in {space}")
    return index


def _flatten(space: gym.Space, obs: Any, n: int, top: bool = False, check: bool = False) -> list[np.ndarray]:
    """Parts (n, d) float32 of a batch of n observations of `space` (Gymnasium's batched layout); `check`: Discrete
    values must be states of their space (`_indices`; an env's are, a caller's may not be)."""
    if isinstance(space, (gym.spaces.Box, gym.spaces.MultiBinary)):
        return [np.asarray(obs, dtype=np.float32).reshape(n, -1)]
    if isinstance(space, gym.spaces.Discrete):
        raw = np.asarray(obs).reshape(n)
        index = _indices(space, raw, int(space.start), int(space.n)) if check else raw - int(space.start)
        return [_one_hot(index, int(space.n))]
    if isinstance(space, gym.spaces.MultiDiscrete):
        raw, start = np.asarray(obs).reshape(n, -1), space.start.reshape(1, -1)
        idx = _indices(space, raw, start, space.nvec.reshape(1, -1)) if check else raw - start
        return [_one_hot(idx[:, k], int(m)) for k, m in enumerate(space.nvec.reshape(-1))]
    if isinstance(space, gym.spaces.Dict):
        if not isinstance(obs, Mapping):
            raise ValueError(f"an observation of {space} is a dict of its parts, got {type(obs).__name__}")
        parts = []
        for k, s in space.spaces.items():
            if top and k == MASK_KEY:
                continue
            if k not in obs:  # (a part that is not numbers, text, is never read: it need not be given)
                if not _vector_width(s, k, []):
                    continue
                raise ValueError(f"the observation has no {k!r}; {space} needs "
                                 f"{', '.join(repr(k) for k, s in space.spaces.items() if _vector_width(s, k, []))}")
            parts += _flatten(s, obs[k], n, check=check)
        return parts
    if isinstance(space, gym.spaces.Tuple):
        return [p for i, s in enumerate(space.spaces) for p in _flatten(s, obs[i], n, check=check)]
    return []  # not numbers: dropped (observation_spec has said so)


_noticed: set[tuple[str, ...]] = set()


def encode_batch(space: gym.Space, spec: ObsSpec, obs: Any, n: int, check: bool = False) -> np.ndarray:
    """A batch of n observations (Gymnasium's batched layout) as the policy takes them: (n, D) float32
    for vectors, (n, *shape) in the image's dtype for images; always a fresh array. `check`: Discrete parts must be
    states of their space (for a caller's input, as `predict` takes; an env's step skips the cost, ~5 µs)."""
    if spec.kind == "image":
        array = np.array(obs, dtype=np.bool_ if spec.dtype == "bool" else np.uint8)
        if array.size != n * spec.flat_dim:
            raise ValueError(f"observations of shape {array.shape} do not match the space {space} for {n} envs")
        return array.reshape(n, *spec.shape)
    if spec.unread and spec.unread not in _noticed:
        _noticed.add(spec.unread)
        warnings.warn(f"observation parts {', '.join(spec.unread)} are not numbers (text), which the policy cannot read: dropped "
                      "(wrap the env to encode them if the task needs them)", stacklevel=3)
    parts = _flatten(space, obs, n, top=True, check=check)
    array = np.concatenate(parts, axis=1) if len(parts) > 1 else np.array(parts[0], dtype=np.float32)
    if array.shape != (n, spec.flat_dim):
        raise ValueError(f"observations of shape {array.shape} do not match the space {space} ({spec.flat_dim} values "
                         f"for each of {n} envs)")
    return array


def batch_one(space: gym.Space, obs: Any) -> Any:
    """One observation in the batched layout of a batch of 1 (Dict and Tuple parts each get the axis)."""
    if isinstance(space, gym.spaces.Dict):
        return {k: batch_one(s, obs[k]) for k, s in space.spaces.items() if k in obs}
    if isinstance(space, gym.spaces.Tuple):
        return tuple(batch_one(s, o) for s, o in zip(space.spaces, obs))
    if not isinstance(space, _NUMERIC):
        return [obs]
    return np.asarray(obs)[None]


def batch_size(obs: Any) -> int:
    """Observations in a batch (Gymnasium's batched layout): the leading axis of its first part."""
    while isinstance(obs, (dict, tuple)):
        obs = next(iter(obs.values())) if isinstance(obs, dict) else obs[0]
    return len(obs)


def is_single(space: gym.Space, obs: Any) -> bool:
    """Whether `obs` is one observation of `space` (else a batch of them, with a leading axis)."""
    if isinstance(space, gym.spaces.Dict):
        if not isinstance(obs, Mapping):
            raise ValueError(f"an observation of {space} is a dict of its parts, got {type(obs).__name__}")
        key = next((k for k, s in space.spaces.items()
                    if k in obs and isinstance(s, (*_NUMERIC, gym.spaces.Dict, gym.spaces.Tuple))), None)
        if key is None:
            raise ValueError(f"the observation holds none of the parts of {space} ({', '.join(map(repr, space.spaces))})")
        return is_single(space.spaces[key], obs[key])
    if isinstance(space, gym.spaces.Tuple):
        return is_single(space.spaces[0], obs[0])
    if isinstance(space, gym.spaces.Discrete):
        return np.ndim(obs) == 0
    if isinstance(space, gym.spaces.MultiDiscrete):
        return np.ndim(obs) == space.nvec.ndim
    return np.ndim(obs) <= len(space.shape)  # a scalar Box of shape (1,) may come as a bare number


def mask_of(spec: ObsSpec, obs: Any) -> np.ndarray | None:
    """The Dict observation's action mask (batched), as bool, or None when it carries none."""
    return None if spec.mask_key is None else np.asarray(obs[spec.mask_key]).astype(bool)
