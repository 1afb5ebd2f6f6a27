"""Running observation normalisation, kept as module buffers so it travels in the policy's state_dict."""
from __future__ import annotations

import math

import torch
from torch import nn

from reinforce.reduce import LOCAL, Reducer, batch_moments


class ObsNormalizer(nn.Module):
    """y = clip((x - mean) / sqrt(var + eps), ±clip), with mean and var over every observation seen.

    `update(obs)` merges a batch's moments into the running ones (Chan et al.'s parallel formula, in
    float64 so that millions of samples do not lose precision); with a job-wide reducer the batch is
    every process's. Between updates the transform is frozen, so the policy that collected a rollout
    is exactly the one that is differentiated on it.
    """

    def __init__(self, dim: int, clip: float = 10.0, eps: float = 1e-8):
        super().__init__()
        self.clip, self.eps = clip, eps
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(dim, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self._frozen_key: tuple | None = None  # see _frozen

    @torch.no_grad()
    def update(self, obs: torch.Tensor, reducer: Reducer = LOCAL) -> None:
        """obs: (..., dim). Folds every row (of every process, with a job-wide reducer) into the statistics."""
        n, batch_mean, batch_var = batch_moments(obs.reshape(-1, self.mean.shape[0]), self.mean, reducer)
        total = self.count + n
        weight = n / total.clamp_min(1)  # 0 when nothing was seen at all: the statistics stay as they are
        delta = batch_mean - self.mean
        self.mean += delta * weight
        self.var.copy_(torch.where(total > 0, self.var * (1 - weight) + batch_var * weight + delta**2 * weight * (1 - weight), self.var))
        self.count.copy_(total)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        cacheable = (not torch.compiler.is_compiling() and not torch.jit.is_tracing() and obs.is_cpu
                     and not self.mean.is_inference())
        shift, scale, low, high = self._frozen(obs.dtype) if cacheable else self._affine(obs.dtype)
        return obs.sub(shift).mul_(scale).clamp_(low, high)

    def _affine(self, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """(shift, scale, low, high) in `dtype` with y = clamp((x - shift) · scale, low, high): the transform
        above, or the identity (0, 1, ∓inf) before any update. Selections, not `if count == 0`: no host sync,
        so a CUDA graph can hold it (run/graphed.py)."""
        seen = self.count > 0
        scale = (self.var + self.eps).rsqrt()
        return (torch.where(seen, self.mean, 0.0).to(dtype), torch.where(seen, scale, 1.0).to(dtype),
                torch.where(seen, -self.clip, -math.inf).to(dtype), torch.where(seen, self.clip, math.inf).to(dtype))

    def _frozen(self, dtype: torch.dtype) -> tuple[torch.Tensor, ...]:
        """`_affine`, made again only when a buffer has changed (the same objects, storages and version counters:
        an update, a load_state_dict, a `.data` swap) or clip / eps have. On CPU a rollout step normalises 100-odd
        rows, where the transform's nine calls cost more than its arithmetic. (Not on a GPU: a captured graph
        replays without Python, so nothing there could notice a change.)"""
        buffers = (self.mean, self.var, self.count)
        key = (dtype, self.clip, self.eps, *(id(b) for b in buffers), *(b.data_ptr() for b in buffers),
               *(b._version for b in buffers))
        if self._frozen_key != key:
            # normal tensors even when first asked inside inference mode (the rollout): autograd may save them
            with torch.inference_mode(False), torch.no_grad():
                self._frozen_value = self._affine(dtype)
            self._frozen_key, self._frozen_buffers = key, buffers  # (the buffers kept alive: their ids stay theirs)
        return self._frozen_value
