"""Stochastic policies: a module maps a batch of observations to a `torch.distributions` object.

Shapes: observations are (..., obs_dim) float32; a categorical policy's actions are (...,) int64, a
Gaussian policy's are (..., act_dim) float32. `pi(obs).log_prob(action)` is (...,) for both, so the
loss code never cares which kind it holds.
"""
from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal, TransformedDistribution
from torch.distributions.transforms import AffineTransform, TanhTransform

from reinforce.normalization import ObsNormalizer
from reinforce.spaces import space_dims

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


def mlp(in_dim: int, out_dim: int, hidden_sizes: Sequence[int] = (), activation: str = "relu") -> nn.Sequential:
    """Linear layers with `activation` between them; `hidden_sizes=()` gives a single Linear."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    sizes = [in_dim, *hidden_sizes, out_dim]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class Policy(nn.Module):
    """Base class: subclasses implement `pi(obs) -> Distribution`.

    `obs_normalizer` (optional) is applied to every observation first; it is part of the module, so
    its statistics are saved and loaded with the weights.
    """

    def __init__(self) -> None:
        super().__init__()
        self.obs_normalizer: ObsNormalizer | None = None

    def enable_obs_normalization(self, obs_dim: int) -> None:
        self.obs_normalizer = ObsNormalizer(obs_dim)

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return obs if self.obs_normalizer is None else self.obs_normalizer(obs)

    def pi(self, obs: torch.Tensor) -> Distribution:
        raise NotImplementedError

    def forward(self, obs: torch.Tensor) -> Distribution:
        return self.pi(obs)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Sample one action per observation (E, ...) -> (E, ...); `deterministic` takes the mode."""
        return self.mode(self.pi(obs)) if deterministic else self.sample(obs)

    def sample(self, obs: torch.Tensor) -> torch.Tensor:
        """Draw a ~ π(·|obs) without building a Distribution: the rollout's hot path.

        Same law as `pi(obs).sample()`; subclasses use cheaper draws.
        """
        return self.pi(obs).sample()

    @staticmethod
    def mode(dist: Distribution) -> torch.Tensor:
        raise NotImplementedError

    def entropy(self, dist: Distribution) -> torch.Tensor:
        """Entropy of `dist` per row (...,)."""
        return dist.entropy()


class _TwoActionCategorical(Categorical):
    """Categorical over two actions with closed-form log-prob and entropy from z = l1 - l0.

    Same values as Categorical's (to float rounding); the generic gather/logsumexp path costs
    most of an update on CartPole-sized problems.
    """

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        z = self.logits[..., 1] - self.logits[..., 0]
        return torch.nn.functional.logsigmoid(torch.where(value.bool(), z, -z))

    def entropy(self) -> torch.Tensor:
        z = self.logits[..., 1] - self.logits[..., 0]
        return torch.nn.functional.softplus(z) - torch.sigmoid(z) * z


class CategoricalPolicy(Policy):
    """Softmax over `n_actions` logits; `hidden_sizes=()` is the article's linear policy."""

    def __init__(self, obs_dim: int, n_actions: int, hidden_sizes: Sequence[int] = (), activation: str = "tanh"):
        super().__init__()
        self.obs_dim, self.n_actions = int(obs_dim), int(n_actions)
        self.logits = mlp(self.obs_dim, self.n_actions, hidden_sizes, activation)

    def pi(self, obs: torch.Tensor) -> Categorical:
        kind = _TwoActionCategorical if self.n_actions == 2 else Categorical
        return kind(logits=self.logits(self.normalize(obs)), validate_args=False)

    def sample(self, obs: torch.Tensor) -> torch.Tensor:
        # Inverse CDF on one uniform per row: much cheaper than torch.multinomial for large batches.
        logits = self.logits(self.normalize(obs))
        if self.n_actions == 2:  # P(a=1) = sigmoid(z1 - z0): one compare per row
            u = torch.rand(logits.shape[:-1], device=logits.device)
            return (u < torch.sigmoid(logits[..., 1] - logits[..., 0])).long()
        cdf = torch.softmax(logits, dim=-1).cumsum(-1)
        u = torch.rand((*logits.shape[:-1], 1), device=logits.device) * cdf[..., -1:]
        return (u > cdf).sum(-1).clamp_(max=self.n_actions - 1)

    @staticmethod
    def mode(dist: Distribution) -> torch.Tensor:
        return dist.logits.argmax(-1)


