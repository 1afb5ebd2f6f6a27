"""`HotPath`: the per-row arithmetic of an epoch, eager or through `torch.compile` (`Config.compile`).

Three functions carry nearly all of an epoch's floating-point work on vector observations: the rollout's
sample a ~ π(·|s) (E rows a step), the loss's log π(a|s) and entropy (T·E rows), and the value fit's
squared error (T·E rows, `value_iters` times). Eagerly each layer of the MLP, its activation, the
normaliser and the distribution's formulas are separate kernels, each reading and writing all rows;
compiled, the element-wise parts fuse around the matrix products (on CPU: one C++ loop instead of
several passes over memory). The cost is seconds of compilation on the first epoch, paid again for each
new shape (a different E or T).

The compiled functions draw their random numbers from torch's generator as the eager ones do
(`fallback_random`), so a seed gives the same samples; fused arithmetic may round differently in the last
bit, so compiled and eager runs agree to float rounding rather than bit for bit. Batches with action masks,
correlated noise or autoregressive exploration keep the eager path.
"""
from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import torch

from reinforce.policies import Policy
from reinforce.policy_base import MIN_SLICE_ROWS, in_row_slices, rows_per_slice
from reinforce.value import ValueFunction
from reinforce.valuefit import mse_and_grads, plain_tanh_layers


class HotPath:
    """`sample(obs_E)`, `logp_entropy(obs_N, actions_N)` and `value_mse(inputs_N, targets_N)` for `policy`
    (and `value_of`, the agent's V of prepared inputs), compiled when `compiled`."""

    def __init__(self, policy: Policy, value_of: Callable[[torch.Tensor], torch.Tensor] | None,
                 entropy_grad: bool, compiled: bool = False, value_fn: ValueFunction | None = None):
        self.policy, self.value_of, self.entropy_grad, self.compiled = policy, value_of, entropy_grad, compiled
        self.value_fn = value_fn
        wrap = _compile if compiled else (lambda f: f)
        self.sample = wrap(self._sample)
        self.logp_entropy = wrap(self._logp_entropy)
        self.value_mse = wrap(self._value_mse)
        # eager, a plain tanh MLP on CPU: the value fit's gradients by hand (reinforce.valuefit)
        by_hand = not compiled and value_fn is not None and value_fn.encoder is None
        self._value_layers = plain_tanh_layers(value_fn.net) if by_hand else None

    def value_loss_and_grads(self, inputs_N: torch.Tensor, targets_N: torch.Tensor) -> torch.Tensor:
        """The value fit's MSE (scalar), with V's gradients written to `.grad`: by hand
        for a plain tanh MLP on CPU (the same numbers to rounding, without autograd's bookkeeping), else
        `value_mse` and its backward. By hand, a long batch (N, D), or (2, N, D) mirrored, goes in slices of rows
        that stay in cache (policy_base.rows_per_slice), as the policy's loss does."""
        n = targets_N.shape[0]
        rows = self.value_slice_rows(inputs_N.shape[-1], n, inputs_N.shape[0] if inputs_N.dim() == 3 else 1)
        if not rows:
            if self._value_layers is not None:
                return mse_and_grads(self._value_layers, inputs_N.reshape(-1, inputs_N.shape[-1]), targets_N)
            loss = self.value_mse(inputs_N, targets_N)
            loss.backward()
            return loss
        loss = targets_N.new_zeros(())
        for start in range(0, n, rows):
            part_N = inputs_N[..., start : start + rows, :].reshape(-1, inputs_N.shape[-1])
            loss += mse_and_grads(self._value_layers, part_N, targets_N[start : start + rows], total=n,
                                  accumulate=start > 0)
        return loss

    def value_slice_rows(self, obs_dim: int, n: int, copies: int = 1) -> int:
        """Rows per slice of V on n rows of obs_dim values where the value fit goes by hand (0: the whole batch at
        once, and always elsewhere); each row runs `copies` times (the mirror's two sides)."""
        if self._value_layers is None:
            return 0
        return rows_per_slice(self.value_fn.net, obs_dim, n * copies) // copies

    def _sample(self, obs_E: torch.Tensor) -> torch.Tensor:
        """Actions (E, ...) for observations (E, ...): the policy's own sample. Eager on CPU, many envs' vector
        observations go through one of the library's policies in slices of rows that stay in cache
        (policy_base.rows_per_slice), as the update's do (docs/benchmarks.md: the swing-up at 65,536 envs
        1.27-1.36× faster), cut so that the slices draw the random numbers one call would
        (policy_base.in_row_slices; distributions._noise draws row-major). Only a policy that says its rows are
        independent (`Policy.rows_independent`: the library's do) is sliced; one of the user's own is sampled whole,
        as it may keep per-env state between steps."""
        rows = 0
        if (obs_E.shape[0] >= 2 * MIN_SLICE_ROWS and obs_E.is_cpu and obs_E.dim() == 2  # (cheap tests first: every step)
                and not torch.compiler.is_compiling() and getattr(self.policy, "rows_independent", False)):
            rows = rows_per_slice(self.policy, obs_E.shape[-1], obs_E.shape[0])
        return in_row_slices(self.policy.sample, obs_E, rows) if rows else self.policy.sample(obs_E)

    def _logp_entropy(self, obs_N: torch.Tensor, actions_N: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """log π(a|s) (N,) and the entropy (N,), the latter detached when only reported (entropy_coef 0)."""
        return log_prob_and_entropy(self.policy.pi(obs_N), actions_N, self.entropy_grad)

    def _value_mse(self, inputs_N: torch.Tensor, targets_N: torch.Tensor) -> torch.Tensor:
        """Mean squared error (scalar) of V at prepared inputs (N, ...) or (2, N, ...) mirrored, to targets (N,)."""
        return (self.value_of(inputs_N) - targets_N).pow(2).mean()


def log_prob_and_entropy(dist: Any, actions_N: torch.Tensor, entropy_grad: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """log π(a|s) (N,) of `dist` at `actions_N` and its entropy (N,), the latter without a graph unless
    `entropy_grad` (an entropy bonus in the loss): only reported, nothing flows back through it."""
    logp_N = dist.log_prob(actions_N)
    if entropy_grad:
        return logp_N, dist.entropy()
    with torch.no_grad():
        return logp_N, dist.entropy()


def _compile(method: Any) -> Callable[..., Any]:
    """`method` (bound) through torch.compile, with a cache of its own. Dynamo keeps its compiled graphs per
    code object, up to `recompile_limit` (8) of them, and then runs eagerly: every agent of a process (a sweep,
    a test session) with its own shapes would share the one `_sample`. A copy of the code is a new cache."""
    fn = method.__func__
    own = types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    # fallback_random: random draws through torch's own generator, so a seed samples as in eager mode
    return torch.compile(types.MethodType(own, method.__self__), dynamic=False, options={"fallback_random": True})
