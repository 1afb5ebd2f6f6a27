"""`reinforce train`'s run options beside the config: --stop-at-threshold, --eval-every, --wandb.

They become the trainer's callbacks in the process that trains (`callbacks_for`) and flags for each
seed's process under `--seeds` (`child_flags`). The callbacks' modules (torch) are imported inside `callbacks_for`:
this module is imported by the CLI, whose --help must not load torch.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from reinforce.envs.plugins import reward_threshold
from reinforce.run.folder import BEST


def stop_at(args: argparse.Namespace, env_id: str) -> float | None:
    """The return `--stop-at-threshold` asks for: its number, or the env's registered reward_threshold."""
    given = args.stop_at_threshold
    if given is None:
        return None
    if given != "env":
        try:
            value = float(given)
        except ValueError:
            value = float("nan")
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"--stop-at-threshold takes a finite return (e.g. 475) or nothing (the env's own), got {given!r}")
        return value
    value = reward_threshold(env_id)
    if value is None:
        raise ValueError(f"{env_id} registers no reward_threshold; give the return to stop at, e.g. --stop-at-threshold 200")
    return float(value)


def child_flags(args: argparse.Namespace, stop_at: float | None) -> list[str]:
    """The run options each seed's process gets (`--seeds`): stopping, evaluation, W&B."""
    flags = [] if stop_at is None else ["--stop-at-threshold", repr(stop_at)]
    if args.eval_every is not None:
        flags += ["--eval-every", str(args.eval_every), "--eval-episodes", str(args.eval_episodes)]
    return flags + ([] if args.wandb is None else ["--wandb", args.wandb])


def callbacks_for(args: argparse.Namespace, out: Path) -> list:
    """--eval-every and --wandb as the trainer's callbacks."""
    callbacks: list = []
    if args.eval_every is not None:
        from reinforce.tools.eval_callback import EvalCallback

        callbacks.append(EvalCallback(args.eval_every, args.eval_episodes, best_path=Path(out) / BEST))
    if args.wandb is not None:
        from reinforce.tools.wandb_logger import WandbCallback

        callbacks.append(WandbCallback(args.wandb, name=Path(out).name, run_dir=out, quiet=args.quiet))
    return callbacks
