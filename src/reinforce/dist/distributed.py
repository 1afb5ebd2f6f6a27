"""Data-parallel REINFORCE over processes and machines, on PyTorch's own runtime (torchrun).

    torchrun --nproc-per-node=N -m reinforce train ...          # N processes on this machine
    torchrun --nnodes=2 --nproc-per-node=N --rdzv-backend=c10d --rdzv-endpoint=HOST:PORT -m reinforce train ...

Every rank collects its own rollout of T steps in its own E envs (env seed `seed + rank·E`, so no
two sub-envs of the job share a seed; torch's sampling stream is seeded the same way), computes
the loss on it and all-reduces the gradient before clipping and the optimiser step. All ranks
start from rank 0's parameters and apply the same averaged gradient with the same optimiser, so
their parameters stay identical without ever being sent again.

**N ranks × E envs is one process with N·E envs.** Given the same N·E columns of transitions,
`DistributedReinforce.update` on N ranks gives the parameters, value function, observation
statistics and metrics of `Reinforce.update` on the concatenated batch, up to float rounding, for
*every* option:

- `reward_to_go` / `total` returns, the `value` and `gae` baselines: the weights are computed per
  env column (V is the same on every rank), so nothing batch-wide is involved; the loss is a mean
  over the rows and every rank has T·E rows, so the average of the ranks' gradients is the
  gradient of the mean over all N·T·E rows. The value fit averages its gradients the same way.
- `mean` baseline (leave-one-env-out): the sum of the other envs' weights is all-reduced, so env e
  is compared with the other N·E - 1 envs of the *job*, not only of its rank.
- `normalize_advantages`: the mean and std are of all N·T·E weights (all-reduced sums).
- observation normalisation: the batch moments of all ranks are merged (all-gather of count,
  mean and variance), so the normaliser sees the N·T·E observations, on every rank alike.
- `max_grad_norm` clips the averaged gradient: the global norm, identical on all ranks.

What is *not* identical to a one-process run with N·E envs is the random numbers: the envs and
the action sampler of rank r draw from streams seeded `seed + r·E`, not from one stream. The runs
are the same in distribution, not bit for bit. The learning rate therefore needs no scaling: it
is what a one-process run with N·E envs would use (N·E·T transitions per step, the loss a mean).

Metrics are reduced: episode means weighted by episode counts (sums of returns and lengths and
counts all-gathered), `rollout/episodes` and `time/env_steps` summed, `time/steps_per_s` summed
(each rank's own rate: the job's throughput), `time/wall_s` the maximum, the article's figure
Σ rewards / Σ episode ends, everything else (loss, entropy, value loss) averaged over ranks.

Rank 0 alone writes logs, plots and checkpoints (`is_main_process()`). A dead rank ends the job:
the survivors' next collective fails ("connection closed by peer") and torchrun stops the rest; a
rank that hangs is caught by the collective timeout (`REINFORCE_DIST_TIMEOUT_S`, default 300 s).
See docs/distributed.md.
"""
from __future__ import annotations

import datetime
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from reinforce.dist.launch import available_cores
from reinforce.algorithm import METRIC_NAMES, Metrics, Reinforce
from reinforce.policies import Policy
from reinforce.rollout import Batch
from reinforce.envs.vector import VecEnv

DEFAULT_TIMEOUT_S = 300.0
TIMEOUT_ENV = "REINFORCE_DIST_TIMEOUT_S"
T = TypeVar("T")


class PeerFailureError(RuntimeError):
    """A collective failed: another rank died, hung past the timeout or cannot be reached."""


