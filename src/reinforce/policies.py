"""Stochastic policies: a module maps a batch of observations to a `torch.distributions` object.

Shapes: observations are (..., obs_dim) float32; actions are (...,) int64 (categorical), (..., K) int64
(multi-categorical), (..., n) float32 0/1 (Bernoulli) or (..., act_dim) float32 (Gaussian, act_dim the
flattened Box). `pi(obs).log_prob(action)` is (...,) for all, so the loss code never cares which kind
it holds. `action_kind` names the kind (reinforce.spaces.ACTION_KINDS); `make_policy` picks the class
from the action space. The distributions themselves live in reinforce.distributions.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import gymnasium as gym
import torch
from torch import nn
from torch.distributions import Distribution

from reinforce.distributions import (
    BernoulliDist,
    CategoricalDist,
    DiagGaussian,
    MultiCategoricalDist,
    SquashedDiagGaussian,
)
from reinforce.encoders import ImageEncoder, make_encoder
from reinforce.normalization import ObsNormalizer
from reinforce.observations import observation_spec
from reinforce.spaces import ActionSpec, action_spec

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}
LOG_STD_MIN, LOG_STD_MAX = -8.0, 2.0  # where a state-dependent log σ is clamped (σ from 3e-4 to 7.4)


class Linear(nn.Linear):
    """nn.Linear whose CPU forward on a large 2-D batch is `mm` then the bias added in place.

    torch's addmm with a broadcast bias costs more than the product itself when the output is narrow:
    measured here (1 thread) for 4 → 2 features, 674 vs 277 µs at 65,536 rows, 46 vs 20 µs at 4,096; the same
    numbers bit for bit (and the same gradients). One-column outputs (the value head) and small batches
    measured no gain and keep F.linear, as do traced and compiled graphs (export, torch.compile).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (x.dim() == 2 and x.shape[0] >= 256 and self.out_features >= 2 and x.is_cpu and self.bias is not None
                and not torch.jit.is_tracing() and not torch.compiler.is_compiling()):
            return torch.mm(x, self.weight.t()).add_(self.bias)
        return super().forward(x)


