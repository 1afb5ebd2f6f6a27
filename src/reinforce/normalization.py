"""Running observation normalisation, kept as module buffers so it travels in the policy's state_dict."""
from __future__ import annotations

import torch
from torch import nn


class ObsNormalizer(nn.Module):
    """y = clip((x - mean) / sqrt(var + eps), ±clip), with mean and var over every observation seen.

    `update(batch)` merges a batch's moments (Chan et al.'s parallel formula, in float64 so that
    millions of samples do not lose precision). Between updates the transform is frozen, so the
    policy that collected a rollout is exactly the one that is differentiated on it.
    """

    def __init__(self, dim: int, clip: float = 10.0, eps: float = 1e-8):
        super().__init__()
        self.clip, self.eps = clip, eps
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(dim, dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, obs: torch.Tensor) -> None:
        """obs: (..., dim). Folds every row into the running statistics."""
        x = obs.reshape(-1, self.mean.shape[0]).double()
        n = x.shape[0]
        if n == 0:
            return
        batch_mean, batch_var = x.mean(0), x.var(0, unbiased=False)
        total = self.count + n
        delta = batch_mean - self.mean
        self.mean += delta * n / total
        self.var.copy_((self.var * self.count + batch_var * n + delta**2 * self.count * n / total) / total)
        self.count.copy_(total)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.count == 0:
            return obs
        scale = (self.var + self.eps).rsqrt().to(obs.dtype)
        return ((obs - self.mean.to(obs.dtype)) * scale).clamp(-self.clip, self.clip)
