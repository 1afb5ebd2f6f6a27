"""Action distributions, one per action space, each owning sample / log_prob / entropy / mode.

Built fresh by `Policy.pi` on every call and never changed afterwards, so a result never depends on
which method ran first. Constructors only store their tensors (no validation, no reductions): the
rollout builds one per step just to call `sample()`.

Shapes: `...` is the batch; A the action dimension, K the sub-actions of a MultiDiscrete, n the bits of
a MultiBinary. `log_prob(action)` and `entropy()` are (...,) — one value per row, summed over A, K or n
for the factorised ones — in nats.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import torch
from torch.distributions import Distribution, constraints
from torch.nn.functional import log_softmax, logsigmoid, softplus

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
# tanh saturates to ±1 in float32, where atanh is infinite: squashed samples stay this far inside.
_TANH_LIMIT = 1 - 1e-6


def _noise(like: torch.Tensor, sample_shape: torch.Size, like_fn: Callable) -> torch.Tensor:
    """`like_fn` (torch.rand_like or torch.randn_like) of shape (*sample_shape, *like.shape), row-major.

    The *_like functions cost a third of torch.rand(shape) on rollout-sized batches (µs per step). Row-major
    whatever `like`'s layout (a long, narrow policy output is a transposed view, policy_base.linear): the draws
    then land in the same rows however the batch is split (the rollout's slices, hotpath.HotPath._sample), and
    torch's CPU normals take their 16-at-a-time path instead of one at a time.
    """
    like = like.expand(*sample_shape, *like.shape) if sample_shape else like
    # (the keyword costs ~0.3 µs a call, a rollout step's few rows: only where the layout asks for it)
    return like_fn(like) if like.is_contiguous() else like_fn(like, memory_format=torch.contiguous_format)


class _Fresh(Distribution):
    """Base: validation off, shapes read from the parameters when asked for.

    Distribution.__init__ only stores the two shapes and the validation flag; here those are class-level
    (properties and a constant), so subclasses skip it — about 1 µs of each small-batch rollout step.
    """

    _validate_args = False
    arg_constraints: dict = {}


class _VectorEvent(_Fresh):
    """Shapes read from one parameter `_vector` (..., n): the leading dims are the batch, n the event."""

    _vector: str

    @property
    def _batch_shape(self) -> torch.Size:
        return getattr(self, self._vector).shape[:-1]

    @property
    def _event_shape(self) -> torch.Size:
        return getattr(self, self._vector).shape[-1:]


class CategoricalDist(_Fresh):
    """Softmax over unnormalised `logits` (..., n); actions are (...,) int64 in [0, n).

    Same values as `torch.distributions.Categorical` (to float rounding). With n = 2 everything comes
    in closed form from z = l1 − l0 (P(a=1) = sigmoid(z)), skipping the logsumexp and gather.
    `mask` (..., n) bool (or 0/1), optional: the allowed actions (Gymnasium's info["action_mask"]). A
    masked logit becomes the most negative finite float (not -inf: gradients and entropy stay finite),
    so a masked action is never sampled, has probability 0 and its logit gets no gradient; entropy and
    mode are over the allowed actions. Each row needs at least one allowed action.
    """

    _event_shape = torch.Size()

    def __init__(self, logits: torch.Tensor, mask: torch.Tensor | None = None):  # no super().__init__: see _Fresh
        if mask is not None:  # masked logits -> the most negative float: probability exactly 0, no gradient
            mask = mask.bool()
            logits = torch.where(mask, logits, torch.finfo(logits.dtype).min)
        self._logits, self._mask = logits, mask
        self._z_cache: torch.Tensor | None = None
        self._z_mode: tuple[bool, bool] | None = None

    @classmethod
    def of_difference(cls, z: torch.Tensor) -> CategoricalDist:
        """The two-action softmax from z = l₁ − l₀ (...,) alone: logits (0, z), made only if asked for
        (`logits`, `probs`, `mode`); sample, log_prob and entropy read z itself."""
        dist = cls.__new__(cls)  # `_logits` None marks a z given: valid under any grad mode
        dist._logits, dist._mask, dist._z_cache, dist._z_mode = None, None, z, None
        return dist

    @property
    def _raw(self) -> torch.Tensor:
        """The unnormalised logits (..., n); made from z, (0, z), on every call (a cached copy would keep the
        grad mode of its first use)."""
        if self._logits is None:
            return torch.stack([torch.zeros_like(self._z_cache), self._z_cache], -1)
        return self._logits

    @property
    def _batch_shape(self) -> torch.Size:
        return self._z_cache.shape if self._logits is None else self._raw.shape[:-1]

    @property
    def mask(self) -> torch.Tensor | None:
        """The allowed actions (..., n) bool, or None when every action is allowed."""
        return self._mask

    @property
    def support(self) -> constraints.Constraint:
        return constraints.integer_interval(0, 1 if self._logits is None else self._raw.shape[-1] - 1)

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

    def _z(self) -> torch.Tensor | None:
        """l1 − l0 (...,) when there are two actions, else None; made once (log_prob and entropy share it).

        `unbind` rather than two `[..., i]` selects: its backward is one stack of (−g, g), where each
        select's is a zero-filled (..., 2) tensor and a copy (the largest cost of a CartPole update).
        """
        if self._logits is None:  # given (of_difference)
            return self._z_cache
        if self._raw.shape[-1] != 2 or self._mask is not None:
            return None
        if torch.compiler.is_compiling():  # traced (reinforce.hotpath): the compiler shares the subtraction itself
            l0, l1 = self._raw.unbind(-1)
            return l1 - l0
        mode = (torch.is_grad_enabled(), torch.is_inference_mode_enabled())  # a z made under no_grad has no graph
        if self._z_cache is None or self._z_mode != mode:
            l0, l1 = self._raw.unbind(-1)
            self._z_cache, self._z_mode = l1 - l0, mode
        return self._z_cache

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        """Actions (*sample_shape, ...) int64, by inverse CDF on one uniform per row.

        No no_grad needed: integer actions carry no gradient (as with torch's Categorical.sample).
        """
        z = self._z()
        if z is not None:  # one compare per row
            p1 = torch.sigmoid(z)
            return (_noise(p1, sample_shape, torch.rand_like) < p1).long()
        # Much cheaper than torch.multinomial for large batches. Scaling u by the last cdf entry
        # (≈ 1) keeps rounding in the cumsum from ever pointing past the last action.
        cdf = torch.softmax(self._raw, dim=-1).cumsum(-1)
        u = _noise(cdf[..., -1:], sample_shape, torch.rand_like) * cdf[..., -1:]
        if self._mask is None:
            return (u > cdf).sum(-1).clamp_(max=self._raw.shape[-1] - 1)
        return self._masked_pick(u, cdf)

    def _masked_pick(self, u: torch.Tensor, cdf: torch.Tensor) -> torch.Tensor:
        """The first action whose cdf entry exceeds u, never a masked one (*sample_shape, ...).

        A masked action adds exactly 0 to the cdf, so its entry equals the one before it (or 0 for the
        first action) and can never be the first to exceed u ≥ 0; when none does (u rounded up to the
        total), the last allowed action is taken.
        """
        n = self._raw.shape[-1]
        last_allowed = (n - 1) - self._mask.flip(-1).int().argmax(-1)
        return torch.minimum((u >= cdf).sum(-1), last_allowed)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log π(value) per row: value (...,) int -> (...,)."""
        z = self._z()
        if z is not None:  # log σ(±z): the sign of the action taken (1 → +z, 0 → −z), one multiply
            return logsigmoid(z * value.to(z.dtype).mul(2).sub_(1))
        value, log_pmf = torch.broadcast_tensors(value.long().unsqueeze(-1), self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        """−Σ p·log p per row (...,)."""
        z = self._z()
        if z is not None:  # H = softplus(z) − sigmoid(z)·z
            return softplus(z) - torch.sigmoid(z) * z
        # Clamp -inf log-probs (masked actions) so 0·log 0 gives 0, not nan, as torch does.
        log_p = self.logits.clamp(min=torch.finfo(self._raw.dtype).min)
        return -(log_p.exp() * log_p).sum(-1)


@lru_cache(maxsize=64)
def _pad_index(nvec: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """(K·max_n,) indices into [logits..., pad]: sub-action k's logits, then the pad column up to max_n."""
    width, pad, index, offset = max(nvec), sum(nvec), [], 0
    for n in nvec:
        index += [*range(offset, offset + n), *[pad] * (width - n)]
        offset += n
    with torch.inference_mode(False):  # cached across calls: an inference tensor could not be used in the loss
        return torch.tensor(index, device=device)


class MultiCategoricalDist(_Fresh):
    """Independent categoricals, one per sub-action: `logits` (..., sum(nvec)) concatenated in nvec's order.

    Actions are (..., K) int64, entry k in [0, nvec[k]); `log_prob` and `entropy` sum over K; `mode`
    is the per-sub-action argmax. `per_dim` is the CategoricalDist over (..., K, max(nvec)) doing the
    work: shorter sub-actions are padded with the most negative float, whose probability is exactly 0
    (finite, so 0·log 0 and the n = 2 closed forms stay nan-free). `mask` (..., sum(nvec)), optional: the
    concatenation of the per-sub-action masks (CategoricalDist's rules apply to each sub-action).
    """

    def __init__(self, logits: torch.Tensor, nvec: tuple[int, ...], mask: torch.Tensor | None = None):
        # no super().__init__: see _Fresh
        self.nvec = nvec
        K = len(nvec)
        if min(nvec) == max(nvec):  # the common case: a free reshape
            padded = logits.reshape(*logits.shape[:-1], K, nvec[0])
            if mask is not None:
                mask = mask.bool().reshape(*mask.shape[:-1], K, nvec[0])
        else:
            pad = logits.new_full((*logits.shape[:-1], 1), torch.finfo(logits.dtype).min)
            index = _pad_index(nvec, logits.device)
            padded = torch.cat([logits, pad], -1).index_select(-1, index).reshape(*logits.shape[:-1], K, max(nvec))
            if mask is not None:  # the pad columns are masked too
                mask = mask.bool()
                mask = torch.cat([mask, mask.new_zeros((*mask.shape[:-1], 1))], -1).index_select(-1, index)
                mask = mask.reshape(*mask.shape[:-1], K, max(nvec))
        self.per_dim = CategoricalDist(padded, mask)

    @property
    def _batch_shape(self) -> torch.Size:
        return self.per_dim._raw.shape[:-2]

    @property
    def _event_shape(self) -> torch.Size:
        return torch.Size([len(self.nvec)])

    @property
    def support(self) -> constraints.Constraint:
        return constraints.independent(constraints.integer_interval(0, max(self.nvec) - 1), 1)

    @property
    def mode(self) -> torch.Tensor:
        return self.per_dim.mode

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        """Actions (*sample_shape, ..., K) int64."""
        return self.per_dim.sample(sample_shape)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Σ_k log π_k(value_k): value (..., K) int -> (...,)."""
        return self.per_dim.log_prob(value).sum(-1)

    def entropy(self) -> torch.Tensor:
        """Σ_k of each sub-action's entropy, per row (...,)."""
        return self.per_dim.entropy().sum(-1)


class BernoulliDist(_VectorEvent):
    """Independent Bernoullis, P(bit = 1) = sigmoid(logits), `logits` (..., n).

    Actions are (..., n) float32 0/1 (as torch's Bernoulli); `log_prob` and `entropy` sum over n;
    `mode` is logits > 0.
    """

    support = constraints.independent(constraints.boolean, 1)
    _vector = "logits"

    def __init__(self, logits: torch.Tensor):  # no super().__init__: see _Fresh
        self.logits = logits

    @property
    def probs(self) -> torch.Tensor:
        """P(bit = 1) (..., n)."""
        return torch.sigmoid(self.logits)

    @property
    def mode(self) -> torch.Tensor:
        return (self.logits > 0).to(self.logits.dtype)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        """Bits (*sample_shape, ..., n) float 0/1: one compare per bit, no autograd (as torch's)."""
        p = torch.sigmoid(self.logits.detach())
        return (_noise(p, sample_shape, torch.rand_like) < p).to(p.dtype)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Σ over n of log P(bit): value (..., n) 0/1 -> (...,); log sigmoid(±l) stays finite for large |l|."""
        return logsigmoid(torch.where(value.bool(), self.logits, -self.logits)).sum(-1)

    def entropy(self) -> torch.Tensor:
        """Σ over n of softplus(l) − sigmoid(l)·l, per row (...,)."""
        return (softplus(self.logits) - torch.sigmoid(self.logits) * self.logits).sum(-1)


class _Gaussian(_VectorEvent):
    """u ~ N(mean, exp(log_std)²) per dimension, `mean` (..., A), `log_std` (A,) or per row (..., A): what both Gaussians share.

    `rsample` and `log_prob` here are those of u; the squashed one maps through the tanh around them.
    """

    has_rsample = True
    _vector = "loc"

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor):  # no super().__init__: see _Fresh
        self.loc, self.log_std = mean, log_std

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        """u = mean + σ·ε (*sample_shape, ..., A), differentiable in mean and log_std."""
        return self.loc + self.log_std.exp() * _noise(self.loc, sample_shape, torch.randn_like)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """Σ over A of the per-dimension log density of u: (..., A) -> (...,)."""
        z = (value - self.loc) * torch.exp(-self.log_std)
        return (-0.5 * z * z - self.log_std - _HALF_LOG_2PI).sum(-1)

    def sample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        """`rsample` without autograd."""
        if not torch.is_grad_enabled():  # as in the rollout: skip the no_grad switch (~1 µs a step)
            return self.rsample(sample_shape)
        with torch.no_grad():
            return self.rsample(sample_shape)

    def entropy(self) -> torch.Tensor:
        """Σ over A of u's ½ + ½·log 2π + log σ, per row (...,)."""
        return (0.5 + _HALF_LOG_2PI + self.log_std).sum(-1).expand(self.batch_shape)


class DiagGaussian(_Gaussian):
    """Independent Normals: `mean` (..., A), `log_std` (A,) (or broadcastable to the mean).

    Actions are (..., A) float and unbounded; `rsample` is reparameterised (mean + σ·ε); `log_prob` and
    `entropy` sum over A.
    """

    support = constraints.real_vector

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


class SquashedDiagGaussian(_Gaussian):
    """a = center + half_range·tanh(u), u ~ N(mean, exp(log_std)²) per dimension.

    `mean` (..., A), `log_std` (A,) or (..., A), `center`, `half_range` (A,); actions are (..., A) inside
    (center − half_range, center + half_range). Samples keep tanh within ±(1 − 1e-6) so `log_prob`
    stays finite on them; `log_prob` clamps the scaled action the same way before taking atanh.
    `entropy` is that of the Gaussian before the tanh: the squashed law has no closed form.
    """

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor, center: torch.Tensor, half_range: torch.Tensor):
        super().__init__(mean, log_std)
        self.center, self.half_range = center, half_range

    @property
    def support(self) -> constraints.Constraint:
        return constraints.independent(
            constraints.interval(self.center - self.half_range, self.center + self.half_range), 1
        )

    @property
    def mode(self) -> torch.Tensor:
        """center + half_range·tanh(mean) (..., A): tanh of u's mode (a's own density may peak elsewhere)."""
        return self.center + self.half_range * torch.tanh(self.loc)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> torch.Tensor:
        """center + half_range·tanh(mean + σ·ε), tanh kept within ±(1 − 1e-6): (*sample_shape, ..., A)."""
        squashed = torch.tanh(super().rsample(sample_shape)).clamp(-_TANH_LIMIT, _TANH_LIMIT)
        return self.center + self.half_range * squashed

    @staticmethod
    def pre_tanh(value: torch.Tensor, center: torch.Tensor, half_range: torch.Tensor) -> torch.Tensor:
        """u = atanh((a − center)/half_range) (..., A), the scaled action clamped within ±(1 − 1e-6) first."""
        return torch.atanh(((value - center) / half_range).clamp(-_TANH_LIMIT, _TANH_LIMIT))

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log N(u) − log|da/du| summed over A: (..., A) -> (...,), with u = atanh((a − center)/half_range)."""
        u = self.pre_tanh(value, self.center, self.half_range)
        # log(1 − tanh²u) written as 2·(log 2 − u − softplus(−2u)): no cancellation for large |u|.
        log_det = torch.log(self.half_range) + 2 * (math.log(2) - u - softplus(-2 * u))
        return super().log_prob(u) - log_det.sum(-1)
