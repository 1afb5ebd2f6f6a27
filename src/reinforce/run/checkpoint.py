"""Checkpoints: everything a run needs to continue, written atomically and read without running code.

A checkpoint (`checkpoint.pt` in the run folder, the one before it kept as `checkpoint.prev.pt`)
is a `torch.save`d dict of tensors and plain Python values only:

    format, version        "reinforce.checkpoint", 1
    config                 the run's Config as a dict
    agent                  the agent's state_dict(): policy (with its observation normaliser),
                           optimiser, value function, counters epoch / env_steps / wall_s
    ranks, world_size      under torchrun: every rank's collector, env and rng entries
    collector              the rollout collector's current observations and running episode stats
    env                    the env's state where it can be saved (`VecEnv.state_dict()`)
    rng                    torch / numpy / Python (and CUDA) generator states
    trainer                checkpoint_every

It is read with `torch.load(weights_only=True)`, which refuses any pickled object other than
tensors and containers, so loading a file from elsewhere cannot run code. Writes go to a temporary
file that is fsynced and then renamed over the old one, so a crash or a full disk never leaves a
half-written checkpoint under the final name.
"""
from __future__ import annotations

import dataclasses
import errno
import io
import os
import pickle
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from reinforce.config import Config
from reinforce.dist import runtime
from reinforce.run.folder import CHECKPOINT, PREVIOUS, RunWriteError
from reinforce.run.rng import capture_rng, restore_rng

