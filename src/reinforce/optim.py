"""`make_adam`: torch's Adam without the 1-3 s `import torch._dynamo` of its first use.

torch.optim.Optimizer wraps `add_param_group`, `zero_grad`, `state_dict` and `load_state_dict` in
`torch._disable_dynamo`, and Adam's `step` in `_use_grad_for_differentiable`; both import torch._dynamo
(the compiler) on their first call, which costs more than a whole CartPole training. `FastAdam` calls
the same undecorated methods and the same `torch.optim.adam.adam` update, so its arithmetic, state and
checkpoints are torch's Adam's exactly; the wrappers only matter under torch.compile, so once the
compiler is loaded anyway (`torch._dynamo` in sys.modules) `make_adam` returns torch's own class.

`exact_lr` and `portable_state` read an Adam that a graphed run (reinforce.run.graphed) switched to a device lr
and `capturable=True` back as the eager path keeps it: for metrics and checkpoints.
"""
from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import torch
from torch.optim.adam import adam

_Base = torch.optim.Optimizer


def _plain(method: Any) -> Any:
    """The function under torch's `_disable_dynamo` wrapper (itself when it is not wrapped)."""
    return getattr(method, "__wrapped__", method)


class FastAdam(torch.optim.Adam):
    """torch.optim.Adam whose methods skip the torch._dynamo wrappers (see the module docstring)."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        _plain(_Base.add_param_group)(self, param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        _plain(_Base.zero_grad)(self, set_to_none)

    def state_dict(self) -> dict[str, Any]:
        return _plain(_Base.state_dict)(self)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        _plain(_Base.load_state_dict)(self, state_dict)

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:  # torch.optim.Adam.step, minus the compiler's graph break
        lean = self._lean_groups() if closure is None else []
        for group in lean:
            self._fused_cpu_step(group)
        if lean:
            return None
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps = [], [], [], [], [], []
            has_complex = self._init_group(group, params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps)
            beta1, beta2 = group["betas"]
            adam(
                params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps,
                amsgrad=group["amsgrad"], has_complex=has_complex, beta1=beta1, beta2=beta2, lr=group["lr"],
                weight_decay=group["weight_decay"], eps=group["eps"], maximize=group["maximize"],
                foreach=group["foreach"], capturable=group["capturable"], differentiable=group["differentiable"],
                fused=group["fused"], grad_scale=getattr(self, "grad_scale", None),
                found_inf=getattr(self, "found_inf", None), decoupled_weight_decay=group["decoupled_weight_decay"],
            )
        return loss


    def _lean_groups(self) -> list[dict[str, Any]]:
        """The param groups if every one can take `_fused_cpu_step`, else [] (then `step` goes torch's way).

        That is the state torch's own Adam reaches after its first step on CPU with `fused=True` (what
        make_adam makes): every parameter has a gradient and its moments, one dtype, float lr, and none of
        amsgrad, capturable, differentiable, decoupled weight decay or a gradient scaler."""
        if getattr(self, "grad_scale", None) is not None or getattr(self, "found_inf", None) is not None:
            return []
        for group in self.param_groups:
            if (not group["fused"] or group["amsgrad"] or group["capturable"] or group["differentiable"]
                    or group["decoupled_weight_decay"] or isinstance(group["lr"], torch.Tensor)):
                return []
            params = group["params"]
            if any(p.grad is None or p.grad.is_sparse or not p.is_cpu or p.dtype != params[0].dtype
                   or "exp_avg" not in self.state.get(p, ()) for p in params):
                return []
        return self.param_groups

    def _fused_cpu_step(self, group: dict[str, Any]) -> None:
        """torch's `_fused_adam` for one CPU group, minus its grouping by device and dtype (one of each
        here): the same two kernels, the same numbers bit for bit (tests/test_optim.py), in 13 µs for a
        32-32 MLP where torch's path takes 45 (six steps an epoch in pendulum-fast)."""
        params = group["params"]
        states = [self.state[p] for p in params]
        steps = [s["step"] for s in states]
        beta1, beta2 = group["betas"]
        torch._foreach_add_(steps, 1)
        torch._fused_adam_(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                           [s["exp_avg_sq"] for s in states], [], steps, amsgrad=False, lr=group["lr"], beta1=beta1,
                           beta2=beta2, weight_decay=group["weight_decay"], eps=group["eps"],
                           maximize=group["maximize"], grad_scale=None, found_inf=None)


def make_adam(params: Iterable[torch.nn.Parameter], lr: float) -> torch.optim.Adam:
    """Adam over `params` at learning rate `lr`: FastAdam unless the compiler is already loaded.

    On CPU it is torch's fused kernel (one call per tensor instead of ~10): a 64-64 MLP's step takes 58 µs
    instead of 198, which is a tenth of a small preset's epoch (acrobot-fast steps Adam 6 times an epoch). It
    rounds differently in the last bit from the per-tensor loop. Other devices keep torch's default choice."""
    params = list(params)
    fused = {"fused": True} if params and all(p.device.type == "cpu" for p in params) else {}
    if "torch._dynamo" in sys.modules:
        return torch.optim.Adam(params, lr=lr, **fused)
    return FastAdam(params, lr=lr, **fused)


def load_keeping_kernel(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """`optimizer.load_state_dict(state)`, keeping this optimizer's own `fused` choice (made for its params'
    device by make_adam) over the checkpoint's: a checkpoint from another device or an older version must not
    switch the kernel."""
    fused = [group.get("fused") for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, choice in zip(optimizer.param_groups, fused):
        group["fused"] = choice


def exact_lr(lr: float | torch.Tensor, set_to: float) -> float:
    """A param group's lr as a float: a captured update's float32 device lr is `set_to`, the value it was filled
    with (its rounding, 0.45 -> 0.4499999881, must not reach metrics or a resumed run)."""
    return set_to if isinstance(lr, torch.Tensor) else float(lr)


def portable_state(optimizer_state: dict, lr: float) -> dict:
    """An Adam state_dict as the eager path keeps it: a float lr (a device lr becomes `lr`) and capturable off
    (a graphed run's device lr and capturable flag would tie the checkpoint to a GPU)."""
    groups = [{**g, "lr": exact_lr(g["lr"], lr), "capturable": False} for g in optimizer_state["param_groups"]]
    return {**optimizer_state, "param_groups": groups}