class DiagonalGaussianPolicy(Policy):
    """Independent Normals: mean from an MLP, log σ a learned state-independent vector.

    `log_prob` sums the per-dimension log densities, so it is (...,) like the categorical's.
    Plain (default): samples are unbounded; clipping to the action space happens only on the way to
    the env. `squash=True` with finite `action_low/high`: a = low + (tanh(u) + 1)·(high - low)/2 with
    u ~ N(μ, σ), and `log_prob(a)` includes the change-of-variables correction.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        hidden_sizes: Sequence[int] = (64, 64),
        activation: str = "relu",
        log_std_init: float = 0.0,
        squash: bool = False,
        action_low: Sequence[float] | torch.Tensor | None = None,
        action_high: Sequence[float] | torch.Tensor | None = None,
    ):
        super().__init__()
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.mu = mlp(self.obs_dim, self.act_dim, hidden_sizes, activation)
        self.log_std = nn.Parameter(torch.full((self.act_dim,), float(log_std_init)))
        self.squash = bool(squash)
        if self.squash:
            low = torch.as_tensor(-1.0 if action_low is None else action_low, dtype=torch.float32).expand(self.act_dim)
            high = torch.as_tensor(1.0 if action_high is None else action_high, dtype=torch.float32).expand(self.act_dim)
            if not (torch.isfinite(low).all() and torch.isfinite(high).all() and (high > low).all()):
                raise ValueError(f"squash=True needs finite action bounds with high > low, got {low} and {high}")
            self.register_buffer("action_center", ((high + low) / 2).clone())
            self.register_buffer("action_half_range", ((high - low) / 2).clone())

    def pi(self, obs: torch.Tensor) -> Distribution:
        mean = self.mu(self.normalize(obs))
        base = Normal(mean, self.log_std.exp().expand_as(mean), validate_args=False)
        if not self.squash:
            return Independent(base, 1, validate_args=False)
        transforms = [TanhTransform(cache_size=1), AffineTransform(self.action_center, self.action_half_range)]
        return Independent(TransformedDistribution(base, transforms, validate_args=False), 1, validate_args=False)

    def sample(self, obs: torch.Tensor) -> torch.Tensor:
        mean = self.mu(self.normalize(obs))
        u = mean + self.log_std.exp() * torch.randn_like(mean)
        if not self.squash:
            return u
        # Keep a hair inside the bounds: tanh saturates to ±1 in float32, where atanh (in log_prob) is infinite.
        squashed = torch.tanh(u).clamp(-1 + 1e-6, 1 - 1e-6)
        return self.action_center + self.action_half_range * squashed

    def entropy(self, dist: Distribution) -> torch.Tensor:
        """Entropy per row; for the squashed policy that of the Gaussian before the tanh (no closed form after)."""
        if self.squash:
            return dist.base_dist.base_dist.entropy().sum(-1)
        return dist.entropy()

    @staticmethod
    def mode(dist: Distribution) -> torch.Tensor:
        if isinstance(dist.base_dist, TransformedDistribution):
            value = dist.base_dist.base_dist.mean
            for transform in dist.base_dist.transforms:
                value = transform(value)
            return value
        return dist.mean


def make_policy(
    observation_space: gym.Space,
    action_space: gym.Space,
    hidden_sizes: Sequence[int] | None = None,
    activation: str | None = None,
    log_std_init: float = 0.0,
    squash: bool = False,
    normalize_observations: bool = False,
) -> Policy:
    """Pick the policy the action space needs: Discrete -> categorical, Box -> diagonal Gaussian.

    Defaults follow the article: linear categorical, 64-64 ReLU Gaussian mean.
    """
    obs_dim, act, discrete = space_dims(observation_space, action_space)
    if discrete:
        policy: Policy = CategoricalPolicy(
            obs_dim, act, hidden_sizes=tuple(hidden_sizes or ()), activation=activation or "tanh"
        )
    else:
        policy = DiagonalGaussianPolicy(
            obs_dim,
            act,
            hidden_sizes=(64, 64) if hidden_sizes is None else tuple(hidden_sizes),
            activation=activation or "relu",
            log_std_init=log_std_init,
            squash=squash,
            action_low=torch.as_tensor(action_space.low, dtype=torch.float32) if squash else None,
            action_high=torch.as_tensor(action_space.high, dtype=torch.float32) if squash else None,
        )
    if normalize_observations:
        policy.enable_obs_normalization(obs_dim)
    return policy