# -- process group ----------------------------------------------------------------------------
def launched_by_torchrun() -> bool:
    """True inside a worker started by torchrun (or any launcher that sets RANK and WORLD_SIZE)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def timeout_s() -> float:
    """Collective timeout: REINFORCE_DIST_TIMEOUT_S, else 300 s."""
    raw = os.environ.get(TIMEOUT_ENV)
    if raw is None:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    if not value > 0:
        raise ValueError(f"{TIMEOUT_ENV} must be > 0, got {raw!r}")
    return value


def init_from_env(device: str | torch.device | None = None, timeout: float | None = None) -> tuple[int, int, int]:
    """Join the process group torchrun describes in RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT.

    Returns (rank, world_size, local_rank). Not launched by torchrun, or launched with one
    process: (0, 1, 0) and no process group (train with plain `Reinforce`).

    Backend: gloo on a machine without CUDA; with CUDA, "cpu:gloo,cuda:nccl" (CPU tensors go
    through gloo, CUDA tensors through NCCL, so the same group serves a CPU or a GPU run and the
    caller need not know the run's device before joining), and this process's GPU is
    `cuda:LOCAL_RANK`, made the current device so that "cuda" means it. `device` (optional) is only
    checked: "cuda" on a machine without enough GPUs for LOCAL_RANK is an error. `timeout`
    (seconds; default REINFORCE_DIST_TIMEOUT_S or 300) bounds every collective, so a rank that
    hangs makes the others fail instead of waiting forever. Calling it again returns the existing
    group's values.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0))
    if not launched_by_torchrun():
        return 0, 1, 0
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if world_size <= 1:
        return 0, 1, local_rank
    if not dist.is_available():  # pragma: no cover - every official build has it
        raise RuntimeError("this torch build has no torch.distributed; it cannot run data-parallel training")
    gpu = torch.cuda.is_available() and local_rank < torch.cuda.device_count()
    if device is not None and torch.device(device).type == "cuda" and not gpu:
        raise RuntimeError(
            f"LOCAL_RANK {local_rank} needs cuda:{local_rank}, but this machine has {torch.cuda.device_count()} CUDA "
            "devices: run at most one process per GPU (--nproc-per-node)"
        )
    if gpu:
        torch.cuda.set_device(local_rank)
    backend = "cpu:gloo,cuda:nccl" if gpu else "gloo"
    limit = datetime.timedelta(seconds=timeout if timeout is not None else timeout_s())
    # The store torchrun's agent shares with the workers outlives a restart (--max-restarts), and
    # with it the previous attempt's process-group keys: the restarted ranks would read their
    # peers' old addresses and fail with "connection refused". A prefix per attempt avoids that.
    store, _, _ = next(dist.rendezvous("env://", rank, world_size, timeout=limit))
    store = dist.PrefixStore(f"reinforce/attempt{restart_count()}", store)
    dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world_size, timeout=limit)
    return rank, world_size, local_rank


def destroy() -> None:
    """Leave the process group (at the end of a run); a no-op without one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def get_rank() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    return int(os.environ.get("RANK", 0)) if launched_by_torchrun() else 0


def get_world_size() -> int:
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return 1


def is_main_process() -> bool:
    """True on rank 0 (and in a plain one-process run): the process that writes files and prints."""
    return get_rank() == 0


def is_distributed() -> bool:
    return get_world_size() > 1


def rank_seed(seed: int, rank: int, num_envs: int) -> int:
    """Rank r's env seed: sub-env i of rank r gets seed + r·E + i, so no two sub-envs share a seed."""
    return int(seed) + int(rank) * int(num_envs)


