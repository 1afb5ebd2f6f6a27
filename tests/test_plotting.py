"""Learning-curve plots (`reinforce.tools.plotting`): several envs, the band's meaning, legend, ticks, x in steps, default path."""
import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from reinforce.tools.plotting import curve_band, default_plot_path, figure_of_runs, load_runs, plot_runs, t_quantile_975

METRIC = "rollout/ep_return_mean"


def fake_runs(envs=("CartPole-v0",), seeds=3, epochs=10, steps_per_epoch=(1000,)):
    """Runs with returns rising along the epochs; run k of an env collects steps_per_epoch[k % len] per epoch."""
    rng = np.random.default_rng(0)
    rows = []
    for env in envs:
        for seed in range(seeds):
            per_epoch = steps_per_epoch[seed % len(steps_per_epoch)]
            for epoch in range(epochs):
                rows.append({"run": f"{env}/seed{seed}", "env_id": env, "seed": seed, "epoch": epoch,
                             "time/env_steps": per_epoch * (epoch + 1), METRIC: 10.0 * epoch + rng.normal()})
    return pd.DataFrame(rows)


def write_runs(tmp_path, frame):
    dirs = []
    for run, part in frame.groupby("run", sort=False):
        folder = tmp_path / run
        folder.mkdir(parents=True)
        part.drop(columns=["run", "env_id", "seed"]).to_csv(folder / "metrics.csv", index=False)
        dirs.append(folder)
    return dirs


def test_t_quantiles_match_the_tables():
    assert t_quantile_975(1) == 12.706 and t_quantile_975(2) == 4.303 and t_quantile_975(30) == 2.042
    # beyond the table (reference values of Student's t): continuous with it, tending to z = 1.96
    for df, reference in ((31, 2.0395), (40, 2.0211), (60, 2.0003), (120, 1.9799), (10_000, 1.9602)):
        assert t_quantile_975(df) == pytest.approx(reference, abs=1e-3)
    with pytest.raises(ValueError, match="df must be >= 1"):
        t_quantile_975(0)


def test_band_of_three_seeds_is_a_t_interval_not_their_min_max():
    frame = pd.DataFrame({"run": ["a", "b", "c"], "env_id": "X", "epoch": [0, 0, 0], METRIC: [10.0, 20.0, 60.0]})
    band = curve_band(frame, METRIC, "epoch")
    mean, sd = 30.0, np.std([10.0, 20.0, 60.0], ddof=1)
    half = 4.303 * sd / math.sqrt(3)
    row = band.iloc[0]
    assert (row["mean"], row["n"]) == (mean, 3)
    assert row["low"] == pytest.approx(mean - half) and row["high"] == pytest.approx(mean + half)
    assert row["low"] < 10.0 and row["high"] > 60.0  # wider than the seeds' range at n = 3, as it must be


def test_runs_of_two_envs_plot_with_a_colour_and_label_each(tmp_path):
    runs = fake_runs(envs=("CartPole-v0", "Pendulum-v1"))
    png = plot_runs(None, tmp_path / "two.png", runs=runs)  # crashed with "label None with hue" before
    assert png.stat().st_size > 10_000
    fig = figure_of_runs(runs)
    try:
        labels = [t.get_text() for t in fig.legends[0].get_texts()]
    finally:
        plt.close(fig)
    assert any(label.startswith("CartPole-v0: mean of 3 runs") for label in labels)
    assert any(label.startswith("Pendulum-v1: mean of 3 runs") for label in labels)
    assert "CartPole-v0 threshold 195" in labels and all("95% CI" in label for label in labels if "mean of" in label)


def test_legend_is_outside_the_axes_and_epoch_ticks_are_integers():
    fig = figure_of_runs(fake_runs(epochs=6), threshold=50)
    try:
        fig.canvas.draw()
        ax = fig.axes[0]
        assert not ax.get_legend() and len(fig.legends) == 1  # a figure legend, not one inside the axes
        legend_box, axes_box = fig.legends[0].get_window_extent(), ax.get_window_extent()
        assert not legend_box.overlaps(axes_box) and legend_box.y1 <= axes_box.y0  # below the axes, over no curve
        ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
        assert len(ticks) >= 2 and all(float(t).is_integer() for t in ticks), ticks
    finally:
        plt.close(fig)


