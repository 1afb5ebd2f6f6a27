"""The command line's argument parsers: one per command, no abbreviations, one-line errors.

Only the schema and the presets are imported here (no torch), so `reinforce --help` stays fast.
"""
from __future__ import annotations

import argparse
import difflib
import textwrap
from pathlib import Path
from typing import NoReturn

from reinforce import __version__
from reinforce import config as config_mod
from reinforce import presets
from reinforce.cliflags import add_config_flags
from reinforce.tuneparse import add_tune_parser


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line and a pointer to --help, not the usage dump."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)  # `--epoch 3` must not silently mean --epochs
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"reinforce: error: {message} (see {self.prog} --help)\n")


def unrecognized(parser: argparse.ArgumentParser, extra: list[str]) -> str:
    """The message for arguments `parser` does not know, with the nearest flag when one is close."""
    options = [o for o in parser._option_string_actions if o.startswith("--")]
    flags = [e.split("=", 1)[0] for e in extra if e.startswith("--")]
    close = [m for f in flags for m in difflib.get_close_matches(f, options, n=1, cutoff=0.8)]
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"unrecognized arguments: {' '.join(extra)}{hint}"


def _train_epilog() -> str:
    width = max(len(name) for name in presets.PRESETS)
    listed = "\n".join(f"  {name.ljust(width)}  {cfg.env_id}" for name, cfg in sorted(presets.PRESETS.items()))
    return f"""\
presets (`reinforce presets` shows their settings):
{listed}
  without --preset, --env ID trains with the defaults for any env:
{textwrap.fill(presets.describe(presets.defaults_for_env("ID")), 76, initial_indent="    ", subsequent_indent="    ")}

examples:
  reinforce train --preset cartpole                          # -> runs/cartpole-seed0/
  reinforce train --env Pendulum-v1 --seed 1                 # -> runs/Pendulum-v1-seed1/
  reinforce train --preset swingup --epochs 5 lr=0.02 --out runs/su
  reinforce train --config examples/run.toml --out runs/from-file
  reinforce train --resume runs/cartpole-seed0 --epochs 200  # continue, up to 200 epochs in all
"""


def _train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train a policy and write a run folder",
        description="Train from a preset or a TOML config file; flags and KEY=VALUE arguments\noverride single settings.",
        epilog=_train_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    start = p.add_argument_group("what to run")
    start.add_argument("--preset", choices=sorted(presets.PRESETS), metavar="NAME",
                       help="starting configuration (listed below; default cartpole, or the defaults for any env with --env)")
    start.add_argument("--config", type=Path, metavar="TOML", help="starting configuration from a file (e.g. RUN/config.toml)")
    start.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue an interrupted run (or a folder of seed runs)")
    start.add_argument("--seeds", metavar="LIST", help="several seeds in parallel processes, e.g. 0-4 or 0,3,7")
    start.add_argument("--jobs", type=int, help="parallel processes for --seeds (default: number of cores)")
    start.add_argument("--nproc", type=int, metavar="N", help="data-parallel training in N processes on this machine (runs torchrun)")
    start.add_argument("--max-restarts", type=int, default=0, metavar="K",
                       help="with --nproc: after a failure, restart all processes from the last checkpoint, up to K times")
    start.add_argument("--stop-at-threshold", nargs="?", const="env", metavar="RETURN",
                       help="end early once the last >= 20 finished episodes average RETURN (default: the env's registered "
                            "reward_threshold, e.g. 475 for CartPole-v1)")
    out = p.add_argument_group("output")
    out.add_argument("--out", type=Path,
                     help="run folder (default runs/<preset or env>-seed<seed>, or a fresh -2, -3 ... sibling if that holds a run; "
                          "with --seeds the parent folder)")
    out.add_argument("--force", "--overwrite", dest="force", action="store_true",
                     help="train into an --out folder that holds an earlier run, replacing its files")
    out.add_argument("--checkpoint-every", type=int, metavar="K", help="write a checkpoint every K epochs (default 10)")
    out.add_argument("--no-tensorboard", dest="tensorboard", action="store_false", help="do not write TensorBoard event files")
    out.add_argument("--quiet", action="store_true", help="no progress bar, notes or warnings: print only the final summary line")
    out.add_argument("--no-plot", dest="plot", action="store_false", help="do not draw curve.png")
    out.add_argument("--eval-every", type=int, metavar="K",
                     help="every K epochs, play fresh episodes on a separate env: eval/return_mean ... in the logs, "
                          "the best policy kept as RUN/best.pt (score in best.pt.json)")
    out.add_argument("--eval-episodes", type=int, default=10, metavar="N", help="episodes per evaluation (default 10)")
    out.add_argument("--wandb", nargs="?", const="reinforce", metavar="PROJECT",
                     help="also log to Weights & Biases (project default reinforce; needs reinforce[wandb]; "
                          "WANDB_MODE=offline needs no account)")
    add_config_flags(p)
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, values read as TOML (hidden_sizes=[32,32])")


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="return and length statistics of a run's policy on fresh episodes",
                       description="Play fresh episodes with a run's newest weights and print return and length statistics.")
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="a run folder written by reinforce train, or a checkpoint "
                   "file in one (RUN/best.pt: the best policy of --eval-every)")
    p.add_argument("--episodes", type=int, default=100, help="episodes to play (default 100)")
    p.add_argument("--deterministic", action="store_true", help="take the most likely action instead of sampling")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--seed", type=int, help="env and sampling seed (default: the run's seed + 1000)")
    p.add_argument("--num-envs", type=int, help="parallel envs (default min(episodes, 16))")
    p.add_argument("--device", default="cpu", help="torch device for the policy: cpu, cuda, cuda:N or mps (default cpu)")
    p.add_argument("--backend", choices=config_mod.BACKENDS, help="vector env backend (default: the run's); sync = Gymnasium's own env")


def _record_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("record", help="render a run's policy to a GIF or MP4",
                       description="Render episodes of a run's policy to an animated GIF or an MP4 video.")
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="a run folder written by reinforce train")
    p.add_argument("--out", type=Path, required=True, help="policy.gif or policy.mp4 (MP4 needs reinforce[video])")
    p.add_argument("--episodes", type=int, default=1, help="episodes to record, one after the other (default 1)")
    p.add_argument("--deterministic", action="store_true", help="take the most likely action instead of sampling")
    p.add_argument("--seed", type=int, help="env and sampling seed (default: the run's seed + 1000)")
    p.add_argument("--max-steps", type=int, help="cut each episode after this many steps")
    p.add_argument("--fps", type=float, help="frames per second (default: the env's render_fps)")


