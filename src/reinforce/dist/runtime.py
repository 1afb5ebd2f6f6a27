"""PyTorch's own distributed runtime (torchrun) for data-parallel training: joining the process group,
rank seeds, and collectives that fail with a clear message when a peer dies or hangs.

    torchrun --nproc-per-node=N -m reinforce train ...          # N processes on this machine
    torchrun --nnodes=2 --nproc-per-node=N --rdzv-backend=c10d --rdzv-endpoint=HOST:PORT -m reinforce train ...

Rank 0 alone writes logs, plots and checkpoints (`is_main_process()`). A dead rank ends the job:
the survivors' next collective fails ("connection closed by peer") and torchrun stops the rest; a
rank that hangs is caught by the collective timeout (`REINFORCE_DIST_TIMEOUT_S`, default 300 s).
See docs/distributed.md; the job-wide statistics are in `reinforce.dist.reducer`.
"""
from __future__ import annotations

import atexit
import datetime
import os
import pickle
import time
from collections.abc import Callable
from typing import Any, TypeVar

import torch
import torch.distributed as dist


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
    # Leave the group before the interpreter tears down: a rank that exits with the group still up
    # (say after rank 0 refused the run folder) otherwise dies in C++ with SIGABRT, and torchrun
    # reports that crash instead of the real exit code.
    atexit.register(destroy)
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
PEER_FAILURE_GRACE_S = 0.5


def collective(what: str, fn: Callable[[], T]) -> T:
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
    t = torch.tensor([1 if flag else 0], dtype=torch.int64, device=comm_device())
    collective("agreeing on a stop", lambda: dist.all_reduce(t, op=dist.ReduceOp.MAX))
    return bool(t.item())


def barrier() -> None:
    if is_distributed():
        collective("barrier", lambda: dist.barrier())


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
    collective("receiving rank 0's result", lambda: dist.broadcast_object_list(box, src=0))
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
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(err).__name__}: {err}")


def comm_device() -> torch.device:
    """Where the small bookkeeping tensors (metrics, sums, flags) live for collectives: the CPU
    (gloo), unless the group is NCCL only (a group made by hand with backend="nccl")."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")
