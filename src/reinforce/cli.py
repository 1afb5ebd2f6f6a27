"""Command line: `reinforce train | evaluate | record | plot`.

    reinforce train --preset cartpole                       # one run -> runs/cartpole-seed0/
    reinforce train --config run.toml lr=0.05 epochs=50     # a config file plus KEY=VALUE overrides
    reinforce train --preset cartpole --seeds 0-4           # parallel seeds -> runs/cartpole/seed0 ...
    reinforce train --resume runs/cartpole-seed0            # continue from the checkpoint
    reinforce evaluate runs/cartpole-seed0 --episodes 100 --json
    reinforce record runs/cartpole-seed0 --out policy.gif
    reinforce plot runs/cartpole/seed* --out cartpole.png   # mean, 95% band, summary table
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from reinforce import config as config_mod
from reinforce import presets
from reinforce.cliflags import add_config_flags, flag_overrides

# Errors a user can cause with their input or environment: reported in one line, never as a traceback.
USER_ERRORS = (ValueError, TypeError, KeyError, OSError, FloatingPointError, ImportError)
RESUME_COMPATIBLE = {"epochs"}  # config flags that may accompany --resume


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a policy and write a run folder",
        description="Train from a preset or a TOML config file; flags and KEY=VALUE arguments override single settings.",
    )
    start = p.add_argument_group("what to run")
    start.add_argument("--preset", choices=sorted(presets.PRESETS), help="starting configuration (default cartpole)")
    start.add_argument("--config", type=Path, metavar="TOML", help="starting configuration from a file (e.g. RUN/config.toml)")
    start.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run (or a folder of seed runs)")
    start.add_argument("--seeds", metavar="LIST", help="several seeds in parallel processes, e.g. 0-4 or 0,3,7")
    start.add_argument("--jobs", type=int, help="parallel processes for --seeds (default: number of cores)")
    start.add_argument("--nproc", type=int, metavar="N", help="data-parallel training in N processes on this machine (runs torchrun)")
    start.add_argument("--max-restarts", type=int, default=0, metavar="K",
                       help="with --nproc: after a failure, restart all processes from the last checkpoint, up to K times")
    out = p.add_argument_group("output")
    out.add_argument("--out", type=Path, help="run folder (default runs/<preset>-seed<seed>; with --seeds the parent folder)")
    out.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    out.add_argument("--checkpoint-every", type=int, metavar="K", help="write a checkpoint every K epochs (default 10)")
    out.add_argument("--no-tensorboard", dest="tensorboard", action="store_false", help="do not write TensorBoard event files")
    out.add_argument("--quiet", action="store_true", help="no progress bar: print only the final summary line")
    out.add_argument("--no-plot", dest="plot", action="store_false", help="do not draw curve.png")
    add_config_flags(p)
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, values read as TOML (hidden_sizes=[32,32])")


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="return and length statistics of a run's policy on fresh episodes")
    p.add_argument("run", type=Path, metavar="RUN_DIR")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--deterministic", action="store_true", help="take the most likely action instead of sampling")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--seed", type=int, help="env and sampling seed (default: the run's seed + 1000)")
    p.add_argument("--num-envs", type=int, help="parallel envs (default min(episodes, 16))")
    p.add_argument("--device", default="cpu")
    p.add_argument("--backend", choices=config_mod.BACKENDS, help="vector env backend (default: the run's); sync = Gymnasium's own env")


def _record_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("record", help="render a run's policy to a GIF or MP4")
    p.add_argument("run", type=Path, metavar="RUN_DIR")
    p.add_argument("--out", type=Path, required=True, help="policy.gif or policy.mp4 (MP4 needs reinforce[video])")
    p.add_argument("--episodes", type=int, default=1)
    p.add_argument("--deterministic", action="store_true", help="take the most likely action instead of sampling")
    p.add_argument("--seed", type=int, help="env and sampling seed (default: the run's seed + 1000)")
    p.add_argument("--max-steps", type=int, help="cut each episode after this many steps")
    p.add_argument("--fps", type=float, help="frames per second (default: the env's render_fps)")


def _plot_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="plot the learning curve of run folders and write a summary table")
    p.add_argument("runs", nargs="+", type=Path, help="run folders; several seeds give a mean and a 95%% bootstrap band")
    p.add_argument("--out", type=Path, help="PNG path (default: curve.png in the first run folder)")
    p.add_argument("--x", default="epoch", choices=["epoch", "time/env_steps", "time/wall_s"])
    p.add_argument("--threshold", type=float, help="return for 'epochs to threshold' (default: the env's reward_threshold)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reinforce", description="REINFORCE policy gradients on Gymnasium.")
    sub = p.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _evaluate_parser(sub)
    _record_parser(sub)
    _plot_parser(sub)
    return p


# -- train ----------------------------------------------------------------------------------------
def resolve_config(args: argparse.Namespace) -> config_mod.Config:
    """Preset or --config file, then flags, then KEY=VALUE overrides (unknown keys fail with a suggestion)."""
    if args.preset and args.config:
        raise ValueError("give either --preset or --config, not both")
    cfg = config_mod.load(args.config) if args.config else presets.preset(args.preset or "cartpole")
    changes = flag_overrides(args)
    for text in args.overrides:
        key, value = config_mod.parse_override(text)
        changes[key.replace("-", "_")] = value
    return config_mod.from_dict({**cfg.to_dict(), **changes}) if changes else cfg


def _run_name(args: argparse.Namespace) -> str:
    if not args.config:
        return args.preset or "cartpole"
    path = Path(args.config).resolve()
    # RUN/config.toml (or RUN itself): name the repeat after the run folder.
    if path.is_dir():
        return f"{path.name}-repeat"
    return f"{path.parent.name}-repeat" if path.name == "config.toml" else path.stem


def cmd_train(args: argparse.Namespace) -> int:
    from reinforce.dist import launch, runtime
    from reinforce.run.trainer import DEFAULT_CHECKPOINT_EVERY, train

    for flag, value in (("--checkpoint-every", args.checkpoint_every), ("--jobs", args.jobs)):
        if value is not None and value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")

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
    cfg = resolve_config(args)
    if args.seeds is not None:
        return _train_seeds(args, cfg)
    out = args.out or Path("runs") / f"{_run_name(args)}-seed{cfg.seed}"
    train(
        cfg,
        out,
        quiet=args.quiet,
        force=args.force,
        checkpoint_every=DEFAULT_CHECKPOINT_EVERY if args.checkpoint_every is None else args.checkpoint_every,
        tensorboard=args.tensorboard,
    )
    if args.plot and runtime.is_main_process():
        _plot_run(out)
    return 0


def _plot_run(out: Path) -> None:
    """curve.png of one run folder (the CLI draws it; the trainer does not plot)."""
    from reinforce.tools.plotting import plot_runs

    if (out / "metrics.csv").exists():
        plot_runs([out], out / "curve.png")


def _resume(args: argparse.Namespace) -> int:
    from reinforce.dist import runtime
    from reinforce.run.trainer import resume
    from reinforce.tools.seeds import run_parallel, seed_dirs

    changed = set(flag_overrides(args)) - RESUME_COMPATIBLE
    if args.preset or args.config or args.seeds or args.out or args.force or args.overrides or changed:
        raise ValueError(
            "--resume continues a run with its own config.toml; only --epochs, --checkpoint-every, --jobs, --quiet, "
            "--no-plot and --no-tensorboard can go with it"
        )
    run, epochs = args.resume, flag_overrides(args).get("epochs")
    if not (run / "config.toml").exists() and seed_dirs(run):
        dirs = seed_dirs(run)
        codes, stopped = run_parallel(dirs, args.jobs, args.checkpoint_every, args.tensorboard, epochs)
        return _finish_seeds(run, dirs, codes, stopped)
    resume(run, args.quiet, args.checkpoint_every, epochs, args.tensorboard)
    if args.plot and runtime.is_main_process():
        _plot_run(run)
    return 0


def _train_seeds(args: argparse.Namespace, cfg: config_mod.Config) -> int:
    from reinforce.tools.seeds import parse_seeds, prepare_seeds, run_parallel

    if "seed" in flag_overrides(args) or any(o.split("=", 1)[0].strip() == "seed" for o in args.overrides):
        raise ValueError("give either --seed or --seeds, not both")
    seeds = parse_seeds(args.seeds)
    root = args.out or Path("runs") / _run_name(args)
    dirs = prepare_seeds(cfg, seeds, root, force=args.force)
    print(f"training seeds {args.seeds} of {cfg.env_id} -> {root}/seed<k>", flush=True)
    codes, stopped = run_parallel(dirs, args.jobs, args.checkpoint_every, args.tensorboard)
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
    from reinforce.tools.plotting import load_runs, plot_runs
    from reinforce.tools.summary import summarize, to_markdown, write_summary

    runs = load_runs(dirs)  # each metrics.csv read once, for the plot, the table and the summary
    png = plot_runs(dirs, root / "curve.png", runs=runs)
    write_summary(runs, png)
    print(to_markdown(summarize(runs)), end="")
    print(f"wrote {png} and {png.stem}_summary.csv/.md beside it")
    return 0


# -- evaluate, record, plot ---------------------------------------------------------------------------
def cmd_evaluate(args: argparse.Namespace) -> int:
    from reinforce.tools.evaluate import evaluate_run, format_json, format_table

    result = evaluate_run(args.run, args.episodes, args.deterministic, args.seed, args.num_envs, args.device, args.backend)
    print(format_json(result) if args.json else format_table(result))
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from reinforce.tools.record import record_run

    result = record_run(args.run, args.out, args.episodes, args.deterministic, args.seed, args.max_steps, args.fps)
    returns = ", ".join(f"{r:.1f}" for r in result["episode_returns"])
    print(f"wrote {result['out']}: {result['frames']} frames at {result['fps']:g} fps, episode returns {returns}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from reinforce.tools.plotting import load_runs, plot_runs
    from reinforce.tools.summary import write_summary

    runs = load_runs(args.runs)
    out = plot_runs(args.runs, args.out or args.runs[0] / "curve.png", x=args.x, threshold=args.threshold, runs=runs)
    csv_path, md_path = write_summary(runs, out, args.threshold)
    print(f"wrote {out}, {csv_path.name} and {md_path.name}")
    return 0


def _message(err: BaseException) -> object:
    if isinstance(err, KeyError) and err.args:
        return err.args[0]
    if isinstance(err, OSError) and err.strerror and not err.filename:
        return err.strerror
    return err


def _rank_prefix() -> str:
    """"rank 1 of 2: " in a torchrun worker of a multi-process job, else ""."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    return f"rank {os.environ.get('RANK', '0')} of {world}: " if world > 1 else ""


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    args, extra = p.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `train --nproc N` hands them to torchrun
    # KEY=VALUE overrides may come after options: argparse leaves those over as unknown.
    if extra and args.command == "train" and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return {"train": cmd_train, "evaluate": cmd_evaluate, "record": cmd_record, "plot": cmd_plot}[args.command](args)
    except USER_ERRORS as err:
        # An error rank 0 hit and shared with every rank (distributed.broadcast_from_main) is printed once.
        if not getattr(err, "raised_on_rank0", False):
            print(f"reinforce: error: {_rank_prefix()}{_message(err)}", file=sys.stderr)
        return 2
    except RuntimeError as err:
        from reinforce.dist.runtime import PeerFailureError

        if not isinstance(err, PeerFailureError):
            raise
        print(f"reinforce: error: {err}", file=sys.stderr)  # another rank failed: its own error is the cause
        return 3
    except KeyboardInterrupt:
        print("reinforce: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