def mlp(in_dim: int, out_dim: int, hidden_sizes: Sequence[int] = (), activation: str = "relu") -> nn.Sequential:
    """Linear layers with `activation` between them; `hidden_sizes=()` gives a single Linear."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    sizes = [in_dim, *hidden_sizes, out_dim]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class Policy(nn.Module):
    """Maps observations (..., obs_dim) to an action distribution; subclasses implement `pi`.

    pi(obs, mask=None) -> distribution (sample / log_prob / entropy / mode); sample(obs, mask=None) ->
    actions, the rollout's draw; act(obs, deterministic=False, mask=None) -> actions without autograd,
    the mode when deterministic. `mask` (..., n) bool, the allowed actions (info["action_mask"]), is
    taken by the categorical kinds only; the others raise on one (`_no_mask`).
    `obs_normalizer` (optional) is applied to every observation first; it is part of the module, so
    its statistics are saved and loaded with the weights. `encoder` (optional, reinforce.encoders) turns
    image observations (..., *shape) into features before the head's MLP; `obs_dim` stays the
    observation's value count (what the env gives), the MLP's input is the encoder's `out_dim`.
    """

    action_kind: str | None = None  # set by each subclass: "discrete", "multi_discrete", "multi_binary" or "box"
    noise_steps: float = 0.0  # τ of correlated exploration noise (DiagonalGaussianPolicy only); 0: none
    ar_steps: float = 0.0  # τ of autoregressive exploration (DiagonalGaussianPolicy, reinforce.autoregressive); 0: none
    ar_fade: float = 1.0  # the factor on its ρ = e^(-1/τ) for the current epoch (correlated_noise_decay_steps)
    head_name: str = "logits"  # the attribute holding the head MLP (DiagonalGaussianPolicy: "mu")

    def __init__(self) -> None:
        super().__init__()
        self.obs_normalizer: ObsNormalizer | None = None
        self.encoder: ImageEncoder | None = None

    def _set_encoder(self, obs_dim: int, encoder: ImageEncoder | None) -> int:
        """Keep `encoder` (None: none) and return the head MLP's input width."""
        self.encoder = encoder
        return int(obs_dim) if encoder is None else encoder.out_dim

    def fresh_encoder(self) -> ImageEncoder | None:
        """A newly initialised copy of the encoder (the value function's own), None without one."""
        return None if self.encoder is None else self.encoder.fresh()

    def shared_torso(self) -> nn.Module | None:
        """What a value function may share with the policy (share_encoder): the image encoder, else the head
        MLP's hidden layers (a Sequential of the same modules, with `out_dim`); None for a linear head."""
        if self.encoder is not None:
            return self.encoder
        head = getattr(self, self.head_name, None)
        if not isinstance(head, nn.Sequential) or len(head) < 2:
            return None
        torso = head[:-1]  # the same Linear and activation objects: their parameters are the policy's
        torso.out_dim = head[-1].in_features
        return torso

    def enable_obs_normalization(self, obs_dim: int) -> None:
        self.obs_normalizer = ObsNormalizer(obs_dim)

    @torch.no_grad()
    def init_output_layer(self, gain: float) -> None:
        """Re-initialise the last Linear (the action head's output): orthogonal weights × `gain`, zero bias."""
        head = [m for m in getattr(self, self.head_name).modules() if isinstance(m, nn.Linear)][-1]
        nn.init.orthogonal_(head.weight, gain=gain)
        head.bias.zero_()

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        return obs if self.obs_normalizer is None else self.obs_normalizer(obs)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """What the head's MLP reads: the normalised vector, or the encoder's features of an image."""
        return self.normalize(obs) if self.encoder is None else self.encoder(obs)

    def pi(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> Distribution:
        """π(·|obs): a fresh distribution with sample / log_prob / entropy / mode (reinforce.distributions)."""
        raise NotImplementedError

    def _no_mask(self, mask: torch.Tensor) -> None:
        """For the kinds that take no action mask: the ValueError when `pi` was given one."""
        if mask is not None:
            raise ValueError(f"action masks apply to Discrete and MultiDiscrete actions, not to {self.action_kind!r} ones")

    def forward(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> Distribution:
        """Same as `pi(obs, mask)`."""
        return self.pi(obs) if mask is None else self.pi(obs, mask)

    def sample(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """a ~ π(·|obs), no gradient: the rollout's hot path."""
        return (self.pi(obs) if mask is None else self.pi(obs, mask)).sample()

    def fits(self, spec: ActionSpec) -> bool:
        """Whether this policy acts in spaces described by `spec` (reinforce.spaces.action_spec); True
        for a policy that does not say."""
        return True

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = False, mask: torch.Tensor | None = None) -> torch.Tensor:
        """One action per observation (E, obs_dim) -> (E, ...); `deterministic` takes the mode (among the
        allowed actions with a `mask`)."""
        dist = self.pi(obs) if mask is None else self.pi(obs, mask)
        return dist.mode if deterministic else dist.sample()


class CategoricalPolicy(Policy):
    """Softmax over `n_actions` logits; `hidden_sizes=()` is the article's linear policy.

    pi(obs, mask=None) -> CategoricalDist over actions (...,) int64 (masked actions: probability 0);
    sample(obs) -> actions (...,); act(obs, deterministic=False) -> a sample, or the argmax.
    Parameters: `logits.*` (the MLP).
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden_sizes: Sequence[int] = (), activation: str = "tanh",
                 encoder: ImageEncoder | None = None):
        """`logits` = mlp(obs_dim (or the encoder's features) -> n_actions) with `hidden_sizes` and `activation`."""
        super().__init__()
        self.obs_dim, self.n_actions = int(obs_dim), int(n_actions)
        self.logits = mlp(self._set_encoder(obs_dim, encoder), self.n_actions, hidden_sizes, activation)

    action_kind = "discrete"

    def pi(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> CategoricalDist:
        return CategoricalDist(self.logits(self.features(obs)), mask)

    def fits(self, spec: ActionSpec) -> bool:
        return spec.kind == self.action_kind and spec.nvec == (self.n_actions,)


class MultiCategoricalPolicy(Policy):
    """Independent categoricals over K sub-actions with nvec[k] choices each (a MultiDiscrete space).

    One MLP gives the concatenated logits (..., sum(nvec)); pi(obs) -> MultiCategoricalDist over actions
    (..., K) int64; act(obs, deterministic=True) -> the per-sub-action argmax. Parameters: `logits.*`.
    """

    action_kind = "multi_discrete"

    def __init__(self, obs_dim: int, nvec: Sequence[int], hidden_sizes: Sequence[int] = (), activation: str = "tanh",
                 encoder: ImageEncoder | None = None):
        """`logits` = mlp(obs_dim (or the encoder's features) -> sum(nvec)) with `hidden_sizes` and `activation`."""
        super().__init__()
        self.obs_dim, self.nvec = int(obs_dim), tuple(int(n) for n in nvec)
        if not self.nvec or min(self.nvec) < 1:
            raise ValueError(f"nvec must be a non-empty list of positive counts, got {nvec}")
        self.logits = mlp(self._set_encoder(obs_dim, encoder), sum(self.nvec), hidden_sizes, activation)

    def pi(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> MultiCategoricalDist:
        return MultiCategoricalDist(self.logits(self.features(obs)), self.nvec, mask)

    def fits(self, spec: ActionSpec) -> bool:
        return spec.kind == self.action_kind and spec.nvec == self.nvec


class BernoulliPolicy(Policy):
    """Independent Bernoullis over n bits (a MultiBinary space), P(bit = 1) = sigmoid(logit).

    pi(obs) -> BernoulliDist over actions (..., n) float32 0/1; act(obs, deterministic=True) -> the bits
    whose logit is > 0. Parameters: `logits.*` (the MLP, obs_dim -> n).
    """

    action_kind = "multi_binary"

    def __init__(self, obs_dim: int, n: int, hidden_sizes: Sequence[int] = (), activation: str = "tanh",
                 encoder: ImageEncoder | None = None):
        super().__init__()
        self.obs_dim, self.n = int(obs_dim), int(n)
        self.logits = mlp(self._set_encoder(obs_dim, encoder), self.n, hidden_sizes, activation)

    def pi(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> BernoulliDist:
        if mask is not None:
            self._no_mask(mask)
        return BernoulliDist(self.logits(self.features(obs)))

    def fits(self, spec: ActionSpec) -> bool:
        return spec.kind == self.action_kind and spec.outputs == self.n


class DiagonalGaussianPolicy(Policy):
    """Independent Normals: mean from an MLP, log σ a learned state-independent vector.

    pi(obs) -> DiagGaussian (or SquashedDiagGaussian) over actions (..., act_dim) float32;
    sample(obs) -> actions (..., act_dim); act(obs, deterministic=False) -> a sample, or the mode.
    `log_prob` sums over action dimensions, so it is (...,) like the categorical's.
    Plain (default): samples are unbounded; clipping to the action space happens only on the way to
    the env. `squash=True` with finite `action_low/high`: a = low + (tanh(u) + 1)·(high - low)/2 with
    u ~ N(μ, σ), and `log_prob(a)` includes the change-of-variables correction.
    Parameters and buffers: `mu.*`, `log_std` (act_dim,), and when squashed `action_center`,
    `action_half_range` (act_dim,). A Box of shape (2, 3) is act_dim = 6: the env's copy is reshaped.

    Correlated exploration (`noise_steps` τ > 0): the rollout feeds an exogenous AR(1) noise ξ (..., act_dim)
    (`next_noise`: unit variance, autocorrelation ρ = e^(-1/τ) per step, independent of the weights and
    the actions) and the mean becomes μ(s) + c·ξ, with log c the learned `noise_log_scale` (act_dim,). The
    policy is then π(a | s, ξ) on the state (s, ξ) whose ξ part moves on its own, so the score-function
    gradient with ξ stored beside each action is exact. Without `noise` (evaluation, predict, export) ξ = 0.
    Autoregressive exploration (`ar_steps` τ > 0, reinforce.autoregressive) makes the noise the policy's own.
    """

    action_kind = "box"
    head_name = "mu"

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
        encoder: ImageEncoder | None = None,
        noise_steps: float = 0.0,
        noise_log_scale_init: float = -1.0,
        ar_steps: float = 0.0,
        state_dependent_std: bool = False,
    ):
        """`mu` = mlp(obs_dim (or the encoder's features) -> act_dim); `log_std` starts at `log_std_init`;
        bounds default to ±1 when squashed; `noise_steps` > 0 adds the correlated noise, log c starting at
        `noise_log_scale_init`; `ar_steps` > 0 (not with it) makes exploration autoregressive;
        `state_dependent_std` adds `std_head` (zero-initialised) on mu's last hidden features: log σ(s) =
        log_std + std_head(h(s)), clamped to [LOG_STD_MIN, LOG_STD_MAX]."""
        super().__init__()
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.mu = mlp(self._set_encoder(obs_dim, encoder), self.act_dim, hidden_sizes, activation)
        self.log_std = nn.Parameter(torch.full((self.act_dim,), float(log_std_init)))
        self.std_head: nn.Linear | None = None
        if state_dependent_std:  # starts at 0: σ(s) = e^log_std_init in every state, as without it
            self.std_head = nn.Linear(self.mu[-1].in_features, self.act_dim)
            nn.init.zeros_(self.std_head.weight)
            nn.init.zeros_(self.std_head.bias)
        if noise_steps > 0:  # registered only when used: other policies' state_dicts keep their keys
            self.noise_steps = float(noise_steps)
            self.noise_rho = math.exp(-1.0 / self.noise_steps)
            self.noise_log_scale = nn.Parameter(torch.full((self.act_dim,), float(noise_log_scale_init)))
        if ar_steps > 0:
            if noise_steps > 0:
                raise ValueError("autoregressive_noise_steps and correlated_noise_steps are two kinds of correlated "
                                 "exploration: set one of them (the other to 0)")
            if not ar_steps <= 1e6:  # ρ = e^(-1/τ) must stay below 1 in float arithmetic
                raise ValueError(f"autoregressive_noise_steps must be in [0, 1e6] env steps, got {ar_steps!r}")
            self.ar_steps = float(ar_steps)
        self.squash = bool(squash)
        if self.squash:
            low = torch.as_tensor(-1.0 if action_low is None else action_low, dtype=torch.float32).expand(self.act_dim)
            high = torch.as_tensor(1.0 if action_high is None else action_high, dtype=torch.float32).expand(self.act_dim)
            if not (torch.isfinite(low).all() and torch.isfinite(high).all() and (high > low).all()):
                raise ValueError(f"squash=True needs finite action bounds with high > low, got {low} and {high}")
            self.register_buffer("action_center", ((high + low) / 2).clone())
            self.register_buffer("action_half_range", ((high - low) / 2).clone())

    def next_noise(self, noise_E: torch.Tensor | None, num_envs: int) -> torch.Tensor:
        """ξ_t (E, act_dim) from ξ_{t-1} (None: a fresh draw from the stationary N(0, 1)); only with noise_steps > 0."""
        fresh = torch.randn((num_envs, self.act_dim), device=self.log_std.device)
        if noise_E is None:
            return fresh
        return noise_E.mul(self.noise_rho).add_(fresh, alpha=math.sqrt(1.0 - self.noise_rho**2))

    def pi(self, obs: torch.Tensor, mask: torch.Tensor | None = None,
           noise: torch.Tensor | None = None) -> DiagGaussian | SquashedDiagGaussian:
        """π(·|obs, ξ = `noise`) (..., act_dim); `noise` is taken only with noise_steps > 0, None is ξ = 0."""
        if mask is not None:
            self._no_mask(mask)
        mean, log_std = self.mean_and_log_std(obs)
        if noise is not None and self.noise_steps > 0:
            mean = mean + self.noise_log_scale.exp() * noise
        if self.squash:
            return SquashedDiagGaussian(mean, log_std, self.action_center, self.action_half_range)
        return DiagGaussian(mean, log_std)

    def mean_and_log_std(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """μ(s) (..., act_dim) before any squash and log σ: (act_dim,), or (..., act_dim) with `std_head` (which
        reads the hidden features detached: σ's gradient leaves μ's torso alone)."""
        x = self.features(obs)
        if self.std_head is None:
            return self.mu(x), self.log_std
        hidden = self.mu[:-1](x)  # an empty Sequential (identity) for a linear mean
        log_std = self.log_std + self.std_head(hidden.detach())
        return self.mu[-1](hidden), log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def fits(self, spec: ActionSpec) -> bool:
        return spec.kind == self.action_kind and spec.outputs == self.act_dim


def make_policy(
    observation_space: gym.Space,
    action_space: gym.Space,
    hidden_sizes: Sequence[int] | None = None,
    activation: str | None = None,
    log_std_init: float = 0.0,
    squash: bool = False,
    normalize_observations: bool = False,
    head_init_gain: float | None = None,
    encoder: str = "auto",
    noise_steps: float = 0.0,
    noise_log_scale_init: float = -1.0,
    ar_steps: float = 0.0,
    state_dependent_std: bool = False,
) -> Policy:
    """Pick the policy the action space needs (reinforce.spaces.action_spec): Discrete -> categorical,
    MultiDiscrete -> multi-categorical, MultiBinary -> Bernoulli, Box (any shape, flattened) -> diagonal Gaussian;
    and the encoder the observation space needs (reinforce.encoders: none for vectors, a CNN for images).

    Defaults follow the article: linear logits (tanh between layers when given), 64-64 ReLU Gaussian mean.
    After a CNN the head is linear unless `hidden_sizes` says otherwise.
    """
    obs_spec, spec = observation_spec(observation_space), action_spec(action_space)
    obs_dim, enc = obs_spec.flat_dim, make_encoder(obs_spec, encoder)
    if enc is not None and normalize_observations:
        # the defaults for any env normalise; for images the encoder's fixed scaling is the normalisation
        warnings.warn("normalize_observations applies to vector observations: images are scaled to [0, 1] by the "
                      "encoder instead", stacklevel=2)
        normalize_observations = False
    for name, value in (("correlated_noise_steps", noise_steps), ("autoregressive_noise_steps", ar_steps),
                        ("state_dependent_std", state_dependent_std)):
        if value and spec.kind != "box":
            raise ValueError(f"{name} applies to Box actions (a Gaussian policy), not to {spec.kind!r} ones; "
                             "leave it off for this env")
    logit_kwargs = {"hidden_sizes": tuple(hidden_sizes or ()), "activation": activation or "tanh", "encoder": enc}
    if spec.kind == "discrete":
        policy: Policy = CategoricalPolicy(obs_dim, spec.outputs, **logit_kwargs)
    elif spec.kind == "multi_discrete":
        policy = MultiCategoricalPolicy(obs_dim, spec.nvec, **logit_kwargs)
    elif spec.kind == "multi_binary":
        policy = BernoulliPolicy(obs_dim, spec.outputs, **logit_kwargs)
    else:
        policy = DiagonalGaussianPolicy(
            obs_dim,
            spec.outputs,
            hidden_sizes=((64, 64) if enc is None else ()) if hidden_sizes is None else tuple(hidden_sizes),
            activation=activation or "relu",
            log_std_init=log_std_init,
            squash=squash,
            # flattened in the same (C) order as the actions the env gets reshaped from
            action_low=torch.as_tensor(action_space.low, dtype=torch.float32).reshape(-1) if squash else None,
            action_high=torch.as_tensor(action_space.high, dtype=torch.float32).reshape(-1) if squash else None,
            encoder=enc,
            noise_steps=noise_steps,
            noise_log_scale_init=noise_log_scale_init,
            ar_steps=ar_steps,
            state_dependent_std=state_dependent_std,
        )
    if head_init_gain is not None:
        policy.init_output_layer(head_init_gain)
    if normalize_observations:
        policy.enable_obs_normalization(obs_dim)
    return policy
