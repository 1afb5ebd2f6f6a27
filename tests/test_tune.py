"""reinforce tune: a tiny CartPole study end to end, resuming after an interruption, pruning, and the
search-space file's errors. Each trial here is 3 epochs of 4 envs x 100 steps (a fraction of a second)."""
import csv
import importlib
import sys
from pathlib import Path

import optuna
import pytest

from reinforce import config as config_mod
from reinforce.api import train
from reinforce.cli import main
from reinforce.presets import preset
from reinforce.tune import ReportReturn, TrialFailed, finished, suggest, tune
from reinforce.tune_space import check_space, default_space, load_space, parse_space
from reinforce.tunecmd import tune_seeds

TINY = ["--preset", "cartpole", "--epochs", "3", "--num-envs", "4", "--steps-per-rollout", "100", "--eval-episodes", "3"]
SPACE = 'lr = {low = 0.01, high = 1.0, log = true}\nhidden_sizes = {choices = [[], [8]]}\n'


def run_tune(*argv: str) -> int:
    """The command line as a user types it: reinforce tune ARGV."""
    return main(["tune", *argv])


def read_trials(out: Path) -> list[dict]:
    with open(out / "trials.csv") as f:
        return list(csv.DictReader(f))


def test_tiny_study_writes_a_best_config_that_trains(tmp_path, capsys):
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    out = tmp_path / "study"
    assert run_tune(*TINY, "--trials", "3", "--seeds", "2", "--space", str(space), "--out", str(out), "--quiet") == 0
    assert "best" in capsys.readouterr().out
    assert (out / "tune.db").is_file()
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE"] * 3
    assert all(len(eval(r["seed_returns"])) == 2 for r in rows)  # both seeds scored
    study = optuna.load_study(study_name="cartpole", storage=f"sqlite:///{out / 'tune.db'}")
    best = study.best_trial
    assert best.value == max(float(r["value"]) for r in rows)
    base = preset("cartpole").replace(epochs=3, num_envs=4, steps_per_rollout=100)
    sizes = tuple(eval(best.params["hidden_sizes"]))
    expected = base.replace(lr=best.params["lr"], hidden_sizes=sizes)
    assert config_mod.load(out / "best.toml") == expected
    run = train(out / "best.toml", tmp_path / "run", epochs=1, tensorboard=False)
    assert config_mod.load(run).lr == best.params["lr"]


def test_interrupted_study_resumes_keeping_finished_trials(tmp_path, monkeypatch, capsys):
    out = tmp_path / "study"
    args = [*TINY, "--seeds", "1", "--out", str(out), "--quiet"]
    assert run_tune(*args, "--trials", "2") == 0
    before = {r["number"]: r["value"] for r in read_trials(out)}
    original = ReportReturn.on_update_end

    def interrupt(self, metrics):  # Ctrl-C in the middle of trial 2's training
        if self.trial.number == 2 and metrics["epoch"] == 1:
            raise KeyboardInterrupt
        return original(self, metrics)

    monkeypatch.setattr(ReportReturn, "on_update_end", interrupt)
    assert run_tune(*args, "--trials", "4") == 130
    rows = read_trials(out)
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE", "FAIL", "WAITING"]  # its settings queued again
    monkeypatch.setattr(ReportReturn, "on_update_end", original)

    # a process killed while it retried those settings leaves trial 3 RUNNING: the next run marks it failed
    # and queues its settings again
    study = optuna.load_study(study_name="cartpole", storage=f"sqlite:///{out / 'tune.db'}")
    killed = study.ask()
    for p in default_space(preset("cartpole")).values():
        suggest(killed, p)  # the queued settings, as a trial starting would take them
    assert killed.number == 3 and killed.params == study.trials[2].params
    assert run_tune(*args, "--trials", "4") == 0
    rows = read_trials(out)
    assert {r["number"]: r["value"] for r in rows if r["number"] in before} == before
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE", "FAIL", "FAIL", "COMPLETE", "COMPLETE"]
    trials = study.get_trials()
    assert trials[4].user_attrs["retry_of"] == 3 and trials[4].params == trials[2].params
    completed = [t.params["lr"] for t in trials if t.state.name == "COMPLETE"]
    assert len(set(completed)) == 4  # the restarted sampler did not replay the first run's draws
    capsys.readouterr()
    assert run_tune(*args, "--trials", "5", "--epochs", "4") == 2
    assert "started with another base config (epochs 3 -> 4)" in capsys.readouterr().err


def test_pruned_trials_stop_early_and_count_as_finished(tmp_path):
    base = preset("cartpole").replace(epochs=3, num_envs=4, steps_per_rollout=100)
    pruner = optuna.pruners.ThresholdPruner(lower=1e6)  # every curve is below: the first report prunes
    study = tune(base, 2, tmp_path, space=parse_space({"lr": {"low": 0.01, "high": 1.0}}), eval_episodes=2, pruner=pruner)
    assert [t.state.name for t in study.trials] == ["PRUNED", "PRUNED"] and finished(study) == 2
    assert all(max(t.intermediate_values) == 0 for t in study.trials)  # stopped after the first epoch
    rows = read_trials(tmp_path)
    assert [(r["state"], r["value"], r["pruned_at_epoch"]) for r in rows] == [("PRUNED", "", "0")] * 2
    assert not (tmp_path / "best.toml").exists()  # nothing completed, so no best config


