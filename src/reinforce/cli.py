"""Command line: `reinforce train ...` and `reinforce plot RUN_DIR ...`."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from reinforce import config as config_mod

# Errors a user can cause with their input: reported in one line, never as a traceback.
USER_ERRORS = (ValueError, TypeError, KeyError, FileExistsError, FileNotFoundError, FloatingPointError)


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a policy and write a run folder")
    p.add_argument("--preset", choices=sorted(config_mod.PRESETS), default="cartpole", help="starting configuration")
    p.add_argument("--env", dest="env_id", help="Gymnasium env id (overrides the preset's)")
    p.add_argument("--seed", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--num-envs", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--gamma", type=float)
    p.add_argument("--steps-per-rollout", type=int)
    p.add_argument("--backend", choices=["auto", "native", "sync", "async"])
    p.add_argument("--device", help="cpu or cuda")
    p.add_argument("--out", type=Path, help="run folder (default runs/<preset>-seed<seed>)")
    p.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    p.add_argument("--quiet", action="store_true", help="print only the final summary line")


def _plot_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="plot the learning curve of one or more run folders")
    p.add_argument("runs", nargs="+", type=Path, help="run folders; several seeds give a mean and a band")
    p.add_argument("--out", type=Path, help="PNG path (default: curve.png in the first run folder)")
    p.add_argument("--x", default="epoch", choices=["epoch", "time/env_steps", "time/wall_s"])


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reinforce", description="REINFORCE policy gradients on Gymnasium.")
    sub = p.add_subparsers(dest="command", required=True)
    _train_parser(sub)
    _plot_parser(sub)
    return p


def cmd_train(args: argparse.Namespace) -> int:
    from reinforce.trainer import train

    cfg = config_mod.preset(args.preset)
    overrides = {
        k: getattr(args, k)
        for k in ("env_id", "seed", "epochs", "num_envs", "lr", "gamma", "steps_per_rollout", "backend", "device")
        if getattr(args, k) is not None
    }
    cfg = cfg.replace(**overrides)
    out = args.out or Path("runs") / f"{args.preset}-seed{cfg.seed}"
    train(cfg, out, quiet=args.quiet, force=args.force)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from reinforce.plotting import plot_runs

    out = plot_runs(args.runs, args.out or args.runs[0] / "curve.png", x=args.x)
    print(f"wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return {"train": cmd_train, "plot": cmd_plot}[args.command](args)
    except USER_ERRORS as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"reinforce: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reinforce: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