def restart_count() -> int:
    """How often torchrun restarted the worker group (TORCHELASTIC_RESTART_COUNT; 0 on the first attempt)."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0))


# On a failed collective, wait this long before raising: torchrun (polling every 0.1 s) then sees the
# rank that really failed first and names it as the "Root Cause" (it picks the earliest failure, to
# the second), instead of this rank, whose error is only a consequence.
PEER_FAILURE_GRACE_S = 2.0


def _collective(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except RuntimeError as err:  # DistBackendError, gloo/NCCL timeouts and connection errors
        if launched_by_torchrun():
            time.sleep(PEER_FAILURE_GRACE_S)
        raise PeerFailureError(
            f"rank {get_rank()} of {get_world_size()}: {what} failed, so another rank has stopped, hung or become "
            f"unreachable (if another rank reported an error, that is the cause). Backend said: {str(err).strip().splitlines()[0]}"
        ) from err


def any_rank(flag: bool) -> bool:
    """True on every rank if `flag` is true on any rank (e.g. one rank received SIGTERM: all stop at the same epoch)."""
    if not is_distributed():
        return bool(flag)
    t = torch.tensor([1 if flag else 0], dtype=torch.int64, device=_comm_device())
    _collective("agreeing on a stop", lambda: dist.all_reduce(t, op=dist.ReduceOp.MAX))
    return bool(t.item())


def barrier() -> None:
    if is_distributed():
        _collective("barrier", lambda: dist.barrier())


def broadcast_from_main(fn: Callable[[], T]) -> T:
    """Run `fn` on rank 0 only and return its result on every rank; if it raises, every rank raises.

    For what only rank 0 may do but all ranks must know the outcome of: preparing the run folder
    (a refusal must stop every rank, not leave the others waiting), reading the checkpoint (on
    several machines, only rank 0's disk has it). The result travels pickled (tensors included):
    the other ranks get a copy, rank 0 the object `fn` returned.
    """
    if not is_distributed():
        return fn()
    box: list[Any] = [None]
    error: BaseException | None = None
    if get_rank() == 0:
        try:
            box[0] = ("ok", fn())
        except Exception as err:  # noqa: BLE001 - re-raised below, on every rank
            error = err
            box[0] = ("error", _picklable(err))
    _collective("receiving rank 0's result", lambda: dist.broadcast_object_list(box, src=0))
    status, value = box[0]
    if status == "error":
        if error is not None:
            raise error
        try:  # rank 0 reports it; the CLI need not print the same error once per rank
            value.raised_on_rank0 = True
        except AttributeError:  # pragma: no cover - exceptions with __slots__
            pass
        raise value
    return value


def _picklable(err: BaseException) -> BaseException:
    import pickle

    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(err).__name__}: {err}")


def _comm_device() -> torch.device:
    """Where the small bookkeeping tensors (metrics, sums, flags) live for collectives: the CPU
    (gloo), unless the group is NCCL only (a group made by hand with backend="nccl")."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


# -- the algorithm ----------------------------------------------------------------------------
class DistributedReinforce(Reinforce):
    """`Reinforce` whose update averages over every rank of the process group (see the module docstring).

    Same arguments as `Reinforce`, plus `sampling_seed`: when given, torch's global generator is
    seeded with it after the initial parameters are broadcast (pass `rank_seed(seed, rank, E)`, so
    that ranks do not draw the same action noise). Every rank must construct it, with the same
    config: it checks that T, E and the parameter shapes agree.
    """

    def __init__(self, env: VecEnv, policy: Policy, *args: Any, sampling_seed: int | None = None, **kwargs: Any):
        if not (dist.is_available() and dist.is_initialized()):
            raise RuntimeError("DistributedReinforce needs a process group: call reinforce.dist.distributed.init_from_env() first")
        super().__init__(env, policy, *args, **kwargs)
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self._check_same_shape_everywhere()
        self.sync_parameters()
        if sampling_seed is not None:
            torch.manual_seed(int(sampling_seed))

    # -- parameters and gradients ----------------------------------------------------------------
    def _modules(self) -> list[torch.nn.Module]:
        return [self.policy] + ([self.value_fn] if self.value_fn is not None else [])

    @torch.no_grad()
    def sync_parameters(self) -> None:
        """Copy rank 0's parameters and buffers (observation statistics included) to every rank."""
        for module in self._modules():
            for name, tensor in module.state_dict().items():
                _collective(f"broadcasting {name}", lambda t=tensor: dist.broadcast(t, src=0))

    def _check_same_shape_everywhere(self) -> None:
        n_params = sum(p.numel() for m in self._modules() for p in m.parameters())
        mine = torch.tensor([self.steps_per_rollout, self.env.num_envs, n_params], dtype=torch.int64, device=_comm_device())
        everyone = [torch.empty_like(mine) for _ in range(self.world_size)]
        _collective("comparing configs", lambda: dist.all_gather(everyone, mine))
        if any(not torch.equal(other, everyone[0]) for other in everyone):
            shapes = ", ".join(f"rank {r}: T={int(o[0])} E={int(o[1])} params={int(o[2])}" for r, o in enumerate(everyone))
            raise ValueError(f"all ranks must train the same config (steps per rollout, envs, policy); got {shapes}")

    def _average_gradients(self, parameters: Sequence[torch.nn.Parameter], what: str) -> None:
        params = [p for p in parameters if p.requires_grad]
        if not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1) for g in grads])  # one all-reduce for the whole model
        _collective(f"all-reducing the {what} gradients", lambda: dist.all_reduce(flat, op=dist.ReduceOp.SUM))
        flat /= self.world_size
        offset = 0
        for p in params:
            n = p.numel()
            chunk = flat[offset : offset + n].view_as(p)
            if p.grad is None:
                p.grad = chunk.clone()
            else:
                p.grad.copy_(chunk)
            offset += n

    def reduce_gradients(self) -> None:
        """Average the policy's gradients over the ranks (before clipping and the optimiser step)."""
        self._average_gradients(list(self.policy.parameters()), "policy")

    def reduce_value_gradients(self) -> None:
        """Average the value function's gradients over the ranks (before its optimiser step)."""
        self._average_gradients(list(self.value_fn.parameters()), "value function")

    # -- batch-wide statistics over all ranks ----------------------------------------------------
    def _all_sum(self, values: torch.Tensor, what: str) -> torch.Tensor:
        values = values.detach().double().to(_comm_device()).clone()
        _collective(what, lambda: dist.all_reduce(values, op=dist.ReduceOp.SUM))
        return values

    def _mean_baseline(self, weights_TE: torch.Tensor) -> torch.Tensor:
        """(T, E) -> (1, E): env e's baseline is the mean weight of the job's N·E - 1 other envs."""
        T, E = weights_TE.shape
        per_env = weights_TE.sum(0, keepdim=True)
        total = self._all_sum(torch.stack([per_env.double().sum(), torch.tensor(float(E), dtype=torch.float64)]), "the mean baseline")
        job_sum, job_envs = total[0].to(weights_TE.device), int(total[1].item())
        if job_envs == 1:  # pragma: no cover - needs a world of one
            return (job_sum / T).to(weights_TE.dtype).expand(1, 1)
        return ((job_sum - per_env.double()) / (T * (job_envs - 1))).to(weights_TE.dtype)

    def _normalize(self, weights: torch.Tensor) -> torch.Tensor:
        w = weights.double()
        n, s = float(w.numel()), w.sum()
        totals = self._all_sum(torch.stack([torch.tensor(n, dtype=torch.float64), s.cpu()]), "advantage normalisation")
        count, mean = totals[0].item(), (totals[1] / totals[0]).item()
        if count <= 1:  # pragma: no cover
            return weights
        sq = self._all_sum(((w - mean) ** 2).sum().reshape(1), "advantage normalisation")
        std = math.sqrt(sq.item() / (count - 1))  # unbiased, as torch.std
        return (weights - mean) / (std + 1e-8)

    @torch.no_grad()
    def _merge_obs_statistics(self, obs: torch.Tensor) -> None:
        """Fold the observations of *all* ranks into the normaliser (Chan et al.'s formula, float64)."""
        norm = self.policy.obs_normalizer
        dim = norm.mean.shape[0]
        x = obs.reshape(-1, dim).double()
        n = x.shape[0]
        mine = torch.cat([torch.tensor([float(n)], dtype=torch.float64, device=x.device), x.mean(0), x.var(0, unbiased=False)])
        mine = mine.to(_comm_device())
        everyone = [torch.empty_like(mine) for _ in range(self.world_size)]
        _collective("merging observation statistics", lambda: dist.all_gather(everyone, mine))
        stats = torch.stack(everyone).to(norm.mean.device)
        counts, means, variances = stats[:, :1], stats[:, 1 : 1 + dim], stats[:, 1 + dim :]
        total_n = counts.sum()
        if total_n == 0:
            return
        batch_mean = (counts * means).sum(0) / total_n
        batch_var = (counts * (variances + (means - batch_mean) ** 2)).sum(0) / total_n
        # ObsNormalizer.update's merge, with the job's batch moments in place of one rank's.
        total = norm.count + total_n
        delta = batch_mean - norm.mean
        norm.mean += delta * total_n / total
        norm.var.copy_((norm.var * norm.count + batch_var * total_n + delta**2 * norm.count * total_n / total) / total)
        norm.count.copy_(total)

    # -- the update ------------------------------------------------------------------------------
    def update(self, batch: Batch) -> Metrics:
        """One step on the job's batch (this rank's `batch` and every other rank's); reduced metrics."""
        norm = self.policy.obs_normalizer
        saved = None if norm is None else [t.detach().clone() for t in (norm.mean, norm.var, norm.count)]
        metrics = super().update(batch)
        if norm is not None:
            # The base class folded in this rank's observations only: undo, then merge the job's.
            with torch.no_grad():
                for buffer, old in zip((norm.mean, norm.var, norm.count), saved):
                    buffer.copy_(old)
            self._merge_obs_statistics(batch.obs)
        return self._reduce_metrics(metrics, batch)

    # Metrics that are the same on every rank by construction: kept as they are.
    SAME_ON_EVERY_RANK = ("epoch", "train/lr", "train/grad_norm")
    # Metrics rebuilt from summed counts (below): the time and rollout ones; all other numeric
    # metrics are averaged.
    REBUILT = tuple(name for name in METRIC_NAMES if name.startswith(("time/", "rollout/")))

    def _reduce_metrics(self, metrics: Metrics, batch: Batch) -> Metrics:
        averaged = sorted(k for k, v in metrics.items() if k not in self.SAME_ON_EVERY_RANK + self.REBUILT and isinstance(v, (int, float)))
        sums = [
            batch.episode_returns.double().sum().item(),
            batch.episode_lengths.double().sum().item(),
            float(batch.episode_returns.numel()),
            batch.rewards.double().sum().item(),
            float(batch.dones.sum().item()),
            float(batch.num_steps),
            float(metrics["time/steps_per_s"]),
        ]
        mine = torch.tensor([*sums, float(metrics["time/wall_s"]), *(float(metrics[k]) for k in averaged)], dtype=torch.float64)
        mine = mine.to(_comm_device())
        everyone = [torch.empty_like(mine) for _ in range(self.world_size)]
        _collective("reducing the metrics", lambda: dist.all_gather(everyone, mine))
        table = torch.stack(everyone).cpu()
        ret_sum, len_sum, episodes, reward_sum, dones, steps, steps_per_s = table[:, :7].sum(0).tolist()
        wall_s = table[:, 7].max().item()
        # Counters: every rank added its own steps; make them the job's (identical on all ranks).
        self.env_steps += int(steps) - batch.num_steps
        self.wall_s = wall_s
        out = dict(metrics)
        out.update(
            {
                "time/env_steps": self.env_steps,
                "time/wall_s": wall_s,
                "time/steps_per_s": steps_per_s,
                "rollout/ep_return_mean": ret_sum / episodes if episodes else float("nan"),
                "rollout/ep_len_mean": len_sum / episodes if episodes else float("nan"),
                "rollout/episodes": int(episodes),
                "rollout/article_avg_reward": reward_sum / max(dones, 1.0),
            }
        )
        for i, key in enumerate(averaged):
            out[key] = table[:, 8 + i].mean().item()
        return out

    def parameters_in_sync(self) -> bool:
        """True if every rank holds bit-identical policy and value parameters and buffers (a check; one all-gather)."""
        flat = torch.cat([t.detach().double().reshape(-1) for m in self._modules() for t in m.state_dict().values()])
        flat = flat.to(_comm_device())
        everyone = [torch.empty_like(flat) for _ in range(self.world_size)]
        _collective("comparing parameters", lambda: dist.all_gather(everyone, flat))
        return all(torch.equal(other, flat) for other in everyone)


