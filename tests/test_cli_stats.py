"""`reinforce summary`, `reinforce compare` and the IQM columns of `reinforce plot`'s table: the numbers
they print are tools/stats.py's on the runs' final scores; bad input is one line and exit 2."""
import json
import math

import numpy as np
import pandas as pd
import pytest

import reinforce
from reinforce import config as config_mod
from reinforce.cli import main
from reinforce.metrics import METRIC_NAMES
from reinforce.presets import preset
from reinforce.run.logger import MetricsWriter
from reinforce.tools import stats
from reinforce.tools.evaluate import evaluate_run
from reinforce.tools.plotting import load_runs
from reinforce.tools.summary import summarize, to_markdown

NAN = float("nan")
# final returns of fake seed runs; group b's seed 1 has no finished episode in its last epoch
GROUP_A = [[10.0, 50.0, 120.0], [5.0, 80.0, 90.0], [20.0, 60.0, 200.0], [7.0, 30.0, 45.0], [9.0, 70.0, 110.0]]
GROUP_B = [[10.0, 20.0, 30.0], [5.0, 40.0, NAN], [20.0, 25.0, 35.0], [7.0, 9.0, 11.0]]


def fake_run(folder, seed, returns, env_id="CartPole-v1"):
    """A run folder as `reinforce train` leaves it for these commands: config.toml and metrics.csv."""
    folder.mkdir(parents=True)
    config_mod.save(preset("cartpole-v1-gae").replace(seed=seed, env_id=env_id), folder / "config.toml")
    writer = MetricsWriter(folder / "metrics.csv")
    for epoch, ret in enumerate(returns):
        row = {name: 0.0 for name in METRIC_NAMES}
        row.update({"epoch": epoch, "time/env_steps": 1000 * (epoch + 1), "rollout/ep_return_mean": ret,
                    "rollout/episodes": 0 if math.isnan(ret) else 4})
        writer.write(row)
    writer.close()
    return folder


def seed_group(root, curves, env_id="CartPole-v1"):
    return [fake_run(root / f"seed{seed}", seed, returns, env_id) for seed, returns in enumerate(curves)]


def finals(curves):
    return np.array([[r for r in returns if not math.isnan(r)][-1] for returns in curves])


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("reinforce: error: ") and err.count("\n") == 1, err
    return err


