"""The job-wide reducer: batch statistics and gradients over every rank of a torchrun job.

**N ranks × E envs is one process with N·E envs.** Given the same N·E columns of transitions, an
update on N ranks with a `JobReducer` gives the parameters, value function, observation statistics
and metrics of an update on the concatenated batch in one process, up to float rounding, for every
option, because every batch-wide formula in `reinforce.reduce` is written on sums:

- the loss is a mean over rows and every rank has T·E rows, so the mean of the ranks' gradients is
  the gradient of the mean over all N·T·E rows (one flattened all-reduce per model);
- the `mean` baseline compares env e with the job's other N·E - 1 envs; advantage normalisation
  and the observation moments use the job's sums; `max_grad_norm` clips the averaged gradient;
- episode metrics are rebuilt from summed counts; loss and entropy are averaged over ranks.

What differs from one process with N·E envs is the random numbers: rank r's envs and action
sampler draw from streams seeded `seed + r·E`. The runs are the same in distribution, not bit for
bit, and the learning rate needs no scaling.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn

from reinforce.dist.runtime import collective, comm_device
from reinforce.reduce import Reducer


class JobReducer(Reducer):
    """All-reduces over the default process group (call `runtime.init_from_env()` first)."""

    def __init__(self) -> None:
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("JobReducer needs a process group: call reinforce.dist.runtime.init_from_env() first")
        self.world_size = dist.get_world_size()

    def _all_reduce(self, values: torch.Tensor, op: dist.ReduceOp, what: str) -> torch.Tensor:
        buffer = values.detach().to(comm_device()).clone()
        collective(what, lambda: dist.all_reduce(buffer, op=op))
        return buffer.to(values.device)

    def sum(self, values: torch.Tensor) -> torch.Tensor:
        return self._all_reduce(values, dist.ReduceOp.SUM, "summing batch statistics")

    def max(self, values: torch.Tensor) -> torch.Tensor:
        return self._all_reduce(values, dist.ReduceOp.MAX, "taking a job-wide maximum")

    def average_gradients(self, parameters: Iterable[nn.Parameter], what: str) -> None:
        params = [p for p in parameters if p.requires_grad]
        if not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])  # one all-reduce for the whole model
        collective(f"all-reducing the {what} gradients", lambda: dist.all_reduce(flat, op=dist.ReduceOp.SUM))
        flat /= self.world_size
        offset = 0
        for p in params:
            chunk = flat[offset : offset + p.numel()].view_as(p)
            if p.grad is None:
                p.grad = chunk.clone()
            else:
                p.grad.copy_(chunk)
            offset += p.numel()

    @torch.no_grad()
    def broadcast_modules(self, modules: Iterable[nn.Module], fingerprint: torch.Tensor) -> None:
        mine = fingerprint.to(device=comm_device(), dtype=torch.int64)
        everyone = [torch.empty_like(mine) for _ in range(self.world_size)]
        collective("comparing configs", lambda: dist.all_gather(everyone, mine))
        if any(not torch.equal(other, everyone[0]) for other in everyone):
            shapes = ", ".join(f"rank {r}: T={int(o[0])} E={int(o[1])} params={int(o[2])}" for r, o in enumerate(everyone))
            raise ValueError(f"all ranks must train the same config (steps per rollout, envs, policy); got {shapes}")
        for module in modules:
            for name, tensor in module.state_dict().items():
                collective(f"broadcasting {name}", lambda t=tensor: dist.broadcast(t, src=0))

    def in_sync(self, modules: Iterable[nn.Module]) -> bool:
        """True if every rank holds bit-identical parameters and buffers of `modules` (a check; one all-gather)."""
        flat = torch.cat([t.detach().double().reshape(-1) for m in modules for t in m.state_dict().values()])
        flat = flat.to(comm_device())
        everyone = [torch.empty_like(flat) for _ in range(self.world_size)]
        collective("comparing parameters", lambda: dist.all_gather(everyone, flat))
        return all(torch.equal(other, flat) for other in everyone)
