"""`reinforce train`: one run, parallel seeds (`--seeds`), local processes (`--nproc`), a resume (`--resume`);
the plot helper started before torch is imported. `cli.py` dispatches here; the parser is in cliparse.py."""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from reinforce import config as config_mod
from reinforce import presets
from reinforce.cliflags import config_changes, flag_overrides, resolve_config
from reinforce.clirun import callbacks_for as _callbacks, child_flags as _child_flags, stop_at as _stop_at
from reinforce.run.folder import CHECKPOINT
from reinforce.tools.background_plot import BackgroundPlot

RESUME_COMPATIBLE = {"epochs"}  # config flags that may accompany --resume


def _uses_env_defaults(args: argparse.Namespace) -> bool:
    return not args.preset and not args.config and "env_id" in config_changes(args)


def _run_name(args: argparse.Namespace, cfg: config_mod.Config) -> str:
    """The default folder's name: the preset's (with the env if another was chosen), the env's, or the config file's."""
    env_name = cfg.env_id.split("/")[-1]
    if args.config:
        path = Path(args.config).resolve()
        # RUN/config.toml (or RUN itself): name the repeat after the run folder.
        if path.is_dir():
            return f"{path.name}-repeat"
        return f"{path.parent.name}-repeat" if path.name == "config.toml" else path.stem
    if _uses_env_defaults(args):
        return env_name
    name = args.preset or "cartpole"
    return name if presets.PRESETS[name].env_id == cfg.env_id else f"{name}-{env_name}"


def _default_folder(args: argparse.Namespace, base: Path) -> Path:
    """`base`, or a fresh sibling when it holds another run (the choice of rank 0, whose disk it is);
    with --force, `base` itself."""
    from reinforce.run.folder import fresh_folder

    if args.force:
        return base
    if not _under_torchrun():  # one process: no need for torch's collectives (nor its import) to decide
        out, main = fresh_folder(base), True
    else:
        from reinforce.dist import runtime

        out, main = runtime.broadcast_from_main(lambda: fresh_folder(base)), runtime.is_main_process()
    if out != base and not args.quiet and main:
        print(f"reinforce: {base} holds another run; this one goes to {out}", flush=True)
    return out


def _under_torchrun() -> bool:
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ  # reinforce.dist.runtime's test, without torch