def test_summary_prints_seeds_mean_and_iqm_with_its_interval(tmp_path, capsys):
    seed_group(tmp_path / "a", GROUP_A)
    seed_group(tmp_path / "b", GROUP_B)
    assert main(["summary", str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "a" / "seed2"), "--json"]) == 0
    groups = json.loads(capsys.readouterr().out)["groups"]
    for group, want in zip(groups, (finals(GROUP_A), finals(GROUP_B), finals(GROUP_A[2:3]))):
        assert group["score"] == "train" and group["scores"] == want.tolist() and group["seeds"] == len(want)
        assert group["mean"] == pytest.approx(want.mean())
        assert (group["iqm"], *group["iqm_ci"]) == stats.stratified_bootstrap_ci(want, stats.iqm, 2000, 0.95, 0)
    assert groups[1]["scores"][1] == 40.0  # the last epoch in which an episode ended
    assert groups[0]["iqm_ci"][0] < groups[0]["iqm"] < groups[0]["iqm_ci"][1]
    # the table shows the same numbers, and says what the score is
    assert main(["summary", str(tmp_path / "a"), "--reps", "300", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    point, low, high = stats.stratified_bootstrap_ci(finals(GROUP_A), stats.iqm, 300, 0.95, 4)
    assert f"{point:.2f}  [{low:.2f}, {high:.2f}]" in out and f"{finals(GROUP_A).mean():.2f}" in out
    assert "score train: mean return of the finished training episodes" in out and "CartPole-v1" in out


def test_summary_takes_the_evaluation_when_every_run_has_one(tmp_path, capsys):
    runs = seed_group(tmp_path / "a", GROUP_A[:3])
    evals = [300.0, 250.0, 410.0]
    for run, value in zip(runs[:2], evals):
        (run / "eval_100.json").write_text(json.dumps({"episodes": 100, "return": {"mean": value}}, indent=1))
    (runs[0] / "eval_10.json").write_text(json.dumps({"episodes": 10, "return": {"mean": -1.0}}))  # fewer episodes: not used
    assert main(["summary", str(tmp_path / "a"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["groups"][0]["score"] == "train"  # seed2 has none: training returns for all
    (runs[2] / "eval_100.json").write_text(json.dumps({"episodes": 100, "return": {"mean": evals[2]}}))
    assert main(["summary", str(tmp_path / "a"), "--json"]) == 0
    group = json.loads(capsys.readouterr().out)["groups"][0]
    assert group["score"] == "eval" and group["scores"] == evals
    assert (group["iqm"], *group["iqm_ci"]) == stats.stratified_bootstrap_ci(evals)
    assert main(["summary", str(tmp_path / "a")]) == 0
    assert "score eval: mean return of the episodes in each run's eval_<N>.json" in capsys.readouterr().out


def test_summary_reads_a_real_evaluation(tmp_path, capsys):
    """eval_<N>.json as `reinforce evaluate RUN --json` prints it (and benchmarks/variants.py writes it)."""
    run = reinforce.train("cartpole-fast", tmp_path / "run", tensorboard=False, epochs=1, num_envs=4, steps_per_rollout=20)
    capsys.readouterr()  # training's summary line
    assert main(["evaluate", str(run), "--episodes", "3", "--json"]) == 0
    (run / "eval_3.json").write_text(capsys.readouterr().out)
    assert main(["summary", str(run), "--json"]) == 0
    group = json.loads(capsys.readouterr().out)["groups"][0]
    assert group["score"] == "eval" and group["scores"] == [evaluate_run(run, 3)["return"]["mean"]]


def test_compare_prints_the_probability_of_improvement_and_both_iqms(tmp_path, capsys):
    seed_group(tmp_path / "a", GROUP_A)
    b = seed_group(tmp_path / "b", GROUP_B)
    png = tmp_path / "profiles.png"
    # B given as its run folders, A as the folder of seeds: both name the same kind of group
    assert main(["compare", str(tmp_path / "a"), "--vs", *map(str, b), "--out", str(png), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    a_scores, b_scores = finals(GROUP_A), finals(GROUP_B)
    assert (result["p_a_beats_b"], *result["p_ci"]) == stats.probability_of_improvement_ci(a_scores, b_scores)
    assert result["p_a_beats_b"] == pytest.approx(np.mean([[x > y for y in b_scores] for x in a_scores]))  # no ties here
    assert (result["a"]["iqm"], *result["a"]["iqm_ci"]) == stats.stratified_bootstrap_ci(a_scores)
    assert (result["b"]["iqm"], *result["b"]["iqm_ci"]) == stats.stratified_bootstrap_ci(b_scores)
    assert png.stat().st_size > 10_000
    assert main(["compare", str(tmp_path / "a"), "--vs", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    p, low, high = stats.probability_of_improvement_ci(a_scores, b_scores)
    assert f"P(A > B) = {p:.3f}   95% CI [{low:.3f}, {high:.3f}]" in out
    assert f"IQM B = {stats.iqm(b_scores):.2f}" in out and "env CartPole-v1" in out


def test_plot_table_has_iqm_columns(tmp_path, capsys):
    runs = seed_group(tmp_path / "a", GROUP_A) + seed_group(tmp_path / "b", GROUP_B, env_id="CartPole-v0")
    assert main(["plot", *map(str, runs), "--out", str(tmp_path / "all.png")]) == 0
    table = pd.read_csv(tmp_path / "all_summary.csv")
    assert {"run", "seed", "final_return", "best_return", "epochs_to_threshold"} <= set(table.columns)
    for env_id, curves in (("CartPole-v1", GROUP_A), ("CartPole-v0", GROUP_B)):
        rows = table[table["env_id"] == env_id]
        want = stats.stratified_bootstrap_ci(finals(curves))
        assert (rows[["iqm_final_return", "iqm_ci_low", "iqm_ci_high"]].to_numpy() == want).all()
    text = (tmp_path / "all_summary.md").read_text()
    point, low, high = stats.stratified_bootstrap_ci(finals(GROUP_A))
    assert f"CartPole-v1 {point:.1f} [{low:.1f}, {high:.1f}]" in text
    assert f"IQM of the final return [95% CI]: {point:.1f}" in to_markdown(summarize(load_runs(runs[:5])))


def test_bad_groups_are_one_line_errors(tmp_path, capsys):
    seed_group(tmp_path / "a", GROUP_A)
    seed_group(tmp_path / "v0", GROUP_B, env_id="CartPole-v0")
    (tmp_path / "empty").mkdir()
    fake_run(tmp_path / "never", 0, [NAN, NAN])
    cases = [
        (["summary", str(tmp_path / "empty")], "holds no runs"),
        (["summary", str(tmp_path / "missing")], "is not a folder"),
        (["summary", str(tmp_path / "never")], "has no finished episode"),
        (["summary", str(tmp_path / "a"), "--reps", "0"], "reps must be >= 1"),
        (["compare", str(tmp_path / "a"), "--vs", str(tmp_path / "v0")], "compare runs of one env"),
        (["compare", str(tmp_path / "a"), "--vs", str(tmp_path / "a" / "seed1")], "on both sides"),
        (["compare", str(tmp_path / "a"), "--vs", str(tmp_path / "empty")], "holds no runs"),
        (["summary", str(tmp_path / "a"), str(tmp_path / "a" / "seed0")], None),  # fine: two groups
    ]
    for argv, message in cases:
        code = main(argv)
        if message is None:
            assert code == 0
            capsys.readouterr()
            continue
        assert code == 2, argv
        assert message in one_line_error(capsys), argv
    with pytest.raises(SystemExit) as stop:  # argparse: --vs is required
        main(["compare", str(tmp_path / "a")])
    assert stop.value.code == 2 and "--vs" in one_line_error(capsys)


def test_a_run_without_epochs_is_one_line_error_naming_it(tmp_path, capsys):
    """A run killed before its first epoch has a metrics.csv of its header alone (or nothing): plot, summary and
    compare name that file, alone or among other runs, instead of failing on a missing column."""
    seed_group(tmp_path / "a", GROUP_A)
    header_only = fake_run(tmp_path / "killed", 0, [])
    (header_only / "metrics.csv").write_text((tmp_path / "a" / "seed0" / "metrics.csv").read_text().splitlines()[0] + "\n")
    nothing = fake_run(tmp_path / "blank", 0, [])
    (nothing / "metrics.csv").write_text("")
    for run in (header_only, nothing):
        for argv in (["plot", str(run), "--out", str(tmp_path / "x.png")], ["summary", str(run)],
                     ["plot", str(tmp_path / "a" / "seed0"), str(run), "--out", str(tmp_path / "y.png")],
                     ["compare", str(tmp_path / "a"), "--vs", str(run)], ["compare", str(run), "--vs", str(tmp_path / "a")]):
            assert main(argv) == 2, argv
            assert f"{run / 'metrics.csv'} has no epochs yet" in one_line_error(capsys), argv
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "y.png").exists()


def test_an_eval_file_of_an_earlier_epoch_is_not_used_and_force_removes_it(tmp_path, capsys):
    run = tmp_path / "run"
    tiny = ["--env", "CartPole-v1", "--num-envs", "2", "--steps-per-rollout", "16", "--no-plot", "--quiet", "--no-tensorboard"]
    assert main(["train", *tiny, "--epochs", "1", "--out", str(run)]) == 0
    assert main(["evaluate", str(run), "--episodes", "2", "--json"]) == 0
    (run / "eval_2.json").write_text(capsys.readouterr().out.split("\n", 1)[1])  # after training's summary line
    assert main(["summary", str(run), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["groups"][0]["score"] == "eval"  # it scores the run's epoch 1
    assert main(["train", "--resume", str(run), "--epochs", "2", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["summary", str(run)]) == 0
    out = capsys.readouterr().out
    assert f"{run / 'eval_2.json'} scores epoch 1, the run is at 2: not used" in out and "score train" in out
    assert main(["train", *tiny, "--epochs", "1", "--seed", "7", "--out", str(run), "--force"]) == 0
    assert not (run / "eval_2.json").exists()


def test_runs_of_different_lengths_get_a_note(tmp_path, capsys):
    seed_group(tmp_path / "a", GROUP_A[:2])  # 3 epochs of 1,000 env steps
    seed_group(tmp_path / "b", [returns + [50.0] for returns in GROUP_A[:2]])  # 4 epochs
    assert main(["compare", str(tmp_path / "a"), "--vs", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "P(A > B)" in out and out.count("note:") == 1
    assert "note: the runs trained for different numbers of env steps (A 3,000; B 4,000)" in out
    assert main(["compare", str(tmp_path / "a"), "--vs", str(tmp_path / "b"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"][0].startswith("note: the runs trained")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (tmp_path / "a" / "seed0").rename(mixed / "seed0")
    (tmp_path / "b" / "seed1").rename(mixed / "seed1")
    assert main(["summary", str(mixed)]) == 0
    assert f"({mixed} seed0 3,000, seed1 4,000)" in capsys.readouterr().out
    assert main(["summary", str(tmp_path / "a"), "--json"]) == 0  # one length: no note
    assert json.loads(capsys.readouterr().out)["notes"] == []
