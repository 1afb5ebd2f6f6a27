"""The argument parser of `reinforce tune`: train's config flags plus the study's own. No torch, no optuna."""
from __future__ import annotations

import argparse
from pathlib import Path

from reinforce import presets
from reinforce.cliflags import add_config_flags

EPILOG = """\
the search space (--space FILE.toml), one line per searched Config field:
  lr = {low = 1e-4, high = 1e-1, log = true}
  gamma = {low = 0.9, high = 0.999}
  hidden_sizes = {choices = [[32, 32], [64, 64]]}
  without --space: lr (a decade either side of the base's, log), gamma, entropy_coef, hidden_sizes for
  MLP policies, gae_lambda with baseline gae, value_lr with a value function (docs/tuning.md)

examples:
  reinforce tune --preset cartpole --epochs 30 --trials 20 --seeds 2 --out runs/tune-cartpole
  reinforce tune --preset cartpole --epochs 30 --trials 40 --seeds 2 --out runs/tune-cartpole  # 20 more
  reinforce train --config runs/tune-cartpole/best.toml
"""


def add_tune_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the `tune` command to the subcommands `sub`; returns its parser."""
    p = sub.add_parser(
        "tune",
        help="search hyperparameters with Optuna (needs reinforce[tune])",
        description="Train the base config with sampled settings on one or more seeds per trial and keep the best; "
                    "the study is saved after every trial, so the same command with a larger --trials continues it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    start = p.add_argument_group("base config (as for train)")
    start.add_argument("--preset", choices=sorted(presets.PRESETS), metavar="NAME",
                       help="starting configuration (default cartpole, or the defaults for any env with --env)")
    start.add_argument("--config", type=Path, metavar="TOML", help="starting configuration from a file (e.g. RUN/config.toml)")
    study = p.add_argument_group("study")
    study.add_argument("--trials", type=int, default=20, metavar="N",
                       help="finished (complete or pruned) trials the study should hold in all (default 20)")
    study.add_argument("--seeds", metavar="K|LIST",
                       help="seeds per trial: a count K (the config's seed and the next K-1) or a list like 0-2 or 0,5 "
                            "(default 1)")
    study.add_argument("--objective", choices=["mean", "iqm"], default="mean",
                       help="aggregate over seeds of the final evaluation return: mean (default) or iqm (interquartile mean)")
    study.add_argument("--eval-episodes", type=int, default=10, metavar="N",
                       help="fresh episodes scoring each seed's trained policy (default 10)")
    study.add_argument("--deterministic", action="store_true", help="evaluate with the most likely action instead of sampling")
    study.add_argument("--space", type=Path, metavar="TOML", help="the search space (default: see below)")
    study.add_argument("--study-db", metavar="URL", help="Optuna storage URL (default sqlite:///OUT/tune.db)")
    study.add_argument("--study-name", metavar="NAME", help="study name in the storage (default: the preset's, env's or file's name)")
    study.add_argument("--sampler-seed", type=int, default=0, metavar="S", help="seed of the TPE sampler (default 0)")
    study.add_argument("--no-prune", dest="prune", action="store_false",
                       help="no median pruning of trials whose training curve lags (on by default)")
    out = p.add_argument_group("output")
    out.add_argument("--out", type=Path, metavar="DIR",
                     help="folder for tune.db, best.toml and trials.csv (default runs/tune-<study name>)")
    out.add_argument("--quiet", action="store_true", help="print only the final summary")
    add_config_flags(p)
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, values read as TOML (hidden_sizes=[32,32])")
    return p