def test_x_in_env_steps_aligns_runs_of_different_step_counts(tmp_path):
    runs = fake_runs(steps_per_epoch=(1000, 1500, 700))  # the same epochs, three different step counts
    band = curve_band(runs, METRIC, "time/env_steps", points=50)
    assert len(band) == 50 and band["time/env_steps"].is_monotonic_increasing
    full = band[band["n"] == 3]  # where all three runs have data: up to the shortest run's end, 7000 steps
    assert full["time/env_steps"].max() <= 7000 and len(full) >= 10
    assert band["n"].min() == 1 and (full["low"] <= full["mean"]).all() and (full["mean"] <= full["high"]).all()
    # linear interpolation: at 7000 steps the returns are 60 (epoch 6 of 1000/epoch), ~36.7 and ~90 (epoch 9)
    dirs = write_runs(tmp_path, runs)
    assert plot_runs(dirs, tmp_path / "steps.png", x="steps").stat().st_size > 10_000
    assert plot_runs(dirs, tmp_path / "steps2.png", x="time/env_steps").exists()
    with pytest.raises(ValueError, match="no column 'time/nothing'"):
        plot_runs(dirs, tmp_path / "bad.png", x="time/nothing")
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        plot_runs(dirs, tmp_path / "bad.png", threshold=float("nan"))


def test_nan_epochs_are_bridged_and_one_run_has_no_band():
    frame = pd.DataFrame({"run": "a", "env_id": "X", "epoch": [0, 1, 2, 3], METRIC: [0.0, np.nan, 20.0, 30.0]})
    band = curve_band(frame, METRIC, "epoch")
    assert list(band["mean"]) == [0.0, 10.0, 20.0, 30.0] and band["low"].isna().all()
    fig = figure_of_runs(frame)
    try:
        assert [t.get_text() for t in fig.legends[0].get_texts()] == ["one run"]
    finally:
        plt.close(fig)


def test_default_plot_path_overwrites_no_runs_own_curve(tmp_path):
    seeds = [tmp_path / "runs" / "cartpole" / f"seed{k}" for k in range(3)]
    assert default_plot_path(seeds[:1]) == seeds[0] / "curve.png"  # one run: its own curve
    assert default_plot_path(seeds) == tmp_path / "runs" / "cartpole" / "curves.png"
    assert default_plot_path([seeds[0], seeds[0]]) == seeds[0] / "curve.png"
    mixed = default_plot_path(["runs/a", tmp_path / "b"])  # relative and absolute
    assert mixed.name == "curves.png" and mixed.parent.is_absolute()
    for path in (default_plot_path(seeds), default_plot_path([tmp_path / "x", tmp_path / "y" / "z"])):
        assert all(path != run / "curve.png" for run in seeds)
    with pytest.raises(ValueError):
        default_plot_path([])


def test_plot_of_run_folders_reads_their_config(tmp_path):
    dirs = write_runs(tmp_path, fake_runs(seeds=2, epochs=4))
    runs = load_runs(dirs)  # no config.toml: env "?"
    assert set(runs["env_id"]) == {"?"} and runs["run"].nunique() == 2
    assert plot_runs(dirs, default_plot_path(dirs)).parent == tmp_path / "CartPole-v0"


def test_plot_out_in_a_folder_not_yet_made(tmp_path, monkeypatch, capsys):
    """`reinforce plot RUN --out plots/p.png` makes plots/ (as record and export make theirs)."""
    from reinforce.cli import main

    dirs = write_runs(tmp_path, fake_runs(seeds=2, epochs=4))
    monkeypatch.chdir(tmp_path)
    assert main(["plot", *map(str, dirs), "--out", "plots/p.png"]) == 0
    assert "wrote plots/p.png" in capsys.readouterr().out
    assert {p.name for p in (tmp_path / "plots").iterdir()} == {"p.png", "p_summary.csv", "p_summary.md"}
    assert plot_runs(dirs, tmp_path / "a" / "b" / "c.png").is_file()