def cmd_train(args: argparse.Namespace) -> int:
    for flag, value in (("--checkpoint-every", args.checkpoint_every), ("--jobs", args.jobs), ("--eval-every", args.eval_every),
                        ("--eval-episodes", args.eval_episodes)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if args.max_restarts and args.nproc is None and not _under_torchrun():
        raise ValueError("--max-restarts restarts the processes of --nproc N; give --nproc too, or drop it")
    if args.jobs is not None and args.seeds is None and args.resume is None:
        raise ValueError("--jobs sets how many --seeds train at once; give --seeds too, or drop it")
    # A bad flag or config value fails here, before torch is imported (about 1-2 s).
    cfg = resolve_config(args) if args.resume is None else None
    stop_at = _stop_at(args, cfg.env_id) if cfg is not None else None
    if stop_at is not None:  # config.toml records the return this run stops at: a resume or a repeat stops there too
        cfg = cfg.replace(stop_at_return=stop_at)
    # One process, one run: its folder is known before torch is, so the plot helper loads matplotlib and pandas
    # (~0.8 s) on the other core while this process imports torch (~1.2 s), not while a short run trains.
    solo = cfg is not None and args.seeds is None and (args.nproc or 1) == 1 and not _under_torchrun()
    out = (args.out or _default_folder(args, Path("runs") / f"{_run_name(args, cfg)}-seed{cfg.seed}")) if solo else None
    helper = BackgroundPlot.start(out) if solo and args.plot else None
    try:
        return _train(args, cfg, out, helper)
    finally:
        if helper is not None:
            helper.cancel()  # a no-op once it has drawn


def _train(args: argparse.Namespace, cfg: Any, out: Path | None, helper: Any) -> int:
    from reinforce.dist import launch, runtime
    from reinforce.run.trainer import DEFAULT_CHECKPOINT_EVERY, train

    if args.nproc is not None and not runtime.launched_by_torchrun():
        if args.nproc < 1:
            raise ValueError(f"--nproc must be >= 1, got {args.nproc}")
        if args.seeds is not None:
            raise ValueError("give either --seeds (independent runs) or --nproc (one data-parallel run), not both")
        if args.nproc > 1:
            argv = launch.remove_flag(launch.remove_flag(args.argv, "--nproc"), "--max-restarts")
            return launch.launch_local(args.nproc, argv, args.max_restarts)
    if runtime.launched_by_torchrun():
        if args.seeds is not None:
            raise ValueError("--seeds starts its own processes; it cannot run under torchrun")
        runtime.init_from_env()
    if args.resume is not None:
        return _resume(args)
    env_defaults = _uses_env_defaults(args)
    if env_defaults and cfg.normalize_observations and "normalize_observations" not in config_changes(args):
        from reinforce.run.build import sees_images

        cfg = cfg.replace(normalize_observations=not sees_images(cfg))
    if env_defaults and not args.quiet and runtime.is_main_process():
        # stdout, not stderr: a start that fails (an env without support) stays one line on stderr
        print(defaults_notice(cfg, runtime.get_world_size()), flush=True)
    if args.seeds is not None:
        return _train_seeds(args, cfg)
    out = out or args.out or _default_folder(args, Path("runs") / f"{_run_name(args, cfg)}-seed{cfg.seed}")
    with _curve_plot(args, out, helper) as draw:
        train(
            cfg,
            out,
            quiet=args.quiet,
            force=args.force,
            checkpoint_every=DEFAULT_CHECKPOINT_EVERY if args.checkpoint_every is None else args.checkpoint_every,
            tensorboard=args.tensorboard,
            callbacks=_callbacks(args, out),
        )
        draw()
    return 0


@contextlib.contextmanager
def _curve_plot(args: argparse.Namespace, run: Path, helper: Any = None) -> Iterator[Callable[[], None]]:
    """Yields draw() -> run/curve.png (the CLI draws it; the trainer does not plot). The plotting stack
    loads in a helper process (`helper`, or one started here) while the body trains; if the body raises,
    the helper ends without drawing."""
    from reinforce.dist import runtime

    if not (args.plot and runtime.is_main_process()):
        yield lambda: None
        return
    helper = helper or BackgroundPlot.start(run)
    try:
        yield helper.draw
    finally:
        helper.cancel()  # a no-op once it has drawn


def _resume(args: argparse.Namespace) -> int:
    from reinforce.dist import runtime
    from reinforce.run.trainer import resume
    from reinforce.tools.seeds import run_parallel, seed_dirs

    changed = set(flag_overrides(args)) - RESUME_COMPATIBLE
    if args.preset or args.config or args.seeds or args.out or args.force or args.overrides or changed:
        raise ValueError(
            "--resume continues a run with its own config.toml; only --epochs, --checkpoint-every, --jobs, --quiet, "
            "--stop-at-threshold, --eval-every, --eval-episodes, --wandb, --no-plot and --no-tensorboard can go with it"
        )
    run, epochs = args.resume, flag_overrides(args).get("epochs")
    seeds = [] if (run / "config.toml").exists() else seed_dirs(run)  # a folder of seed runs: all of them
    if args.jobs is not None and not seeds:
        raise ValueError(f"--jobs sets how many seed runs resume at once; {str(run)!r} is a single run")
    stop_at = None
    if args.stop_at_threshold is not None:
        first = seeds[0] if seeds else run
        if not (first / "config.toml").is_file():
            raise FileNotFoundError(f"{str(run)!r} is not a run folder: it has no config.toml")
        stop_at = _stop_at(args, config_mod.load(first).env_id)
    if epochs is not None:
        runtime.broadcast_from_main(lambda: _check_not_fewer(seeds or [run], epochs))
    if seeds:
        codes, stopped = run_parallel(seeds, args.jobs, args.checkpoint_every, args.tensorboard, epochs,
                                      _child_flags(args, stop_at), keep_warnings=not args.quiet)
        return _finish_seeds(run, seeds, codes, stopped)
    with _curve_plot(args, run) as draw:
        resume(run, args.quiet, args.checkpoint_every, epochs, args.tensorboard, stop_at=stop_at, callbacks=_callbacks(args, run))
        draw()
    return 0


def defaults_notice(cfg: Any, world_size: int = 1) -> str:
    """The line `--env ID` without a preset prints: the settings it takes (and, under --nproc N, the job's N× batch)."""
    ranks = f"; {world_size} processes: {world_size}x the envs and env steps" if world_size > 1 else ""
    return (f"reinforce: no --preset given: training {cfg.env_id} with {presets.describe(cfg)}{ranks} (the defaults "
            "for any env, with your flags); see reinforce presets")


def _check_not_fewer(dirs: list[Path], epochs: int) -> None:
    """Refuse `--epochs N` below what a checkpoint has done: it would rewrite config.toml for nothing."""
    from reinforce.run.checkpoint import checkpoint_epoch

    for d in dirs:
        done = checkpoint_epoch(d / CHECKPOINT) if (d / CHECKPOINT).is_file() else None
        if done is not None and epochs < done:
            raise ValueError(
                f"{d} has already trained {done} epochs; --epochs {epochs} cannot undo them: pass --epochs {done} or "
                "more (its config.toml is unchanged)"
            )


def _train_seeds(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from reinforce.tools.seeds import parse_seeds, prepare_seeds, run_parallel

    if "seed" in flag_overrides(args) or any(o.split("=", 1)[0].strip() == "seed" for o in args.overrides):
        raise ValueError("give either --seed or --seeds, not both")
    seeds = parse_seeds(args.seeds)
    root = args.out or _default_folder(args, Path("runs") / _run_name(args, cfg))
    dirs = prepare_seeds(cfg, seeds, root, force=args.force)
    print(f"training seeds {args.seeds} of {cfg.env_id} -> {root}/seed<k>", flush=True)
    # (no --stop-at-threshold for the seeds: their configs hold stop_at_return)
    codes, stopped = run_parallel(dirs, args.jobs, args.checkpoint_every, args.tensorboard,
                                  extra_args=_child_flags(args, None), keep_warnings=not args.quiet)
    return _finish_seeds(root, dirs, codes, stopped)


def _finish_seeds(root: Path, dirs: list[Path], codes: dict, stopped: bool) -> int:
    """After parallel seeds: report failures or how to resume; when all are done, plot and summarise."""
    failed = [d for d in dirs if codes.get(d) not in (0, None)]
    for d in failed:
        print(f"reinforce: {d} failed (exit {codes[d]}); see its error above", file=sys.stderr)
    if stopped or any(codes.get(d) is None for d in dirs):
        print(f"reinforce: stopped; resume all seeds with: reinforce train --resume {root}", file=sys.stderr)
        return 0 if not failed else 2
    if failed:
        return 2
    from reinforce.tools.compare import plot_report

    print(plot_report(dirs, root / "curve.png", with_table=True))
    return 0


# -- evaluate, record, plot ---------------------------------------------------------------------------
