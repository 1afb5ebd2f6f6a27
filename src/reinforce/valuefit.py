"""The value fit's squared error and its gradients, written out for a plain tanh MLP on CPU.

A small preset's epoch (acrobot-fast: 1,024 rows, pendulum-fast: 512) runs `value_iters` full-batch Adam
steps of V, and at these sizes autograd's bookkeeping (one graph node, saved tensors and a dispatch per
op, a zero-filled expand for each mean) costs as much as the arithmetic. The backward of
Linear → tanh → … → Linear(·, 1) under a mean squared error is short enough to write down: per layer one
product for the weight gradient, one sum for the bias, one product and an in-place `1 - h²` for the layer
below. Measured (one thread, forward + backward + Adam): autograd 1.69 → 1.39 ms at 1,024 mirrored rows of
a 64-64 net, 0.66 → 0.45 ms at 512 rows of 32-32; aten's fused `tanh_backward` then took the gradients alone
from 1.24 to 1.11 and 0.33 to 0.31 ms. The numbers are autograd's up to float rounding (tests/test_valuefit.py).

Only CPU, eager, vector inputs: a compiled hot path keeps autograd (its AOT backward is fused already), and
so does a GPU, whose overhead a captured graph removes.
"""
from __future__ import annotations

import torch
from torch import nn

from reinforce.policy_base import linear, narrow_to_wide, tanh

__all__ = ["plain_tanh_layers", "mse_and_grads"]


def plain_tanh_layers(net: nn.Module) -> list[nn.Linear] | None:
    """The Linear layers of `net` if it is Linear, Tanh, Linear, …, Linear(·, 1) with biases on CPU, else None."""
    if not isinstance(net, nn.Sequential) or len(net) % 2 == 0:
        return None
    layers = list(net)
    linears = layers[0::2]
    if not all(isinstance(m, nn.Linear) for m in linears):
        return None
    if not all(isinstance(m, nn.Tanh) for m in layers[1::2]) or linears[-1].out_features != 1:
        return None
    if any(m.bias is None or not m.weight.is_cpu or m._forward_hooks or m._forward_pre_hooks for m in linears):
        return None
    return linears


def mse_and_grads(linears: list[nn.Linear], inputs_MD: torch.Tensor, targets_N: torch.Tensor, total: int | None = None,
                  accumulate: bool = False) -> torch.Tensor:
    """mean((V − y)²) for V the MLP's output averaged over k = M / N stacked copies of the rows (the mirror's
    two sides: inputs (k·N, D), copy i in rows i·N … (i+1)·N − 1; k = 1 without one) and targets y (N,).
    Writes each layer's weight and bias gradient to `.grad` (replacing it, or adding to it with `accumulate`) and
    returns the loss (a scalar). For a slice of a batch of `total` rows: the sum over the slice divided by `total`,
    its share of the batch's mean, and the gradients of that share."""
    rows, n = inputs_MD.shape[0], targets_N.shape[0]
    total = n if total is None else total
    copies = rows // n
    if copies * n != rows:
        raise ValueError(f"inputs hold {rows} rows, not a whole number of copies of the {n} targets")
    with torch.no_grad():
        acts = [inputs_MD]  # each layer's input
        h = inputs_MD
        for i, layer in enumerate(linears):
            h = linear(h, layer.weight, layer.bias)  # laid out for the layer's shape, as the policy's layers
            if i < len(linears) - 1:
                h = tanh(h, in_place=True)
                acts.append(h)
        values_N = h.view(copies, n).mean(0) if copies > 1 else h.view(n)
        err_N = values_N.sub_(targets_N)
        loss = err_N.square().mean() if total == n else err_N.square().sum() / total
        # d loss / d output row: 2 (V − y) / total, split evenly over the copies
        grad = err_N.mul_(2.0 / (total * copies)).expand(copies, n).reshape(rows, 1)
        for i in range(len(linears) - 1, -1, -1):
            layer, a = linears[i], acts[i]
            # few inputs, many outputs (the first layer): the long sum inner, as policy_base.linear's backward
            weight_grad = a.t().mm(grad).t().contiguous() if narrow_to_wide(a.shape[1], grad.shape[1]) \
                else grad.t().mm(a)
            if accumulate:
                layer.weight.grad.add_(weight_grad)
                layer.bias.grad.add_(grad.sum(0))
            else:
                layer.weight.grad, layer.bias.grad = weight_grad, grad.sum(0)
            if i:  # through the layer, then tanh' = 1 − h² (h = a, this layer's input): aten's one fused pass
                grad = torch.ops.aten.tanh_backward(grad.mm(layer.weight), a)
    return loss
