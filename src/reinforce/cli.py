"""Command line: `reinforce train | evaluate | record | export | plot | summary | compare | presets | tune` (parsers in
cliparse.py, tuneparse.py).

    reinforce train --preset cartpole                       # one run -> runs/cartpole-seed0/
    reinforce train --config run.toml lr=0.05 epochs=50     # a config file plus KEY=VALUE overrides
    reinforce train --preset cartpole --seeds 0-4           # parallel seeds -> runs/cartpole/seed0 ...
    reinforce train --resume runs/cartpole-seed0            # continue from the checkpoint
    reinforce evaluate runs/cartpole-seed0 --episodes 100 --json
    reinforce record runs/cartpole-seed0 --out policy.gif
    reinforce plot runs/cartpole/seed* --out cartpole.png   # mean, 95% band, summary table
    reinforce summary runs/cartpole runs/cartpole-gae       # seeds, mean, IQM and its 95% bootstrap CI
    reinforce compare runs/cartpole-gae --vs runs/cartpole  # P(A > B), IQMs; --out PNG: performance profiles
    reinforce presets                                       # every preset's env and settings
    reinforce tune --preset cartpole --trials 20 --out runs/tune   # Optuna search -> runs/tune/best.toml

Exit codes: 0 done (or stopped by a signal after a checkpoint, or stdout closed early, as by `| head`),
1 a runtime failure (a full disk), 2 the user's input, 3 another rank failed, 130 a second Ctrl-C.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence

from reinforce import presets
from reinforce.cliparse import parser, subparser, unrecognized
from reinforce.clitrain import cmd_train
from reinforce.tools.seeds import KEEP_WARNINGS
from reinforce.run.folder import RunWriteError

# Errors a user can cause with their input or environment: reported in one line, never as a traceback.
USER_ERRORS = (ValueError, TypeError, KeyError, OSError, FloatingPointError, ImportError)

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


def cmd_export(args: argparse.Namespace) -> int:
    from reinforce.api import load
    from reinforce.observations import observation_spec

    agent = load(args.run, num_envs=1)
    default = args.run / ("policy.onnx" if args.format == "onnx" else "policy.ts") if args.run.is_dir() else None
    out = args.out or default
    if out is None:
        raise ValueError(f"--out FILE is needed when exporting from a file ({args.run}) rather than a run folder")
    path = agent.export(out, args.format)
    names = "action, mean, log_std" if agent.policy.action_kind == "box" else "action, logits"
    spec = observation_spec(agent.env.single_observation_space)  # the graph's input: the encoded batch's dtype
    shape = ", ".join(map(str, ("N", *spec.shape)))
    print(f"wrote {path} ({args.format}): input obs: {spec.dtype} ({shape}), outputs {names}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from reinforce.tools.compare import plot_report

    print(plot_report(args.runs, args.out, args.x, args.threshold))
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from reinforce.tools.compare import summary_report

    print(summary_report(args.runs, args.json, args.reps, args.seed))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from reinforce.tools.compare import compare_report

    print(compare_report(args.a, args.vs, args.out, args.json, args.reps, args.seed))
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    print(presets.table())
    print("\nreinforce train --preset NAME trains one; --env ID without --preset takes the last row's settings.")
    return 0


def _message(err: BaseException) -> object:
    if isinstance(err, KeyError) and err.args:
        return err.args[0]
    if isinstance(err, OSError) and err.strerror and not err.filename:
        return err.strerror
    return err


def _rank_prefix() -> str:
    """"rank 1 of 2: " in a torchrun worker of a multi-process job, else ""."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return f"rank {os.environ.get('RANK', '0')} of {world}: " if world > 1 else ""


def cmd_tune(args: argparse.Namespace) -> int:
    from reinforce.tunecmd import cmd_tune as run  # torch and optuna load for this command only

    return run(args)


COMMANDS = {"train": cmd_train, "evaluate": cmd_evaluate, "record": cmd_record, "export": cmd_export, "plot": cmd_plot,
            "summary": cmd_summary, "compare": cmd_compare, "presets": cmd_presets, "tune": cmd_tune}


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _main(argv)
        sys.stdout.flush()  # a closed pipe shows up here, not as an "Exception ignored" at exit
        return code
    except BrokenPipeError:
        return _stdout_closed()
    except SystemExit:  # --help, --version, a usage error: their output may meet a closed pipe too
        try:
            sys.stdout.flush()
        except BrokenPipeError:
            _stdout_closed()
        raise


def _stdout_closed() -> int:
    """The reader went away (`reinforce evaluate RUN | head -2`): stop quietly with exit 0, as `head`
    asked for no more; later writes go to /dev/null so the exit flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # a stdout without a file descriptor (a test's capture)
        pass
    return 0


def _main(argv: Sequence[str] | None) -> int:
    p = parser()
    args, extra = p.parse_known_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # `train --nproc N` hands them to torchrun
    # KEY=VALUE overrides may come after options: argparse leaves those over as unknown.
    if extra and args.command in ("train", "tune") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        command = subparser(p, args.command)
        command.error(unrecognized(command, extra))
    with warnings.catch_warnings():
        warnings.showwarning = _warning_line
        if getattr(args, "quiet", False):  # --quiet promises the summary line only: no notes, no warnings
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", PendingDeprecationWarning)
            if not os.environ.get(KEEP_WARNINGS):  # a seed process of a parent without --quiet keeps the others
                warnings.simplefilter("ignore")
        return _run(args)


def _warning_line(message, category, filename, lineno, file=None, line=None) -> None:
    """A warning as one line on stderr, without the source line Python would print under it."""
    print(f"reinforce: {category.__name__}: {message}", file=sys.stderr if file is None else file)


def _run(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.command](args)
    except BrokenPipeError:
        raise  # main exits quietly
    except RunWriteError as err:  # the disk failed, not the input: exit 1, the last checkpoint kept
        if not getattr(err, "raised_on_rank0", False):
            print(f"reinforce: error: {_rank_prefix()}{_message(err)}", file=sys.stderr)
        return 1
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
