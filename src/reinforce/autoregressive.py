"""Autoregressive Gaussian exploration (Korenkevych et al., IJCAI 2019) for a DiagonalGaussianPolicy.

The pre-squash action is u_t = μ(s_t) + d_t with d_t = ρ·d_{t−1} + √(1−ρ²)·σ·η_t (η white, ρ = e^(−1/τ)) and
d = N(0, σ²) at an episode's first step. Seen from the state (s_t, s_{t−1}, u_{t−1}) that is the policy

    π(u_t | s_t, s_{t−1}, u_{t−1}) = N(μ(s_t) + ρ·(u_{t−1} − μ(s_{t−1})), (1−ρ²)·σ²)

with both μ terms functions of the weights, and N(μ(s_t), σ²) at an episode's first step. Unlike an
exogenous noise added to the mean, the held pushes are the policy's own actions, so the gradient credits
them and σ gets the ordinary score of a variance (it can shrink once the task wants precision). Evaluation,
`predict` and export act with `pi(obs)` = N(μ(s_t), σ²), the noise's stationary law without the memory
(sampled evaluation is therefore white noise of scale σ, not the held pushes of training). The reported
entropy is the conditional law's: ½·log(1−ρ²) per dimension below a white-noise policy of the same σ.

Shapes: E envs, T steps, A action dimensions; u is the Gaussian's sample before any tanh squash.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from reinforce.distributions import DiagGaussian, SquashedDiagGaussian
from reinforce.gaussian import DiagonalGaussianPolicy
from reinforce.policy_base import Policy


def rho(policy: Policy) -> float:
    """The per-step correlation ρ of `policy`'s autoregressive noise now: e^(-1/τ) times its fade (1 unless a
    decay schedule lowers it between epochs); 0.0 when it has none."""
    steps = getattr(policy, "ar_steps", 0.0)  # a duck-typed policy may not say
    return math.exp(-1.0 / steps) * getattr(policy, "ar_fade", 1.0) if steps > 0 else 0.0


def is_autoregressive(policy: Policy) -> bool:
    """Whether `policy` explores autoregressively (even while a fade holds its ρ at 0)."""
    return getattr(policy, "ar_steps", 0.0) > 0


def mean(policy: DiagonalGaussianPolicy, obs: torch.Tensor) -> torch.Tensor:
    """μ(s) (..., A) for observations (..., obs_dim): the unconditional mean before any squash."""
    return policy.mean_and_log_std(obs)[0]


def pre_squash(policy: DiagonalGaussianPolicy, actions: torch.Tensor) -> torch.Tensor:
    """u (..., A) from the actions the policy sampled: atanh of the scaled action when squashed (clamped as
    the squashed Gaussian's log_prob clamps it), the actions themselves otherwise."""
    if not policy.squash:
        return actions
    return SquashedDiagGaussian.pre_tanh(actions, policy.action_center, policy.action_half_range)


def conditional(policy: DiagonalGaussianPolicy, mean_X: torch.Tensor, prev_mean_X: torch.Tensor,
                prev_u_X: torch.Tensor, fresh_X: torch.Tensor,
                log_std: torch.Tensor | None = None) -> DiagGaussian | SquashedDiagGaussian:
    """π(· | s, s_prev, u_prev) for rows X: `mean_X` = μ(s) and `prev_mean_X` = μ(s_prev) (X, A), the previous
    pre-squash action `prev_u_X` (X, A), `fresh_X` (X,) bool where s is an episode's first state (N(μ(s), σ²)
    there); `log_std` is log σ(s), (A,) or (X, A), None for the policy's state-independent vector."""
    log_std = policy.log_std if log_std is None else log_std
    r = rho(policy)
    carry_X1 = (~fresh_X).unsqueeze(-1)  # where the noise carries over from the last step
    # selections, not products with a 0/1 mask: a fresh row never reads its (meaningless) previous inputs
    loc = torch.where(carry_X1, mean_X + r * (prev_u_X - prev_mean_X), mean_X)
    log_std = torch.where(carry_X1, log_std + 0.5 * math.log1p(-r * r), log_std)  # σ·√(1−ρ²) where carried
    if policy.squash:
        return SquashedDiagGaussian(loc, log_std, policy.action_center, policy.action_half_range)
    return DiagGaussian(loc, log_std)


def batch_pi(policy: DiagonalGaussianPolicy, obs_TE: torch.Tensor, actions_TE: torch.Tensor, dones_TE: torch.Tensor,
             prev_obs_E: torch.Tensor, prev_u_E: torch.Tensor, prev_fresh_E: torch.Tensor) -> DiagGaussian | SquashedDiagGaussian:
    """The rollout's conditional laws, flat over its T·E rows, differentiable in both μ terms: one forward of
    μ on the T+1 observations per env (the one before row 0, then the rows), previous actions shifted by a row."""
    T, E = obs_TE.shape[:2]
    mean_N1, log_std = policy.mean_and_log_std(torch.cat([prev_obs_E[None], obs_TE]).flatten(0, 1))
    mean_T1E = mean_N1.reshape(T + 1, E, -1)
    if log_std.dim() > 1:  # σ(s_t) per row: the rows after the one before row 0
        log_std = log_std.reshape(T + 1, E, -1)[1:].flatten(0, 1)
    prev_u_TE = torch.cat([prev_u_E[None], pre_squash(policy, actions_TE[:-1])])
    fresh_TE = torch.cat([prev_fresh_E[None], dones_TE[:-1]])  # s_t is the first state after an episode ended
    return conditional(policy, mean_T1E[1:].flatten(0, 1), mean_T1E[:-1].flatten(0, 1),
                       prev_u_TE.flatten(0, 1), fresh_TE.flatten(0, 1), log_std)


@dataclass
class ARState:
    """The collector's per-env memory of the autoregressive noise across steps and rollouts: the observation
    before the current one `prev_obs_E` (E, ...), the pre-squash action taken there `prev_u_E` (E, A), and
    `fresh_E` (E,) bool, true where the current observation starts an episode (nothing to carry)."""

    prev_obs_E: torch.Tensor
    prev_u_E: torch.Tensor
    fresh_E: torch.Tensor

    @classmethod
    def after_reset(cls, obs_E: torch.Tensor, act_dim: int) -> ARState:
        """Every env fresh at `obs_E` (the previous inputs are placeholders, never read)."""
        num_envs = obs_E.shape[0]
        return cls(obs_E.clone(), obs_E.new_zeros((num_envs, act_dim), dtype=torch.float32),
                   torch.ones(num_envs, dtype=torch.bool, device=obs_E.device))

    def state_dict(self) -> dict:
        return {"prev_obs": self.prev_obs_E.clone(), "prev_u": self.prev_u_E.clone(), "fresh": self.fresh_E.clone()}

    @classmethod
    def from_state_dict(cls, state: dict, device: torch.device) -> ARState:
        return cls(state["prev_obs"].to(device), state["prev_u"].to(device), state["fresh"].to(device, torch.bool))
