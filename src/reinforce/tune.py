"""Hyperparameter search with Optuna: each trial trains the base Config with sampled settings on k seeds
and scores the trained policies on fresh episodes.

    study = tune(preset("cartpole").replace(epochs=30), trials=20, out="runs/tune-cartpole", seeds=[0, 1])

The study lives in an Optuna storage (default sqlite:///OUT/tune.db), so the same call with more trials
continues it. A trial the process did not finish (Ctrl-C, a kill) is marked failed and its settings are
queued again. After every trial OUT/best.toml (the best Config, `reinforce train --config` reads it) and
OUT/trials.csv are rewritten. The first seed's training curve goes to the pruner every epoch. A base
config's `stop_at_return` ends a trial's training early, as it ends `reinforce train`'s.
"""
from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

try:
    import optuna
    from optuna.trial import FrozenTrial, Trial, TrialState
except ImportError:  # the one optional import of this module: say which extra brings it
    raise ImportError("tuning needs optuna: pip install 'reinforce[tune]'") from None

from reinforce import config as config_mod
from reinforce.api import evaluate
from reinforce.checks import require_int
from reinforce.config import Config
from reinforce.metrics import Metrics
from reinforce.run.build import build
from reinforce.run.callbacks import Callback, StopOnReward
from reinforce.run.folder import write_text_atomic
from reinforce.tools.stats import iqm
from reinforce.tune_space import Param, apply, check_space, default_space

RETURN_KEY = "rollout/ep_return_mean"  # what the pruner sees: the mean return of the epoch's finished episodes
OBJECTIVES = ("mean", "iqm")
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
BEST, TRIALS_CSV, DATABASE = "best.toml", "trials.csv", "tune.db"
MAX_FAILURES = 10  # trials failing in a row (all diverged, say) stop the study: the space needs a look


class TrialFailed(Exception):
    """A trial whose settings do not work (training diverged, an invalid combination): the study goes on."""