FORMAT, VERSION = "reinforce.checkpoint", 1
# A resumed run whose envs cannot continue exactly restarts them from seed + RESEED_STRIDE·epoch
# (then offset by rank·E): reproducible, and far from every stream the run used before.
RESEED_STRIDE = 1_000_003
PER_RANK_KEYS = ("collector", "env", "rng")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used: missing, corrupt, unsafe or from another run."""


class CheckpointWriteError(RunWriteError):
    """Writing a checkpoint failed (e.g. the disk is full); the previous checkpoint is untouched."""


# -- writing ------------------------------------------------------------------------------------
def _write_file(path: Path, data: bytes | memoryview) -> None:
    """Write and fsync `data`: after this returns the bytes are on disk, not only in the page cache."""
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(directory: Path) -> None:
    """Make renames in `directory` durable (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _keep_previous(path: Path, previous: Path) -> None:
    """Make `previous` a copy of `path` without ever removing `path` (a hard link where possible)."""
    tmp = previous.with_name(previous.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise
        shutil.copyfile(path, tmp)  # file systems without hard links
    os.replace(tmp, previous)


def save_atomic(obj: Any, path: str | Path, keep_previous: Path | None = None) -> None:
    """`torch.save(obj)` to `path` via a temporary file; the old file becomes `keep_previous` if given.

    Raises CheckpointWriteError (an OSError) when anything cannot be written; `path` and
    `keep_previous` are then exactly as they were before the call.
    """
    path = Path(path)
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    tmp = path.with_name(path.name + ".tmp")
    try:
        _write_file(tmp, buffer.getbuffer())
        if keep_previous is not None and path.exists():
            _keep_previous(path, keep_previous)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as err:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # a read-only folder refuses this too; the hint below matters more
            pass
        reason = err.strerror or str(err)
        raise CheckpointWriteError(err.errno, f"could not write {path} ({reason}); the file there before is intact") from err


def save_checkpoint(run_dir: str | Path, payload: dict[str, Any]) -> Path:
    """Write `payload` as `run_dir/checkpoint.pt`, the old one kept as `checkpoint.prev.pt`."""
    run_dir = Path(run_dir)
    path = run_dir / CHECKPOINT
    save_atomic(payload, path, keep_previous=run_dir / PREVIOUS)
    return path


# -- reading ------------------------------------------------------------------------------------
def load_safely(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """`torch.load(weights_only=True)` with one clear CheckpointError for every way a file can be bad."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {str(path)!r}")
    try:
        # torch's zip reader does not check CRCs: corruption inside the data would load silently.
        with zipfile.ZipFile(path) as archive:
            bad_member = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or truncated ({err})") from None
    if bad_member is not None:
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt (checksum mismatch in {bad_member})")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        if "weights only" in str(err).lower() or "weights_only" in str(err):
            found = re.search(r"GLOBAL (\S+)", str(err))
            raise CheckpointError(
                f"refusing to load {str(path)!r}: it holds pickled Python objects besides tensors and plain "
                f"values{f' (it calls {found[1]})' if found else ''}, and unpickling them could run code"
            ) from None
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt ({err})") from None
    except Exception as err:  # torch raises RuntimeError, KeyError, EOFError ... for damaged files
        raise CheckpointError(f"checkpoint {str(path)!r} is corrupt or truncated ({type(err).__name__}: {err})") from None


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A checkpoint dict written by `save_checkpoint`, checked for its format."""
    payload = load_safely(path, map_location)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a reinforce checkpoint")
    if payload.get("version", 0) > VERSION:
        raise CheckpointError(f"{str(path)!r} was written by a newer reinforce (format {payload['version']})")
    check_structure(payload, path)
    return payload


# What every checkpoint holds, with the type each entry must have.
REQUIRED = {"config": dict, "agent": dict, "rng": dict, "trainer": dict}
REQUIRED_AGENT = {"policy": dict, "optimizer": dict, "epoch": int, "env_steps": int}
REQUIRED_RNG = {"torch": torch.Tensor, "numpy": dict, "python": dict}


def check_structure(payload: dict[str, Any], path: str | Path) -> None:
    """One CheckpointError naming the first missing or malformed entry of a checkpoint dict."""
    for where, part, required in (("", payload, REQUIRED), ("agent.", payload.get("agent"), REQUIRED_AGENT),
                                  ("rng.", payload.get("rng"), REQUIRED_RNG)):
        for key, kind in required.items():
            if not isinstance(part, dict) or key not in part:
                raise CheckpointError(f"checkpoint {str(path)!r} is incomplete: it has no {where}{key}")
            if not isinstance(part[key], kind) or (kind is int and isinstance(part[key], bool)):
                raise CheckpointError(f"checkpoint {str(path)!r} is damaged: {where}{key} is a {type(part[key]).__name__}")
    for key in ("epoch", "env_steps"):
        if payload["agent"][key] < 0:
            raise CheckpointError(f"checkpoint {str(path)!r} is damaged: agent.{key} is {payload['agent'][key]}, not a count")
    rng = payload["rng"]["torch"]
    if rng.dtype != torch.uint8 or rng.dim() != 1:
        raise CheckpointError(f"checkpoint {str(path)!r} is damaged: its torch RNG state is not a byte tensor")


def checkpoint_epoch(path: str | Path) -> int | None:
    """Epochs done in the checkpoint at `path`, or None if it is missing or unreadable."""
    try:
        return int(load_checkpoint(path)["agent"]["epoch"])
    except CheckpointError:
        return None


# -- the training state -------------------------------------------------------------------------
def training_state(cfg: Config, agent: Any, checkpoint_every: int) -> dict[str, Any]:
    """Everything to continue `agent`'s run exactly; each part is that object's own `state_dict()`."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": cfg.to_dict(),
        "agent": agent.state_dict(),
        "collector": agent.collector.state_dict(),
        "env": agent.env.state_dict(),
        "rng": capture_rng(),
        "trainer": {"checkpoint_every": int(checkpoint_every)},
    }


def gather_rank_states(payload: dict[str, Any]) -> dict[str, Any]:
    """Under torchrun: `payload` with every rank's own collector, env and rng entries added on rank 0
    (`ranks`, index = rank, and `world_size`); rank 0's own stay at the top level, so a one-process
    resume continues rank 0's envs. Call on every rank; without a process group `payload` as it is."""
    if not runtime.is_distributed():
        return payload
    mine = {k: payload.get(k) for k in PER_RANK_KEYS}
    world = runtime.get_world_size()
    out: list[Any] | None = [None] * world if runtime.get_rank() == 0 else None
    runtime.collective("gathering checkpoint state", lambda: torch.distributed.gather_object(mine, out, dst=0))
    return {**payload, "ranks": out, "world_size": world}


def payload_for_rank(payload: dict[str, Any], rank: int, world_size: int) -> tuple[dict[str, Any], bool]:
    """The part of `payload` this rank restores, and whether its envs can continue where they stopped.

    Same world size: the rank's own collector, env and rng state. One process resuming a
    distributed checkpoint: rank 0's. Another world size: weights, optimiser state, observation
    statistics and counters only; the envs restart (see `reseed`).
    """
    ranks = payload.get("ranks")
    saved_world = int(payload.get("world_size", len(ranks) if ranks is not None else 1))
    if ranks is not None and saved_world == world_size and len(ranks) == world_size:
        return {**payload, **ranks[rank]}, True
    if world_size == 1:
        return payload, saved_world == 1
    return {**payload, "env": None, "collector": None}, False


def reseed(agent: Any, seed: int, rank: int = 0) -> None:
    """The one reseed rule for envs that cannot continue: fresh resets and a fresh sampling stream from
    seed + RESEED_STRIDE·epoch, offset by rank·E as every rank's seeds are."""
    fresh = runtime.rank_seed(int(seed) + RESEED_STRIDE * int(agent.epoch), rank, agent.env.num_envs)
    agent.collector.restart(fresh)
    torch.manual_seed(fresh)


def check_module_shapes(module: nn.Module, state: dict[str, torch.Tensor], what: str, path: str | Path) -> None:
    """A one-line CheckpointError naming the first tensor of `state` that does not fit `module`."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [(k, tuple(state[k].shape), tuple(v.shape)) for k, v in own.items() if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        if wrong:
            k, theirs, ours = wrong[0]
            detail = f"{k} is {theirs} in the file but {ours} here"
        else:
            detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise CheckpointError(f"{str(path)!r} holds a {what} of another shape ({detail}): was it written for another env or policy?")


def restore_training_state(payload: dict[str, Any], agent: Any, path: str | Path = CHECKPOINT, rank: int = 0) -> str:
    """Load `payload` (this rank's part) into a freshly built `agent` and its env. Returns how far the
    envs continue: "full" or "rng" (exactly where they stopped) or "none" (reseeded, see `reseed`)."""
    state = payload["agent"]
    check_module_shapes(agent.policy, state["policy"], "policy", path)
    if agent.value_fn is not None:
        if "value_fn" not in state:
            raise CheckpointError(f"checkpoint {str(path)!r} has no value function, but this run's baseline needs one")
        check_module_shapes(agent.value_fn, state["value_fn"], "value function", path)
    try:
        agent.load_state_dict(state)
        level = agent.env.load_state_dict(payload.get("env"))
    except (ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit this run: {err}") from None
    collector, saved = agent.collector, payload.get("collector")
    # Envs continue exactly when their whole state came back, or only their RNG but every rollout resets.
    exact = saved is not None and saved["obs"] is not None and (level == "full" or (level == "rng" and collector.reset_each_epoch))
    try:
        restore_rng(payload["rng"])
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError) as err:
        raise CheckpointError(f"checkpoint {str(path)!r} holds a damaged RNG state ({type(err).__name__}: {err})") from None
    if exact:
        collector.load_state_dict(saved)
        return level
    reseed(agent, int(payload["config"]["seed"]), rank)
    return "none"


def load_module_state(module: nn.Module, state: dict[str, torch.Tensor], what: str, path: str | Path) -> None:
    """`module.load_state_dict(state)` with a one-line error naming the first mismatching tensor."""
    check_module_shapes(module, state, what, path)
    module.load_state_dict(state)


def config_differences(saved: dict[str, Any], cfg: Config,
                       ignore: tuple[str, ...] = ("epochs", "stop_at_return")) -> list[str]:
    """Names of the Config fields on which a checkpoint's saved config and `cfg` disagree (by default not counting
    how long the run trains: `--resume --epochs N` and `--stop-at-threshold R` change those)."""
    diffs = []
    for f in dataclasses.fields(Config):
        if f.name in ignore:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        theirs, ours = saved.get(f.name, default), getattr(cfg, f.name)
        if isinstance(theirs, list):
            theirs = tuple(theirs)
        if theirs != ours:
            diffs.append(f.name)
    return diffs


def check_matches_config(payload: dict[str, Any], cfg: Config, path: str | Path) -> None:
    """Refuse a checkpoint written for another env or with other settings than `cfg`."""
    saved = payload["config"]
    diffs = config_differences(saved, cfg)
    if "env_id" in diffs:
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written for env {saved.get('env_id')!r}, but this run's config is for {cfg.env_id!r}"
        )
    if diffs:
        shown = ", ".join(f"{k}: {saved.get(k)!r} in the checkpoint, {getattr(cfg, k)!r} in config.toml" for k in diffs[:3])
        raise CheckpointError(f"checkpoint {str(path)!r} does not match this run's config ({shown})")
