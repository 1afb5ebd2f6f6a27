"""Observation encoders: image observations (..., *shape) uint8/bool -> features (..., out_dim) float32.

Vector observations need none (the policy's MLP takes them as they are). Images get a CNN chosen by
size: the Nature-CNN (Mnih et al. 2015: 32·8×8/4, 64·4×4/2, 64·3×3/1, then 512) for images of at least
36 pixels a side, and the MinAtar paper's small CNN (16·3×3/1, then 128) for small grids such as
MinAtar's 10×10 or MiniGrid's 7×7 view. uint8 pixels are scaled to [0, 1] on the device, bool planes
cast to 0/1; HWC images are permuted to CHW there too, so the rollout keeps the env's layout and dtype.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from reinforce.config import ENCODERS
from reinforce.observations import ObsSpec

NATURE_MIN_SIDE = 36  # the Nature-CNN's three convolutions leave nothing of a smaller image


def _init(module: nn.Module) -> nn.Module:
    """Orthogonal weights with ReLU's gain √2 and zero biases, as the Atari baselines initialise."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.orthogonal_(m.weight, gain=math.sqrt(2))
            nn.init.zeros_(m.bias)
    return module


class ImageEncoder(nn.Module):
    """A CNN over images (..., *shape) in the env's layout; forward gives (..., out_dim) float32.

    arch: "nature_cnn" or "small_cnn". Any number of leading axes (T, E, ...) is kept.
    """

    def __init__(self, spec: ObsSpec, arch: str):
        super().__init__()
        self.shape, self.channels_last, self.arch = spec.shape, spec.channels_last, arch
        self.scale = 1.0 / 255.0 if spec.dtype == "uint8" else 1.0
        channels, height, width = spec.chw
        if arch == "nature_cnn":
            if min(height, width) < NATURE_MIN_SIDE:
                raise ValueError(f"encoder 'nature_cnn' needs images of at least {NATURE_MIN_SIDE} pixels a side, "
                                 f"got {height}×{width}; use 'small_cnn'")
            convs = nn.Sequential(nn.Conv2d(channels, 32, 8, stride=4), nn.ReLU(), nn.Conv2d(32, 64, 4, stride=2),
                                  nn.ReLU(), nn.Conv2d(64, 64, 3, stride=1), nn.ReLU(), nn.Flatten())
            self.out_dim = 512
        elif arch == "small_cnn":
            convs = nn.Sequential(nn.Conv2d(channels, 16, 3, stride=1), nn.ReLU(), nn.Flatten())
            self.out_dim = 128
        else:
            raise ValueError(f"unknown image encoder {arch!r}; choose nature_cnn or small_cnn")
        with torch.no_grad():
            n_flat = convs(torch.zeros(1, channels, height, width)).shape[1]
        self.net = _init(nn.Sequential(convs, nn.Linear(n_flat, self.out_dim), nn.ReLU()))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        lead = obs.shape[: obs.dim() - len(self.shape)]
        x = obs.reshape(-1, *self.shape).to(torch.float32) * self.scale
        if len(self.shape) == 2:
            x = x.unsqueeze(1)
        elif self.channels_last:
            x = x.permute(0, 3, 1, 2)
        return self.net(x).reshape(*lead, self.out_dim)

    def fresh(self) -> ImageEncoder:
        """A newly initialised encoder of the same architecture (the value function's own)."""
        return _init(copy.deepcopy(self))


def resolve_encoder(spec: ObsSpec, name: str = "auto") -> str:
    """The encoder `name` means for observations `spec`: "flat" for vectors, a CNN for images
    ("auto": the Nature-CNN from 36 pixels a side, the small CNN below); ValueError for a mismatch."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}")
    if spec.kind == "vector":
        if name not in ("auto", "flat"):
            raise ValueError(f"encoder {name!r} takes image observations, but these are vectors of {spec.flat_dim} values")
        return "flat"
    if name == "auto":
        return "nature_cnn" if min(spec.chw[1:]) >= NATURE_MIN_SIDE else "small_cnn"
    return name


def make_encoder(spec: ObsSpec, name: str = "auto") -> ImageEncoder | None:
    """The encoder for `spec` (None for "flat": the MLP reads the vector directly)."""
    arch = resolve_encoder(spec, name)
    return None if arch == "flat" else ImageEncoder(spec, arch)
