"""Discounted returns over a (T, E) rollout: pure tensor functions, computed backwards in time.

Semantics, with a rollout of T steps in E envs:
- `terminated[t]`: the episode truly ended after step t; nothing follows, so G_t = r_t.
- `truncated[t]`: a time limit cut the episode after step t. The future was not observed: without a
  value function the return is cut (G_t = r_t, the article's behaviour); with one, pass
  `truncation_values[t] = V(final observation)` and G_t = r_t + γ·V.
- the rollout end (t = T-1, not done): the episode continues outside the batch. Again cut by default
  (the article's G_{T-1} = r_{T-1}), or bootstrapped with `last_values = V(s_T)`.
"""
from __future__ import annotations

import torch


def discounted_returns(rewards: torch.Tensor, dones: torch.Tensor, gamma: float) -> torch.Tensor:
    """The article's returns: G_t = r_t + γ(1 - d_t)·G_{t+1}, with G_{T-1} = r_{T-1}.

    rewards, dones: (T, ...) tensors (dones bool or 0/1). Returns a (T, ...) float tensor.
    """
    zeros = torch.zeros_like(rewards, dtype=torch.bool)
    return bootstrapped_returns(rewards, dones.bool(), zeros, gamma)


def bootstrapped_returns(
    rewards: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    truncation_values: torch.Tensor | None = None,
    last_values: torch.Tensor | None = None,
) -> torch.Tensor:
    """Reward-to-go that keeps termination and truncation apart.

    rewards, terminated, truncated, truncation_values: (T, E); last_values: (E,).
    Missing values mean "cut the return there" (bootstrap with 0).
    """
    if rewards.shape != terminated.shape or rewards.shape != truncated.shape:
        raise ValueError(
            f"rewards {tuple(rewards.shape)}, terminated {tuple(terminated.shape)} and truncated "
            f"{tuple(truncated.shape)} must have the same (T, ...) shape"
        )
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    rewards = rewards if rewards.is_floating_point() else rewards.float()  # integer rewards: the returns are float
    continues_TE = ~(terminated.bool() | truncated.bool())
    # The value that stands in for G_{t+1} where the episode was cut by a time limit.
    cut_value_TE = torch.zeros_like(rewards) if truncation_values is None else truncation_values * truncated
    returns_TE = torch.empty_like(rewards)
    next_return_E = torch.zeros_like(rewards[0]) if last_values is None else last_values.to(rewards.dtype)
    _backwards(rewards, continues_TE, cut_value_TE, gamma, next_return_E, returns_TE)
    return returns_TE


def _backwards(add_TE: torch.Tensor, continues_TE: torch.Tensor, cut_TE: torch.Tensor, factor: float,
               next_E: torch.Tensor, out_TE: torch.Tensor) -> None:
    """out[t] = add[t] + factor·(continues[t] ? out[t+1] : cut[t]) from t = T-1 down, out[T] = next_E (all (T, E),
    next_E (E,)). Three calls a row into views made once (a small epoch's T·8 indexing and temporary calls were a
    tenth of its update's); a multiply then an add, never a fused one, so the sums round as written. Inputs
    with a graph keep it (out= cannot record one): the same sums as new tensors."""
    if torch.is_grad_enabled() and any(x.requires_grad for x in (add_TE, cut_TE, next_E)):
        for t in range(add_TE.shape[0] - 1, -1, -1):
            next_E = add_TE[t] + factor * torch.where(continues_TE[t], next_E, cut_TE[t])
            out_TE[t] = next_E
        return
    picked_E = torch.empty_like(next_E)
    add_T, continues_T, cut_T, out_T = add_TE.unbind(0), continues_TE.unbind(0), cut_TE.unbind(0), out_TE.unbind(0)
    for t in range(add_TE.shape[0] - 1, -1, -1):
        torch.where(continues_T[t], next_E, cut_T[t], out=picked_E)
        torch.add(add_T[t], picked_E.mul_(factor), out=out_T[t])
        next_E = out_T[t]


def total_returns(returns: torch.Tensor, episode_start: torch.Tensor) -> torch.Tensor:
    """Broadcast each episode's G_0 to all of its steps (the article's first, higher-variance form).

    returns: (T, E) reward-to-go; episode_start: (T, E) bool, True where a step opens an episode
    segment inside the rollout (row 0 always counts as a start). Returns (T, E).
    """
    out = torch.empty_like(returns)
    current = returns[0]
    for t in range(returns.shape[0]):
        current = torch.where(episode_start[t], returns[t], current)
        out[t] = current
    return out


def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    lam: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(λ) advantages and the value targets (λ-returns) they imply, both (T, E).

    A_t = δ_t + γλ·A_{t+1} within an episode, δ_t = r_t + γ·V(s_{t+1})·(1 - term_t) - V(s_t); the
    targets are A_t + V(s_t). `next_values[t]` is V of the observation after step t: the *final*
    observation where the episode ended (so a truncation bootstraps from where it was cut), s_T at
    the last row. The recursion stops at every episode end and at the rollout end (A_{T-1} = δ_{T-1}).
    λ = 1 gives bootstrapped return minus V (unbiased); λ = 0 the one-step TD error.
    """
    _check_same_shape(rewards=rewards, values=values, next_values=next_values, terminated=terminated, truncated=truncated)
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"gae_lambda must be in [0, 1], got {lam}")
    deltas_TE = rewards + gamma * torch.where(terminated.bool(), 0.0, next_values) - values
    continues_TE = ~(terminated.bool() | truncated.bool())
    advantages_TE = torch.empty_like(rewards)
    zeros_E = torch.zeros_like(rewards[0])
    _backwards(deltas_TE, continues_TE, zeros_E.expand_as(rewards), gamma * lam, zeros_E, advantages_TE)
    return advantages_TE, advantages_TE + values


def _check_same_shape(**tensors: torch.Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) != 1 or len(next(iter(shapes.values()))) != 2:
        raise ValueError(f"{', '.join(f'{k} {v}' for k, v in shapes.items())} must all have the same (T, E) shape")


def episode_starts(dones: torch.Tensor) -> torch.Tensor:
    """(T, E) bool: row t opens an episode segment (row 0, or the step after an episode end)."""
    starts = torch.ones_like(dones, dtype=torch.bool)
    starts[1:] = dones[:-1].bool()
    return starts