def test_a_trial_stops_at_the_base_configs_stop_at_return_as_train_does(tmp_path):
    base = preset("cartpole").replace(epochs=6, num_envs=4, steps_per_rollout=100, stop_at_return=1.0)
    space = parse_space({"lr": {"low": 0.01, "high": 0.1}})
    study = tune(base, 1, tmp_path / "stop", space=space, eval_episodes=2, pruner=optuna.pruners.NopPruner())
    trial = study.trials[0]
    assert trial.state.name == "COMPLETE" and trial.value > 0  # scored on what it trained
    assert max(trial.intermediate_values) < 5  # 20 episodes of return >= 1 come long before the 6th epoch
    full = tune(base.replace(stop_at_return=None), 1, tmp_path / "full", space=space, eval_episodes=2,
                pruner=optuna.pruners.NopPruner())
    assert max(full.trials[0].intermediate_values) == 5  # without it every epoch runs


def test_median_pruning_stops_a_lagging_curve():
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=1))
    good = study.ask()
    for epoch in range(3):
        good.report(100.0, epoch)
    study.tell(good, 100.0)
    cb = ReportReturn(study.ask())
    assert cb.on_update_end({"epoch": 0, "rollout/ep_return_mean": 10.0}) is None  # warm-up: never pruned
    assert cb.on_update_end({"epoch": 1, "rollout/ep_return_mean": float("nan")}) is None  # no episode: no report
    assert cb.on_update_end({"epoch": 1, "rollout/ep_return_mean": 10.0}) is False and cb.pruned_at == 1


def test_diverging_trial_fails_without_stopping_the_study(tmp_path, monkeypatch):
    calls = []

    def diverge(cfg, *args):
        calls.append(cfg.lr)
        if len(calls) == 1:
            raise FloatingPointError("loss is nan")
        return 1.0

    monkeypatch.setattr("reinforce.tune.train_and_score", diverge)
    base = preset("cartpole").replace(epochs=3)
    study = tune(base, 2, tmp_path, space=parse_space({"lr": {"low": 0.01, "high": 1.0}}))
    assert [t.state.name for t in study.trials] == ["FAIL", "COMPLETE", "COMPLETE"]
    assert study.trials[0].user_attrs["error"] == "loss is nan"
    assert issubclass(TrialFailed, Exception)


@pytest.mark.parametrize("text, message", [
    ("lrr = {low = 0.1, high = 1.0}", "'lrr' is not a Config field"),
    ("lr = 0.1", "'lr' must be a table {low = A, high = B}"),
    ("lr = {low = 1.0, high = 0.1}", "'lr': low must be below high"),
    ("lr = {low = 0.0, high = 0.1, log = true}", "a log range needs low > 0"),
    ("lr = {lo = 0.0, high = 0.1}", "'lr': unknown entry 'lo'"),
    ("lr = {high = 0.1}", "'lr' needs both low and high"),
    ("num_envs = {low = 1.5, high = 8}", "'num_envs' is an int field"),
    ("baseline = {low = 0, high = 1}", "'baseline' is a str field: give choices"),
    ("hidden_sizes = {choices = []}", "choices must be a non-empty list"),
    ("seed = {low = 0, high = 9}", "'seed' cannot be searched: the seeds are set with --seeds"),
    ("gamma = {low = 0.9, high = 1.5}", "'gamma': 1.5 is not accepted: gamma must be in [0, 1]"),
    ("hidden_sizes = {choices = [[64], \"big\"]}", "'hidden_sizes': 'big' is not accepted"),
    ("lr = {low = 0.01", "is not valid TOML"),
    ("", "the search space is empty"),
])
def test_space_errors_are_one_clear_line(tmp_path, text, message):
    path = tmp_path / "space.toml"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        check_space(load_space(path), preset("cartpole"))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_default_space_follows_the_policy_family():
    assert set(default_space(preset("cartpole"))) == {"lr", "gamma", "entropy_coef"}  # linear: stays linear
    space = default_space(preset("acrobot-gae"))
    assert {"hidden_sizes", "gae_lambda", "value_lr"} <= set(space)
    assert space["lr"].low == pytest.approx(3e-4) and space["lr"].log
    check_space(load_space(Path(__file__).parents[1] / "examples" / "tune_space.toml"), preset("cartpole-v1-gae"))


def test_objective_aggregates_the_seeds(tmp_path, monkeypatch):
    scores = {0: 0.0, 1: 10.0, 2: 11.0, 3: 100.0}
    monkeypatch.setattr("reinforce.tune.train_and_score", lambda cfg, *args: scores[cfg.seed])
    space = parse_space({"lr": {"low": 0.01, "high": 1.0}})
    for objective, expected in (("mean", 30.25), ("iqm", 10.5)):  # IQM: the middle two of four
        study = tune(preset("cartpole"), 1, tmp_path / objective, space=space, seeds=[0, 1, 2, 3], objective=objective)
        assert study.best_value == expected and study.best_trial.user_attrs["seed_returns"] == list(scores.values())


def test_seeds_objective_and_missing_optuna(monkeypatch):
    assert tune_seeds(None, 5) == [5] and tune_seeds("3", 5) == [5, 6, 7] and tune_seeds("0,4", 5) == [0, 4]
    with pytest.raises(ValueError, match="objective must be one of mean, iqm"):
        tune(preset("cartpole"), 1, "unused", objective="median")
    monkeypatch.setitem(sys.modules, "optuna", None)
    monkeypatch.delitem(sys.modules, "reinforce.tune")
    with pytest.raises(ImportError, match=r"pip install 'reinforce\[tune\]'"):
        importlib.import_module("reinforce.tune")


def test_a_study_is_continued_only_with_the_same_scoring(tmp_path, capsys):
    out = tmp_path / "study"
    args = [*TINY, "--trials", "1", "--seeds", "1", "--out", str(out), "--quiet"]
    assert run_tune(*args) == 0
    capsys.readouterr()
    assert run_tune(*args, "--objective", "iqm") == 2
    err = capsys.readouterr().err
    assert "was started scoring seeds [0], mean of 3 sampled episodes, not seeds [0], iqm of 3" in err
