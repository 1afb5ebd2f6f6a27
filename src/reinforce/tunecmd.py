"""`reinforce tune`: the command's body (its parser is tuneparse.py, its engine tune.py)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import optuna

from reinforce import presets
from reinforce.checks import require_int
from reinforce.cliflags import config_changes, resolve_config
from reinforce.config import Config
from reinforce.tools.seeds import parse_seeds
from reinforce.tune import BEST, DATABASE, TRIALS_CSV, finished, tune
from reinforce.tune_space import default_space, load_space


def tune_seeds(text: str | None, base_seed: int) -> list[int]:
    """--seeds: None -> [base_seed]; a count "3" -> base_seed .. base_seed + 2; a list "0-2" or "0,5" -> those."""
    if text is None:
        return [base_seed]
    if text.strip().isdigit():
        return list(range(base_seed, base_seed + require_int("--seeds", int(text), 1)))
    return parse_seeds(text)


def study_name(args: argparse.Namespace, cfg: Config) -> str:
    """The preset's name (with the env when another was chosen), the config file's, or the env's."""
    env_name = cfg.env_id.split("/")[-1]
    if args.config:
        path = Path(args.config)
        return path.parent.name if path.name == "config.toml" else path.stem
    if not args.preset and "env_id" in config_changes(args):
        return env_name
    name = args.preset or "cartpole"
    return name if presets.PRESETS[name].env_id == cfg.env_id else f"{name}-{env_name}"


def cmd_tune(args: argparse.Namespace) -> int:
    base = resolve_config(args)
    require_int("--trials", args.trials, 1)
    require_int("--eval-episodes", args.eval_episodes, 1)
    seeds = tune_seeds(args.seeds, base.seed)
    name = args.study_name or study_name(args, base)
    out = args.out or Path("runs") / f"tune-{name}"
    storage = args.study_db or f"sqlite:///{out / DATABASE}"
    space = load_space(args.space) if args.space else default_space(base)
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # one line per trial is ours; failures are in trials.csv
    if not args.quiet:
        print(f"tuning {name!r}: {args.trials} trials x {len(seeds)} seed{'s' * (len(seeds) > 1)} of {base.env_id}, "
              f"{presets.describe(base)}", flush=True)
        print("searching " + "; ".join(p.describe() for p in space.values()), flush=True)
    pruner = None if args.prune else optuna.pruners.NopPruner()
    try:
        study = tune(base, args.trials, out, space=space, seeds=seeds, objective=args.objective,
                     eval_episodes=args.eval_episodes, deterministic=args.deterministic, storage=storage,
                     study_name=name, sampler_seed=args.sampler_seed, pruner=pruner, quiet=args.quiet)
    except KeyboardInterrupt:
        print(f"reinforce: interrupted; the finished trials are saved in {storage}; the same command continues the "
              "study", file=sys.stderr, flush=True)
        return 130
    done = finished(study)
    if not any(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials):
        print(f"study {name!r}: {done} of {args.trials} trials finished, none completed (see {out / TRIALS_CSV})")
        return 0
    best = study.best_trial
    params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in best.params.items())
    print(f"study {name!r}: {done} of {args.trials} trials finished; best {best.value:.2f} (trial {best.number}: {params})")
    print(f"wrote {out / BEST} and {out / TRIALS_CSV}; train it with: reinforce train --config {out / BEST}")
    return 0
