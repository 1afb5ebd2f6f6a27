"""Batch-wide statistics through a reducer: this process's batch by default, the whole job's under torchrun.

Every formula that looks across the batch (the leave-one-env-out mean, advantage normalisation, the
observation moments, episode statistics) is written once here, on sums: a `Reducer` adds its tensor
over processes (the local one leaves it alone), so N ranks × E envs give what one process with N·E
envs would. `reinforce.dist.reducer.JobReducer` is the all-reduce version.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


class Reducer:
    """The local reducer: one process, nothing to exchange."""

    world_size: int = 1

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise sum over processes of `values` (any shape); here the tensor itself."""
        return values

    def max(self, values: torch.Tensor) -> torch.Tensor:
        """Element-wise maximum over processes."""
        return values

    def average_gradients(self, parameters: Iterable[nn.Parameter], what: str) -> None:
        """Make every process's `.grad` the mean over processes (before clipping and the step)."""

    def broadcast_modules(self, modules: Iterable[nn.Module], fingerprint: torch.Tensor) -> None:
        """Start every process from process 0's parameters and buffers; `fingerprint` (ints that
        must agree on all processes: T, E, parameter count) is checked first."""


LOCAL = Reducer()


def leave_one_env_out_mean(weights_TE: torch.Tensor, reducer: Reducer = LOCAL) -> torch.Tensor:
    """(T, E) -> (1, E): for env e, the mean weight of all *other* envs' rows in the job's batch.

    Envs are independent, so this baseline cannot depend on env e's actions: the estimator stays
    unbiased (a plain batch mean would include the row's own return, an O(1/N) bias). With one env
    in the whole job there is no other env and the plain mean is used.
    """
    T, E = weights_TE.shape
    per_env_E = weights_TE.sum(0, dtype=torch.float64)
    totals = reducer.sum(torch.stack([per_env_E.sum(), per_env_E.new_full((), float(E))]))
    job_sum, job_envs = totals[0], totals[1]
    others = (job_sum - per_env_E) / (T * (job_envs - 1).clamp_min(1))
    return torch.where(job_envs > 1, others, job_sum / T).to(weights_TE.dtype).unsqueeze(0)


def normalize(weights: torch.Tensor, reducer: Reducer = LOCAL, eps: float = 1e-8) -> torch.Tensor:
    """Zero mean, unit (unbiased) std over the job's batch; fewer than two weights are left as they are."""
    w = weights.double()
    sums = reducer.sum(torch.stack([w.new_full((), float(w.numel())), w.sum(), w.square().sum()]))
    count, mean = sums[0], sums[1] / sums[0]
    std = ((sums[2] - count * mean**2) / (count - 1).clamp_min(1)).clamp_min(0).sqrt()
    return torch.where(count > 1, (w - mean) / (std + eps), w).to(weights.dtype)


def batch_moments(x_ND: torch.Tensor, shift_D: torch.Tensor, reducer: Reducer = LOCAL) -> tuple[torch.Tensor, ...]:
    """(count, mean (D,), population variance (D,)) of the job's rows, in float64.

    Sums are taken of x - shift (a value near the mean, the same on every process) so that the
    variance does not drown in the square of a large mean.
    """
    d = x_ND.double() - shift_D
    n = d.new_full((1,), float(d.shape[0]))
    sums = reducer.sum(torch.cat([n, d.sum(0), d.square().sum(0)]))
    D = shift_D.shape[0]
    count = sums[0]
    mean_d = sums[1 : 1 + D] / count.clamp_min(1)
    var = (sums[1 + D :] / count.clamp_min(1) - mean_d**2).clamp_min(0)
    return count, mean_d + shift_D, var