def default_pruner(epochs: int) -> optuna.pruners.BasePruner:
    """Median pruning once 5 trials have finished, and only after the first third of a trial's epochs:
    early returns say little about where a setting ends up."""
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(1, epochs // 3))


class ReportReturn(Callback):
    """Reports the epoch's mean training return to the trial every `every` epochs; stops training
    (on_update_end returns False) once the pruner says so."""

    def __init__(self, trial: Trial, every: int = 1):
        self.trial, self.every = trial, require_int("every", every, 1)
        self.pruned_at: int | None = None

    def on_update_end(self, metrics: Metrics) -> bool | None:
        epoch, value = int(metrics["epoch"]), metrics.get(RETURN_KEY)
        if epoch % self.every or value is None or not math.isfinite(value):  # no finished episode: nothing to say
            return None
        self.trial.report(float(value), epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            return False
        return None


def suggest(trial: Trial, p: Param) -> Any:
    """The sampler's value for `p`, as a Config value."""
    if p.kind == "float":
        return trial.suggest_float(p.name, p.low, p.high, log=p.log, step=p.step)
    if p.kind == "int":
        return trial.suggest_int(p.name, p.low, p.high, step=p.step or 1, log=p.log)
    return p.value(trial.suggest_categorical(p.name, p.labels))


def train_and_score(cfg: Config, episodes: int, deterministic: bool, callback: Callback | None = None) -> float:
    """Train `cfg` in memory (no run folder), then the mean return of `episodes` fresh episodes. As in
    `reinforce train`, `cfg.stop_at_return` ends training early (StopOnReward); the policy is scored as it stands then."""
    env, _, agent = build(cfg)
    try:
        stop = [StopOnReward(cfg.stop_at_return)] if cfg.stop_at_return is not None else []
        agent.learn(callback=[*([callback] if callback is not None else []), *stop])
        if isinstance(callback, ReportReturn) and callback.pruned_at is not None:
            return float("nan")  # the caller raises TrialPruned; no evaluation of a stopped run
        return evaluate(agent, episodes=episodes, deterministic=deterministic)["return_mean"]
    finally:
        env.close()


class Objective:
    """One trial: sample the settings, train each seed, return the mean (or IQM) of their scores."""

    def __init__(self, base: Config, space: dict[str, Param], seeds: Sequence[int], objective: str,
                 eval_episodes: int, deterministic: bool):
        self.base, self.space, self.seeds = base, space, list(seeds)
        self.aggregate = iqm if objective == "iqm" else lambda v: float(np.mean(v))
        self.eval_episodes, self.deterministic = eval_episodes, deterministic
        self.every = max(1, base.epochs // 100)  # at most ~100 storage writes per trial

    def __call__(self, trial: Trial) -> float:
        values = {name: suggest(trial, p) for name, p in self.space.items()}
        try:
            cfg = apply(self.base, values)
        except (ValueError, TypeError) as err:  # a combination no Config allows, e.g. baseline gae with returns total
            return self.fail(trial, err)
        try:
            scores: list[float] = []
            for i, seed in enumerate(self.seeds):
                reporter = ReportReturn(trial, self.every) if i == 0 else None
                score = train_and_score(cfg.replace(seed=seed), self.eval_episodes, self.deterministic, reporter)
                if reporter is not None and reporter.pruned_at is not None:
                    raise optuna.TrialPruned(f"pruned at epoch {reporter.pruned_at}")
                scores.append(score)
                trial.set_user_attr("seed_returns", scores)
        except FloatingPointError as err:  # training diverged: a bad setting, not a broken study
            return self.fail(trial, err)
        except KeyboardInterrupt:
            # Optuna marks this trial failed; queue its settings so that the next run tries them again.
            trial.study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
            raise
        return self.aggregate(scores)

    @staticmethod
    def fail(trial: Trial, err: Exception) -> float:
        trial.set_user_attr("error", str(err))
        raise TrialFailed(str(err)) from None


def finished(study: optuna.Study) -> int:
    """COMPLETE and PRUNED trials: what --trials counts (failed ones are retried or replaced)."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def requeue_unfinished(study: optuna.Study) -> list[int]:
    """Mark trials left RUNNING by a killed process failed and queue their settings again; returns their
    numbers. One process per study at a time: another's running trial would be taken for a dead one."""
    numbers = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        study.tell(t.number, state=TrialState.FAIL)
        if t.params:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        numbers.append(t.number)
    return numbers


def check_same_setup(study: optuna.Study, base: Config, space: dict[str, Param], scoring: str = "") -> None:
    """Record the base config, the space and the scoring (seeds, objective, episodes) in a new study;
    refuse to continue one started with others, whose finished trials would not be comparable."""
    setup = {"base_config": config_mod.to_toml(base), "space": [p.describe() for p in space.values()], "scoring": scoring}
    saved = {k: study.user_attrs.get(k) for k in setup}
    if saved["scoring"] is None and saved["base_config"] is not None:  # a study from before scoring was recorded
        study.set_user_attr("scoring", scoring)
        saved["scoring"] = scoring
    if all(v is None for v in saved.values()):
        for key, value in setup.items():
            study.set_user_attr(key, value)
        return
    if saved["base_config"] != setup["base_config"]:
        old, new = config_mod.from_dict(tomllib.loads(saved["base_config"])).to_dict(), base.to_dict()
        diff = ", ".join(f"{k} {old[k]!r} -> {new[k]!r}" for k in new if old.get(k) != new[k])
        raise ValueError(f"study {study.study_name!r} was started with another base config ({diff}); "
                         "give the same settings to continue it, or another --study-name")
    if saved["space"] != setup["space"]:
        raise ValueError(f"study {study.study_name!r} was started with another search space ({'; '.join(saved['space'])}); "
                         "give the same --space to continue it, or another --study-name")
    if saved["scoring"] != setup["scoring"]:
        raise ValueError(f"study {study.study_name!r} was started scoring {saved['scoring']}, not {scoring}; "
                         "give the same --seeds, --objective, --eval-episodes and --deterministic, or another --study-name")


def best_config(study: optuna.Study, base: Config, space: dict[str, Param]) -> Config:
    """`base` with the best finished trial's settings."""
    params = study.best_trial.params
    return apply(base, {k: space[k].value(v) if k in space else v for k, v in params.items()})


def write_outputs(study: optuna.Study, base: Config, space: dict[str, Param], out: Path) -> None:
    """OUT/trials.csv (every trial) and, once a trial has completed, OUT/best.toml."""
    trials = study.get_trials(deepcopy=False)
    names = list(dict.fromkeys([*space, *(k for t in trials for k in t.params)]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["number", "state", "value", "pruned_at_epoch", "duration_s", "seed_returns", *names])
    for t in trials:
        # Optuna gives a pruned trial its last training return as value: not the objective, so left out
        value = t.value if t.state == TrialState.COMPLETE else ""
        pruned_at = max(t.intermediate_values) if t.state == TrialState.PRUNED and t.intermediate_values else ""
        duration = t.duration.total_seconds() if t.duration is not None else ""
        returns = json.dumps(t.user_attrs["seed_returns"]) if "seed_returns" in t.user_attrs else ""
        writer.writerow([t.number, t.state.name, value, pruned_at, duration, returns, *(t.params.get(n, "") for n in names)])
    write_text_atomic(out / TRIALS_CSV, buffer.getvalue())
    if any(t.state == TrialState.COMPLETE for t in trials):
        best = study.best_trial
        header = (f"# reinforce tune: the best trial ({best.number}, objective {best.value:.6g}) of study "
                  f"{study.study_name!r}\n# reinforce train --config {out / BEST}\n")
        write_text_atomic(out / BEST, header + config_mod.to_toml(best_config(study, base, space)))


class Progress:
    """After each trial: rewrite the outputs, print a line, stop once `trials` have finished (or after
    MAX_FAILURES failures in a row)."""

    def __init__(self, base: Config, space: dict[str, Param], out: Path, trials: int, quiet: bool):
        self.base, self.space, self.out, self.trials, self.quiet = base, space, out, trials, quiet
        self.failures = 0

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        write_outputs(study, self.base, self.space, self.out)
        self.failures = self.failures + 1 if trial.state == TrialState.FAIL else 0
        done = finished(study)
        if not self.quiet:
            print(self.line(study, trial, done), flush=True)
        if done >= self.trials or self.failures >= MAX_FAILURES:
            study.stop()
            if self.failures >= MAX_FAILURES:
                print(f"reinforce: {MAX_FAILURES} trials in a row failed; stopping (see {self.out / TRIALS_CSV}: "
                      "narrow the search space, e.g. a lower lr range)", file=sys.stderr, flush=True)

    def line(self, study: optuna.Study, trial: FrozenTrial, done: int) -> str:
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
        if trial.state == TrialState.COMPLETE:
            what = f"{trial.value:.2f}"
        elif trial.state == TrialState.FAIL:
            what = f"failed ({trial.user_attrs.get('error', 'see trials.csv')})"
        else:
            what = "pruned"
        completed = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
        best = f"; best {study.best_value:.2f} (trial {study.best_trial.number})" if completed else ""
        return f"trial {trial.number}: {what} [{params}]{best}; {done}/{self.trials} finished"


def tune(
    base: Config,
    trials: int,
    out: str | Path,
    *,
    space: dict[str, Param] | None = None,
    seeds: Sequence[int] | None = None,
    objective: str = "mean",
    eval_episodes: int = 10,
    deterministic: bool = False,
    storage: str | None = None,
    study_name: str | None = None,
    sampler_seed: int = 0,
    pruner: optuna.pruners.BasePruner | None = None,
    quiet: bool = True,
) -> optuna.Study:
    """Run (or continue) the study until `trials` trials have finished (COMPLETE or PRUNED); returns it.

    `space` defaults to `default_space(base)`, `seeds` to [base.seed]; the objective is the mean (or
    "iqm") over seeds of the mean return of `eval_episodes` fresh episodes after training. `storage` is
    an Optuna URL (default sqlite:///OUT/tune.db), `study_name` defaults to the env's name. `pruner`
    defaults to `default_pruner` (optuna.pruners.NopPruner() turns pruning off). Ctrl-C raises
    KeyboardInterrupt with the study and the outputs saved.
    """
    require_int("trials", trials, 1)
    require_int("eval_episodes", eval_episodes, 1)
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    seeds = [base.seed] if seeds is None else list(seeds)
    if not seeds:
        raise ValueError("give at least one seed")
    for s in seeds:
        base.replace(seed=s)  # a bad seed fails here, not in the first trial
    space = default_space(base) if space is None else space
    check_space(space, base)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    study = optuna.create_study(
        storage=storage or f"sqlite:///{out / DATABASE}",
        study_name=study_name or base.env_id.split("/")[-1],
        direction="maximize",
        load_if_exists=True,
        pruner=pruner or default_pruner(base.epochs),
    )
    scoring = f"seeds {list(seeds)}, {objective} of {eval_episodes} {'deterministic' if deterministic else 'sampled'} episodes"
    check_same_setup(study, base, space, scoring)
    # Seeded by how far the study is, so a continued study does not replay the first run's random draws.
    study.sampler = optuna.samplers.TPESampler(seed=sampler_seed + len(study.trials))
    retried = requeue_unfinished(study)
    if retried and not quiet:
        print(f"reinforce: trials {', '.join(map(str, retried))} did not finish last time; marked failed and queued again",
              file=sys.stderr, flush=True)
    progress = Progress(base, space, out, trials, quiet)
    try:
        if finished(study) < trials:
            study.optimize(Objective(base, space, seeds, objective, eval_episodes, deterministic),
                           callbacks=[progress], catch=(TrialFailed,))
    finally:
        write_outputs(study, base, space, out)
    return study


__all__ = ["TrialFailed", "best_config", "default_pruner", "finished", "tune"]
