"""The learned state-value function V_φ(s) used by the `value` and `gae` baselines."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reinforce.policy_base import mlp


class ValueFunction(nn.Module):
    """V_φ: (..., obs_dim) -> (...,), a tanh MLP. It takes observations as the policy sees them: with
    observation normalisation the caller passes `policy.normalize(obs)` (the statistics live in the policy)."""

    def __init__(self, obs_dim: int, hidden_sizes: Sequence[int] = (64, 64), encoder: nn.Module | None = None):
        """`encoder` (image observations): its own CNN (`policy.fresh_encoder()`), the MLP reads its features."""
        super().__init__()
        self.encoder = encoder
        self.net = mlp(obs_dim if encoder is None else encoder.out_dim, 1, hidden_sizes, activation="tanh")

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs if self.encoder is None else self.encoder(obs)).squeeze(-1)
