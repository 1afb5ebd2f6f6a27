"""The learned state-value function V_φ(s) used by the `value` and `gae` baselines."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from reinforce.policies import mlp


class ValueFunction(nn.Module):
    """V_φ: (..., obs_dim) -> (...,). Shares the policy's observation normaliser when given one."""

    def __init__(self, obs_dim: int, hidden_sizes: Sequence[int] = (64, 64), normalizer: nn.Module | None = None):
        super().__init__()
        self.net = mlp(obs_dim, 1, hidden_sizes, activation="tanh")
        # Not a submodule: the normaliser belongs to (and is saved with) the policy.
        self._normalizer = [normalizer] if normalizer is not None else []

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self._normalizer:
            obs = self._normalizer[0](obs)
        return self.net(obs).squeeze(-1)
