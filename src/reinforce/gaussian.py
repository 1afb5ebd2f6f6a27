"""The diagonal Gaussian policy for Box actions: a mean network, a learned log σ (optionally per state),
optional tanh squashing and the two kinds of correlated exploration (reinforce.autoregressive)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from reinforce.distributions import DiagGaussian, SquashedDiagGaussian
from reinforce.encoders import ImageEncoder
from reinforce.checks import require_int
from reinforce.policy_base import Linear, Policy, mlp
from reinforce.spaces import ActionSpec

STD_HEAD_RANGE = 4.0  # a state-dependent σ stays within e^±4 (×55) of the learned vector's


class DiagonalGaussianPolicy(Policy):
    """Independent Normals: mean from an MLP, log σ a learned vector (plus a per-state head, optionally).

    pi(obs) -> DiagGaussian (or SquashedDiagGaussian) over actions (..., act_dim) float32;
    sample(obs) -> actions (..., act_dim); act(obs, deterministic=False) -> a sample, or the mode.
    `log_prob` sums over action dimensions, so it is (...,) like the categorical's.
    Plain (default): samples are unbounded; clipping to the action space happens only on the way to
    the env. `squash=True` with finite `action_low/high`: a = low + (tanh(u) + 1)·(high - low)/2 with
    u ~ N(μ, σ), and `log_prob(a)` includes the change-of-variables correction.
    Parameters and buffers: `mu.*`, `log_std` (act_dim,), `std_head.*` with a state-dependent σ,
    `noise_log_scale` (act_dim,) with correlated noise, and when squashed `action_center`, `action_half_range`
    (act_dim,). A Box of shape (2, 3) is act_dim = 6: the env's copy is reshaped.

    Correlated exploration (`noise_steps` τ > 0): the rollout feeds an exogenous AR(1) noise ξ (..., act_dim)
    (`next_noise`: unit variance, autocorrelation ρ = e^(-1/τ) per step, independent of the weights and
    the actions) and the mean becomes μ(s) + c·ξ, with log c the learned `noise_log_scale` (act_dim,). The
    policy is then π(a | s, ξ) on the state (s, ξ) whose ξ part moves on its own, so the score-function
    gradient with ξ stored beside each action is exact. Without `noise` (evaluation, predict, export) ξ = 0.
    Autoregressive exploration (`ar_steps` τ > 0, reinforce.autoregressive) makes the noise the policy's own.
    """

    action_kind = "box"
    rows_independent = True
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
        mirror_obs_signs: Sequence[int] = (),
    ):
        """`mu` = mlp(obs_dim (or the encoder's features) -> act_dim); `log_std` starts at `log_std_init`;
        bounds default to ±1 when squashed; `noise_steps` > 0 adds the correlated noise, log c starting at
        `noise_log_scale_init`; `ar_steps` > 0 (not with it) makes exploration autoregressive;
        `state_dependent_std` adds `std_head` (zero-initialised) on mu's last hidden features: log σ(s) =
        log_std + std_head(h(s)), the head's part clamped to ±STD_HEAD_RANGE. `mirror_obs_signs` (obs_dim,)
        of ±1: μ is made odd and σ(s) even under that mirror of the raw observation (the actions' bounds,
        when squashed, must then be symmetric)."""
        super().__init__()
        self.obs_dim, self.act_dim = require_int("obs_dim", obs_dim, 1), require_int("act_dim", act_dim, 1)
        self.mu = mlp(self._set_encoder(obs_dim, encoder), self.act_dim, hidden_sizes, activation)
        self.log_std = nn.Parameter(torch.full((self.act_dim,), float(log_std_init)))
        self.std_head: nn.Linear | None = None
        if state_dependent_std:  # starts at 0: σ(s) = e^log_std_init in every state, as without it
            self.std_head = Linear(self.mu[-1].in_features, self.act_dim)
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
        self._set_mirror(mirror_obs_signs)
        self.squash = bool(squash)
        if self.squash:
            low = torch.as_tensor(-1.0 if action_low is None else action_low, dtype=torch.float32).expand(self.act_dim)
            high = torch.as_tensor(1.0 if action_high is None else action_high, dtype=torch.float32).expand(self.act_dim)
            if not (torch.isfinite(low).all() and torch.isfinite(high).all() and (high > low).all()):
                raise ValueError(f"squash=True needs finite action bounds with high > low, got {low} and {high}")
            self.register_buffer("action_center", ((high + low) / 2).clone())
            self.register_buffer("action_half_range", ((high - low) / 2).clone())
            if self.obs_mirror is not None and not torch.allclose(low, -high):
                raise ValueError(f"mirror_obs_signs negates the action, which needs symmetric bounds (low = -high); "
                                 f"got low {low.tolist()} and high {high.tolist()}")

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
        reads the hidden features detached: σ's gradient leaves μ's torso alone). With `obs_mirror` m:
        μ(s) = (f(s) - f(m·s))/2 and log σ(s) = (g(s) + g(m·s))/2, exactly odd and even for any weights."""
        if self.obs_mirror is None:
            return self._mean_and_log_std(obs)
        mean_2, log_std_2 = self._mean_and_log_std(self.both_sides(obs))
        log_std = log_std_2 if self.std_head is None else (log_std_2[0] + log_std_2[1]) / 2
        return (mean_2[0] - mean_2[1]) / 2, log_std

    def _mean_and_log_std(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.features(obs)
        if self.std_head is None:
            return self.mu(x), self.log_std
        x, out = self.mu.hidden(x), self.mu[-1]
        # Only the head's part is clamped: the vector log σ always keeps its gradient (policy and entropy),
        # so σ can never freeze at a bound.
        per_state = self.std_head(x.detach()).clamp(-STD_HEAD_RANGE, STD_HEAD_RANGE)
        return out(x), self.log_std + per_state

    def fits(self, spec: ActionSpec) -> bool:
        return spec.kind == self.action_kind and spec.outputs == self.act_dim