def _export_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write a run's policy as ONNX or TorchScript for serving without reinforce",
                       description="Write a run's policy, with its frozen observation normaliser, as ONNX (onnxruntime) or "
                                   "TorchScript: observations (N, *obs_shape) in; the deterministic action and the "
                                   "distribution's parameters (logits, or mean and log std) out.")
    p.add_argument("run", type=Path, metavar="RUN_DIR", help="a run folder written by reinforce train (or a file from agent.save)")
    p.add_argument("--format", choices=["onnx", "torchscript"], default="onnx", help="onnx (default; needs reinforce[export]) or torchscript")
    p.add_argument("--out", type=Path, help="output file (default RUN_DIR/policy.onnx or RUN_DIR/policy.ts)")


def _plot_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plot", help="plot the learning curve of run folders and write a summary table",
                       description="Plot the mean return of run folders (a band over seeds) and write a summary table beside the PNG.")
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR",
                   help="run folders; several seeds give their mean and a 95%% t-interval of it")
    p.add_argument("--out", type=Path, help="PNG path (default: curve.png of a single run, else curves.png in the runs' common folder)")
    p.add_argument("--x", default="epoch", choices=["epoch", "steps", "wall_s", "time/env_steps", "time/wall_s"],
                   help="x axis: epoch (default), env steps or wall-clock seconds")
    p.add_argument("--threshold", type=float, help="return for 'epochs to threshold' (default: the env's reward_threshold)")


def _bootstrap_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples for the 95%% intervals (default 2000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resampling (default 0)")


_SCORE_HELP = """\
final score of a run: the mean return of RUN/eval_<N>.json, written by
  reinforce evaluate RUN --episodes N --json > RUN/eval_N.json
when every run has one, else the mean return of the training episodes that finished in
its last epoch with any (metrics.csv). An eval_<N>.json counts only while its trained_epochs
is the run's epoch count (a note names one left from before a --resume), and a note names
the env steps of runs whose lengths differ by more than 1%.
IQM: the interquartile mean, the mean of the middle half of the scores: robust to one
outlying seed yet using more runs than the median. Its 95% interval comes from a
stratified bootstrap: the runs are resampled with replacement, the percentiles of the
IQMs taken (Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice").
"""


def _summary_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="seeds, mean and IQM with a 95%% bootstrap interval of groups of runs",
                       description="Per group of runs: the number of seeds, the mean and the IQM of their final scores,\n"
                                   "with a 95% stratified-bootstrap interval of the IQM.",
                       epilog=_SCORE_HELP + "\nexamples:\n  reinforce summary runs/cartpole runs/cartpole-gae\n"
                              "  reinforce summary runs/cartpole-seed0 runs/cartpole-seed1 --json\n",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR",
                   help="a group each: a run folder, or a folder of seed runs (ROOT/seed<k>, as train --seeds writes)")
    _bootstrap_flags(p)


def _compare_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="probability that runs A beat runs B, IQMs with 95%% intervals, performance profiles",
                       description="Compare the final scores of two groups of runs of one env: P(A > B), the chance\n"
                                   "that a random run of A ends above a random run of B (ties count half), and\n"
                                   "each side's IQM, all with 95% stratified-bootstrap intervals.",
                       epilog=_SCORE_HELP + "\nexamples:\n  reinforce compare runs/cartpole-gae --vs runs/cartpole\n"
                              "  reinforce compare runs/a/seed0 runs/a/seed1 --vs runs/b/seed* --out profiles.png\n",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", nargs="+", type=Path, metavar="A", help="side A: run folders or folders of seed runs")
    p.add_argument("--vs", nargs="+", type=Path, required=True, metavar="B", help="side B: run folders or folders of seed runs")
    p.add_argument("--out", type=Path, metavar="PNG",
                   help="draw both performance profiles (fraction of runs above each return, with a bootstrap band)")
    _bootstrap_flags(p)


def _presets_parser(sub: argparse._SubParsersAction) -> None:
    sub.add_parser("presets", help="list the presets with their env and key settings",
                   description="List every preset (reinforce train --preset NAME) with its env and key settings.")


def parser() -> argparse.ArgumentParser:
    p = Parser(prog="reinforce", description="REINFORCE policy gradients on Gymnasium.",
               epilog="`reinforce COMMAND --help` lists a command's options.")
    p.add_argument("--version", action="version", version=f"reinforce {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do")
    _train_parser(sub)
    _evaluate_parser(sub)
    _record_parser(sub)
    _export_parser(sub)
    _plot_parser(sub)
    _summary_parser(sub)
    _compare_parser(sub)
    _presets_parser(sub)
    add_tune_parser(sub)
    return p


def subparser(p: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    """The parser of `command` (its errors point to `reinforce COMMAND --help`)."""
    return next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
