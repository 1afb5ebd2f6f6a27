"""Action distributions, one per action space, each owning sample / log_prob / entropy / mode.

Built fresh by `Policy.pi` on every call and never changed afterwards, so a result never depends on
which method ran first. Constructors do no validation and no reductions: the rollout builds one per
step only to call `sample()`.

Shapes: `...` is the batch; A the action dimension. `log_prob(action)` and `entropy()` are (...,) —
one value per row, summed over A for the Gaussians — in nats.
"""
from __future__ import annotations

import math

import torch
from torch.distributions import Distribution, constraints
from torch.nn.functional import log_softmax, logsigmoid, softplus

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# tanh saturates to ±1 in float32, where atanh is infinite: squashed samples stay this far inside.
_TANH_LIMIT = 1 - 1e-6


def _normal_log_prob(x: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Σ over the last dim of log N(x; mean, exp(log_std)²): (..., A) -> (...,)."""
    z = (x - mean) * torch.exp(-log_std)
    return (-0.5 * z * z - log_std - _HALF_LOG_2PI).sum(-1)


def _normal_entropy(log_std: torch.Tensor, batch_shape: torch.Size) -> torch.Tensor:
    """Σ over A of the Normal entropy ½ + ½·log 2π + log σ, repeated per row: (A,) -> batch_shape."""
    return (0.5 + _HALF_LOG_2PI + log_std).sum(-1).expand(batch_shape)


class CategoricalDist(Distribution):
    """Softmax over unnormalised `logits` (..., n); actions are (...,) int64 in [0, n).

    Same values as `torch.distributions.Categorical` (to float rounding). With n = 2 everything comes
    in closed form from z = l1 − l0 (P(a=1) = sigmoid(z)), skipping the logsumexp and gather.
    """

    arg_constraints: dict = {}

    def __init__(self, logits: torch.Tensor):
        self._raw = logits
        self.n = logits.shape[-1]
        super().__init__(logits.shape[:-1], validate_args=False)

    @property
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, self.n - 1)

    @property
    def logits(self) -> torch.Tensor:
        """Normalised log-probabilities (..., n), as torch's Categorical.logits."""
        return log_softmax(self._raw, dim=-1)

    @property
    def probs(self) -> torch.Tensor:
        """Probabilities (..., n)."""
        return torch.softmax(self._raw, dim=-1)

    @property
    def mode(self) -> torch.Tensor:
        return self._raw.argmax(-1)

    def _z(self) -> torch.Tensor:
        return self._raw[..., 1] - self._raw[..., 0]

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        """Actions (*sample_shape, ...) int64, by inverse CDF on one uniform per row."""
        with torch.no_grad():
            if self.n == 2:  # one compare per row
                u = torch.rand(self._extended_shape(sample_shape), device=self._raw.device)
                return (u < torch.sigmoid(self._z())).long()
            # Much cheaper than torch.multinomial for large batches. Scaling u by the last cdf entry
            # (≈ 1) keeps rounding in the cumsum from ever pointing past the last action.
            cdf = torch.softmax(self._raw, dim=-1).cumsum(-1)
            u = torch.rand((*self._extended_shape(sample_shape), 1), device=self._raw.device) * cdf[..., -1:]
            return (u > cdf).sum(-1).clamp_(max=self.n - 1)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log π(value) per row: value (...,) int -> (...,)."""
        if self.n == 2:
            z = self._z()
            return logsigmoid(torch.where(value.bool(), z, -z))
        value, log_pmf = torch.broadcast_tensors(value.long().unsqueeze(-1), self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        """−Σ p·log p per row (...,)."""
        if self.n == 2:  # H = softplus(z) − sigmoid(z)·z
            z = self._z()
            return softplus(z) - torch.sigmoid(z) * z
        # Clamp -inf log-probs (masked actions) so 0·log 0 gives 0, not nan, as torch does.
        log_p = self.logits.clamp(min=torch.finfo(self._raw.dtype).min)
        return -(log_p.exp() * log_p).sum(-1)


class DiagGaussian(Distribution):
    """Independent Normals: `mean` (..., A), `log_std` (A,) (or broadcastable to the mean).

    Actions are (..., A) float and unbounded; `sample` is reparameterised (mean + σ·ε).
    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor):
        self.loc, self.log_std = mean, log_std
        super().__init__(mean.shape[:-1], mean.shape[-1:], validate_args=False)

    @property
    def mean(self) -> torch.Tensor:
        return self.loc

    @property
    def mode(self) -> torch.Tensor:
        return self.loc

    @property
    def stddev(self) -> torch.Tensor:
        return self.log_std.exp().expand_as(self.loc)

    @property
    def variance(self) -> torch.Tensor:
        return self.stddev.square()

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        """mean + σ·ε, differentiable in mean and log_std: (*sample_shape, ..., A)."""
        eps = torch.randn(self._extended_shape(sample_shape), dtype=self.loc.dtype, device=self.loc.device)
        return self.loc + self.log_std.exp() * eps

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Σ over A of the per-dimension log density: (..., A) -> (...,)."""
        return _normal_log_prob(value, self.loc, self.log_std)

    def entropy(self) -> torch.Tensor:
        """Σ over A of the per-dimension entropy, per row (...,)."""
        return _normal_entropy(self.log_std, self.batch_shape)


class SquashedDiagGaussian(Distribution):
    """a = center + half_range·tanh(u), u ~ N(mean, exp(log_std)²) per dimension.

    `mean` (..., A), `log_std`, `center`, `half_range` (A,); actions are (..., A) inside
    (center − half_range, center + half_range). Samples keep tanh within ±(1 − 1e-6) so `log_prob`
    stays finite on them; `log_prob` clamps the scaled action the same way before taking atanh.
    `entropy` is that of the Gaussian before the tanh: the squashed law has no closed form.
    """

    arg_constraints: dict = {}
    has_rsample = True

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor, center: torch.Tensor, half_range: torch.Tensor):
        self.loc, self.log_std = mean, log_std
        self.center, self.half_range = center, half_range
        super().__init__(mean.shape[:-1], mean.shape[-1:], validate_args=False)

    @property
    def support(self) -> constraints.Constraint:
        return constraints.independent(
            constraints.interval(self.center - self.half_range, self.center + self.half_range), 1
        )

    @property
    def mode(self) -> torch.Tensor:
        """center + half_range·tanh(mean) (..., A): the pre-tanh mode, squashed (a's density may peak elsewhere)."""
        return self.center + self.half_range * torch.tanh(self.loc)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        eps = torch.randn(self._extended_shape(sample_shape), dtype=self.loc.dtype, device=self.loc.device)
        squashed = torch.tanh(self.loc + self.log_std.exp() * eps).clamp(-_TANH_LIMIT, _TANH_LIMIT)
        return self.center + self.half_range * squashed

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log N(u) − log|da/du| summed over A: (..., A) -> (...,), with u = atanh((a − center)/half_range)."""
        u = torch.atanh(((value - self.center) / self.half_range).clamp(-_TANH_LIMIT, _TANH_LIMIT))
        # log(1 − tanh²u) written as 2·(log 2 − u − softplus(−2u)): no cancellation for large |u|.
        log_det = torch.log(self.half_range) + 2 * (math.log(2) - u - softplus(-2 * u))
        return _normal_log_prob(u, self.loc, self.log_std) - log_det.sum(-1)

    def entropy(self) -> torch.Tensor:
        """Entropy of the pre-tanh Gaussian per row (...,); the squashed law has no closed form."""
        return _normal_entropy(self.log_std, self.batch_shape)