def concat_batches(batches: Sequence[Batch]) -> Batch:
    """The batches of several ranks as one batch of N·E envs (env axis concatenated, rank order)."""
    first = batches[0]
    final = None if first.final_obs is None else torch.cat([b.final_obs for b in batches], dim=1)
    return Batch(
        obs=torch.cat([b.obs for b in batches], dim=1),
        actions=torch.cat([b.actions for b in batches], dim=1),
        rewards=torch.cat([b.rewards for b in batches], dim=1),
        terminated=torch.cat([b.terminated for b in batches], dim=1),
        truncated=torch.cat([b.truncated for b in batches], dim=1),
        last_obs=torch.cat([b.last_obs for b in batches], dim=0),
        episode_returns=torch.cat([b.episode_returns for b in batches]),
        episode_lengths=torch.cat([b.episode_lengths for b in batches]),
        final_obs=final,
    )


# -- checkpoints ------------------------------------------------------------------------------
PER_RANK_KEYS = ("collector", "env", "rng")


def gather_rank_states(payload: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Collect every rank's own part of a checkpoint payload on rank 0. Call on every rank.

    `payload` is this rank's `checkpoint.training_state(...)`; its per-rank entries (collector:
    current observations and running episodes; env: env state; rng: generator states) differ
    between ranks, the rest (config, agent) is identical. Returns the list, index = rank, on
    rank 0 and None elsewhere; rank 0 stores it as `payload["ranks"]` with
    `payload["world_size"]` (its own state stays at the top level, so that a one-process resume
    of a distributed checkpoint continues rank 0's envs).
    """
    mine = {k: payload.get(k) for k in PER_RANK_KEYS}
    if not is_distributed():
        return [mine]
    out: list[Any] | None = [None] * get_world_size() if get_rank() == 0 else None
    _collective("gathering checkpoint state", lambda: dist.gather_object(mine, out, dst=0))
    return out


def payload_for_rank(payload: dict[str, Any], rank: int, world_size: int) -> tuple[dict[str, Any], bool]:
    """The checkpoint payload this rank restores, and whether it was written with this world size.

    Same world size: the rank's own collector, env and RNG state (`payload["ranks"][rank]`): an
    exact resume, as far as the env's state can be restored. One process resuming a distributed
    checkpoint: the payload as it is (rank 0's envs continue, with E envs instead of N·E).
    Several ranks resuming a checkpoint of another world size (or of one process): weights,
    optimiser state, observation statistics and counters carry over; env and collector state do
    not (they belong to E envs of a rank that no longer exists, or would be cloned on every rank),
    so the envs start from fresh resets: call `reseed_rank_after_restore` after restoring.
    """
    ranks = payload.get("ranks")
    saved_world = int(payload.get("world_size", len(ranks) if ranks is not None else 1))
    if ranks is not None and saved_world == world_size and len(ranks) == world_size:
        return {**payload, **ranks[rank]}, True
    if world_size == 1:
        return payload, saved_world == 1
    fresh = {**payload, "env": None, "collector": {"obs": None, "running_return": None, "running_length": None, "seed": None}}
    return fresh, False


def reseed_rank_after_restore(agent: Reinforce, seed: int, rank: int) -> None:
    """After restoring a checkpoint of another world size: give this rank its own env and sampling
    streams for the rest of the run (seed + 1_000_003·epoch, offset by rank·E)."""
    fresh = int(seed) + 1_000_003 * int(agent.epoch)
    agent.collector.restart(rank_seed(fresh, rank, agent.env.num_envs))
    torch.manual_seed(rank_seed(fresh, rank, agent.env.num_envs))


# -- launching --------------------------------------------------------------------------------
def remove_flag(argv: Sequence[str], flag: str) -> list[str]:
    """argv without `flag VALUE` / `flag=VALUE` (e.g. drop --nproc before handing argv to torchrun's workers)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == flag:
            skip = True
            continue
        if arg.startswith(flag + "="):
            continue
        out.append(arg)
    return out


def torchrun_command(nproc: int, argv: Sequence[str], max_restarts: int = 0) -> list[str]:
    """`python -m torch.distributed.run --standalone --nproc-per-node N -m reinforce ARGV` (one machine)."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"--nproc must be an integer >= 1, got {nproc!r}")
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        f"--max-restarts={int(max_restarts)}",
        "-m",
        "reinforce",
        *argv,
    ]


def launch_local(nproc: int, argv: Sequence[str], max_restarts: int = 0) -> int:
    """Run `reinforce ARGV` as `nproc` data-parallel processes on this machine; returns torchrun's exit code.

    Each worker gets cores / nproc intra-op threads (OMP_NUM_THREADS) unless that is set already.
    Ctrl-C reaches torchrun and the workers directly; SIGTERM sent to this process is forwarded to
    torchrun, which stops the workers (SIGTERM, then SIGKILL after its --shutdown-timeout).
    """
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, available_cores() // nproc)))
    proc = subprocess.Popen(torchrun_command(nproc, argv, max_restarts), env=env)

    def forward(signum: int, frame: Any) -> None:
        proc.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # torchrun got the same Ctrl-C: wait for it to stop the workers
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)


__all__ = [
    "DistributedReinforce",
    "PeerFailureError",
    "any_rank",
    "barrier",
    "broadcast_from_main",
    "concat_batches",
    "destroy",
    "gather_rank_states",
    "get_rank",
    "get_world_size",
    "init_from_env",
    "is_distributed",
    "is_main_process",
    "launch_local",
    "launched_by_torchrun",
    "payload_for_rank",
    "rank_seed",
    "remove_flag",
    "reseed_rank_after_restore",
    "restart_count",
    "torchrun_command",
]
