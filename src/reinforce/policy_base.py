"""What every policy shares: the `Policy` base (normaliser, encoder, sample/act) and the MLP it is built from.

The kinds live in reinforce.policies (categorical, multi-categorical, Bernoulli, `make_policy`) and
reinforce.gaussian (the diagonal Gaussian); both import this module, never the other way round.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.distributions import Distribution

from reinforce.checks import require_int
from reinforce.encoders import ImageEncoder
from reinforce.normalization import ObsNormalizer
from reinforce.spaces import ActionSpec

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}


# From this many rows, a product with 2-8 outputs is taken as W·xᵀ (below).
WIDE_BATCH_ROWS = 16384
# A layer with at most this many inputs and at least this many outputs (an MLP's first layer on a low-dimensional
# observation) multiplies by a row-major copy of Wᵀ (below).
NARROW_INPUTS, WIDE_OUTPUTS = 16, 16
# MLP.forward applies tanh / relu in place to a Linear's fresh output (False: out of place, to compare).
IN_PLACE_ACTIVATIONS = True
# A CPU update runs the loss's forward and backward in slices of rows whose widest activation holds about this
# many floats (2 MB: one core's L2 on the machines measured), so each layer's output is still in cache when the
# next reads it and when backward comes back to it; 0 turns slicing off.
SLICE_FLOATS = 2**19
MIN_SLICE_ROWS = 1024


# From this many elements, tanh on CPU is computed as 2·sigmoid(2x) − 1 (see `tanh`), and from the second number
# when autograd records it (its Function costs ~25 µs of its own); 0 turns that off.
FAST_TANH_ELEMENTS, FAST_TANH_GRAPH_ELEMENTS = 4096, 32768


def widest_activation(module: nn.Module, obs_dim: int) -> int:
    """Floats per row of `module`'s widest activation on `obs_dim` inputs: its inputs or a layer's outputs."""
    return max([obs_dim] + [p.shape[0] for p in module.parameters() if p.dim() == 2])


def rows_per_slice(module: nn.Module, obs_dim: int, batch_rows: int | None = None) -> int:
    """Rows of one slice of a CPU update for `module` on `obs_dim` inputs (see SLICE_FLOATS); 0: do not slice, as
    when slicing is off or a batch of `batch_rows` holds fewer than two slices. A policy with a mirror
    (`obs_mirror`) runs each row twice, so its slices hold half the rows."""
    if SLICE_FLOATS <= 0:
        return 0
    copies = 1 if getattr(module, "obs_mirror", None) is None else 2
    rows = max(MIN_SLICE_ROWS, SLICE_FLOATS // widest_activation(module, obs_dim) // copies)
    return rows if batch_rows is None or rows <= batch_rows // 2 else 0


def in_row_slices(fn: Callable[[torch.Tensor], torch.Tensor], x_ND: torch.Tensor, rows: int) -> torch.Tensor:
    """fn(x) for a row-wise fn, run on slices of `rows` rows (rounded down to a multiple of 16) and joined. A last
    slice under 16 rows joins the one before: torch fills normals 16 at a time, so a sampling fn draws the numbers
    one call would."""
    rows -= rows % 16
    parts = list(x_ND.split(rows))
    if len(parts) > 1 and parts[-1].shape[0] < 16:
        parts[-2:] = [x_ND[rows * (len(parts) - 2):]]
    return torch.cat([fn(part) for part in parts])


def narrow_to_wide(in_features: int, out_features: int) -> bool:
    """Whether a layer in → out takes its weight gradient as (xᵀ g)ᵀ rather than gᵀ x: few inputs, many outputs."""
    return in_features <= NARROW_INPUTS and out_features >= WIDE_OUTPUTS


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """x W^T + b (rows, out): on CPU for a 2-D batch of ≥ 256 rows with several outputs, a product then the bias
    added in place, the product laid out for the layer's shape.

    - torch's addmm with a broadcast bias costs more than the product itself when the output is narrow:
      measured here (1 thread) for 4 → 2 features, 674 vs 277 µs at 65,536 rows, 46 vs 20 µs at 4,096; the
      same numbers bit for bit (and the same gradients).
    - A long, narrow product runs far faster with the long side last: for 2-8 outputs at ≥ WIDE_BATCH_ROWS
      rows it is taken as (W xᵀ)ᵀ, a transposed view (4 → 2 features at 65,536 rows: 776 vs 196 µs, 11 → 3:
      1023 vs 493, 64 → 3: 1690 vs 1098; its backward's weight gradient is the same kind of product).
    - A first layer (`narrow_to_wide`: ≤ 16 inputs, ≥ 16 outputs) multiplies by a row-major copy of Wᵀ, and
      autograd then takes the weight gradient as (xᵀ g)ᵀ, the long sum inner, instead of gᵀ x (torch keeps
      the gradient in the layout of the operand, here Wᵀ's transposed one): forward and backward of 5 → 64 at
      1,024 rows 0.20 → 0.11 ms, at 65,536 rows 35 → 13 ms.
    The last two are equal to the plain product to float rounding, not always bit for bit (3 inputs were). One-
    column outputs (the value head) and small batches measured no gain and keep F.linear, as do traced and
    compiled graphs (export, torch.compile).
    """
    # (compiling first: a traced batch size compared with 256 becomes a guard that an export's dynamic batch violates)
    if (not torch.compiler.is_compiling() and x.dim() == 2 and x.shape[0] >= 256 and weight.shape[0] >= 2 and x.is_cpu
            and bias is not None and not torch.jit.is_tracing()):
        if x.shape[0] >= WIDE_BATCH_ROWS and weight.shape[0] <= 8:
            return torch.mm(weight, x.t()).add_(bias.unsqueeze(1)).t()  # the bias in place before the view: no CopySlices
        if narrow_to_wide(weight.shape[1], weight.shape[0]):
            return torch.mm(x, weight.t().contiguous()).add_(bias)
        return torch.mm(x, weight.t()).add_(bias)
    return F.linear(x, weight, bias)


def logit_difference(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """l₁ − l₀ (...,) of a two-output layer (weight (2, in), bias (2,)) at x (..., in), as x·(w₁ − w₀) + (b₁ − b₀).

    A two-action softmax depends on nothing else, and a matrix-vector product reads x once where the (rows, 2)
    product and the difference of its columns cost 2-3× more: 4 inputs at 131,072 rows, 2 threads, 153 vs 389 µs
    forward, and the weight gradient 160 vs 350-570 µs (an mv of xᵀ instead of an mm). Equal to the difference of
    the logits to float rounding, not bit for bit.
    """
    z = torch.matmul(x, weight[1] - weight[0])
    return z if bias is None else z.add_(bias[1] - bias[0])  # in place: the product saves x, not its output


def tanh(x: torch.Tensor, in_place: bool = False) -> torch.Tensor:
    """tanh(x), on CPU in float32 for ≥ FAST_TANH_ELEMENTS elements as 2·sigmoid(2x) − 1 with tanh's gradient 1 − y².

    torch's CPU tanh runs 3-4× slower than its sigmoid (8,192 × 64 floats, one thread: 1.57 vs 0.43 ms for the whole
    formula, in place), and the value fit's and tanh MLPs' activations are a large part of a GAE epoch. The formula
    is within 2e-7 of tanh (absolute; near 0 that is a large relative error, which a hidden activation, read through
    the next layer's weights, does not see); ±inf give ±1. Below the thresholds (a rollout step's few rows, a small
    update's graph) four small kernels, and with a graph the Function's own cost, outweigh the gain and torch's tanh
    is kept, bit for bit: forward and backward of 16,384 floats took 65 µs either way, of 65,536 203 vs 111 µs.
    `in_place`: x may be overwritten (outside autograd; with a graph the result is always a new tensor).
    """
    graph = torch.is_grad_enabled() and x.requires_grad
    threshold = FAST_TANH_GRAPH_ELEMENTS if graph else FAST_TANH_ELEMENTS
    if not (x.is_cpu and x.dtype == torch.float32 and x.numel() >= threshold > 0):  # (half precision: too coarse)
        return torch.tanh_(x) if in_place else torch.tanh(x)
    return _SigmoidTanh.apply(x) if graph else _sigmoid_form(x, in_place)


def _sigmoid_form(x: torch.Tensor, in_place: bool) -> torch.Tensor:
    """2·sigmoid(2x) − 1, in x's own memory with `in_place`, else in one new tensor."""
    return (x.mul_(2) if in_place else x.mul(2)).sigmoid_().mul_(2).sub_(1)


class _SigmoidTanh(torch.autograd.Function):
    """`tanh`'s formula with a graph: backward is aten's tanh_backward, g·(1 − y²), from the saved output."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, x: torch.Tensor) -> torch.Tensor:
        y = _sigmoid_form(x, in_place=False)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


class Linear(nn.Linear):
    """nn.Linear through `linear` (its CPU path for large batches)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return linear(x, self.weight, self.bias)


# The layers MLP.forward runs as plain functions, by type (anything else is called as a module).
_AS_FUNCTIONS = {
    Linear: lambda layer, x: linear(x, layer._parameters["weight"], layer._parameters["bias"]),
    nn.Tanh: lambda layer, x: tanh(x),
    nn.ReLU: lambda layer, x: torch.relu(x),
}
# The same activations in place, for the fresh output of a Linear called just before (a tensor no one else
# holds): no new (rows, width) buffer to allocate and fill. Autograd allows it: a product saves its inputs,
# not its output, and tanh' / relu' are read from the activation's own output.
_IN_PLACE = {nn.Tanh: lambda x: tanh(x, in_place=True), nn.ReLU: torch.relu_}


class MLP(nn.Sequential):
    """nn.Sequential of Linear layers and activations whose forward calls them as functions.

    At the rollout's batch sizes (tens of rows) a module call's own bookkeeping (hook checks, attribute
    lookups through nn.Module.__getattr__) costs as much as the layer: a 3 → 32 → 32 → 1 tanh MLP on 64 rows
    takes 26 µs through the modules and 13 µs as functions (one thread), the same numbers bit for bit. At large
    batches the activations run in place on the layer's fresh output (`_IN_PLACE`): the swing-up's 64-64 ReLU
    MLP trained 1.15-1.36× faster at 4,096-65,536 envs, bit for bit. A layer with hooks, and traced or
    compiled graphs, go through the modules as usual.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._through(x, self._modules.values())

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """The last layer's input: every layer but the last (x itself for a single Linear)."""
        return self._through(x, list(self._modules.values())[:-1])

    def _through(self, x: torch.Tensor, layers: Iterable[nn.Module]) -> torch.Tensor:
        if torch.jit.is_tracing() or torch.compiler.is_compiling():
            for layer in layers:
                x = layer(x)
            return x
        fresh = False  # x is the output of a Linear run as a function here, contiguous: ours to overwrite
        for layer in layers:
            fn = _AS_FUNCTIONS.get(type(layer))
            if fn is None or layer._forward_hooks or layer._forward_pre_hooks:
                x, fresh = layer(x), False
            elif fresh and type(layer) in _IN_PLACE:
                x, fresh = _IN_PLACE[type(layer)](x), False
            else:  # (a transposed view, linear's narrow output, is not fresh: in place it would cost a CopySlices)
                x = fn(layer, x)
                fresh = IN_PLACE_ACTIVATIONS and isinstance(layer, Linear) and x.is_contiguous()
        return x


def mlp(in_dim: int, out_dim: int, hidden_sizes: Sequence[int] = (), activation: str = "relu") -> MLP:
    """Linear layers with `activation` between them; `hidden_sizes=()` gives a single Linear."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {sorted(ACTIVATIONS)}")
    for i, width in enumerate(hidden_sizes):
        require_int(f"hidden_sizes[{i}]", width, 1)
    sizes = [in_dim, *hidden_sizes, out_dim]
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return MLP(*layers)


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
    # Each row's distribution depends on that row's observation alone and `sample` keeps no state between calls,
    # so the rollout may sample many envs in slices of rows (HotPath._sample). The library's policies say so; a
    # subclass that keeps per-env state or mixes rows (batch statistics) sets it back to False.
    rows_independent: bool = False

    def __init__(self) -> None:
        super().__init__()
        self.obs_normalizer: ObsNormalizer | None = None
        self.encoder: ImageEncoder | None = None
        self.register_buffer("obs_mirror", None)  # a None buffer stays out of the state_dict

    def _set_mirror(self, signs: Sequence[int]) -> None:
        """Keep `mirror_obs_signs` ((), or one ±1 per entry of a vector observation) as the buffer `obs_mirror`."""
        if not len(signs):
            return
        if self.encoder is not None:
            raise ValueError("mirror_obs_signs applies to vector observations, not to images; leave it off for this env")
        if len(signs) != self.obs_dim or any(x not in (1, -1) for x in signs):
            raise ValueError(f"mirror_obs_signs needs one sign (1 or -1) per entry of a vector observation "
                             f"({self.obs_dim} here), got {tuple(signs)!r}")
        self.obs_mirror = torch.tensor(signs, dtype=torch.float32)

    def both_sides(self, obs: torch.Tensor) -> torch.Tensor:
        """(2, ..., obs_dim): `obs` and its mirror image. The mirror acts on the raw observation, before the
        normaliser, so symmetry is exact whatever the normaliser's running mean."""
        return torch.stack([obs, obs * self.obs_mirror])

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
