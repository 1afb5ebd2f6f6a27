"""Experiment tooling: config files and flags, evaluate, record, TensorBoard, several seeds, summary tables."""
import dataclasses
import json
import shutil

import pandas as pd
import pytest
import torch

from reinforce import config as config_mod
from reinforce.tools import record as record_mod
from reinforce.cli import main, parser
from reinforce.cliflags import field_docs, flag_name
from reinforce.config import Config
from reinforce.presets import preset
from reinforce.tools.evaluate import evaluate_run, load_run_policy, run_episodes
from reinforce.tools.plotting import load_runs, plot_runs
from reinforce.tools.seeds import parse_seeds, run_parallel
from reinforce.tools.summary import summarize, to_markdown, write_summary
from reinforce.run.trainer import train
from reinforce.envs.vector import make_vec_env

TINY = ["--num-envs", "2", "--steps-per-rollout", "30", "--quiet"]


def curve(run):
    frame = pd.read_csv(run / "metrics.csv")
    return frame[[c for c in frame.columns if not c.startswith("time/")]]


def one_line_error(capsys):
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith("reinforce: error: ") and err.count("\n") == 1, err
    return err


# -- config files, flags, overrides ------------------------------------------------------------------
def test_every_config_field_has_a_flag_with_its_docstring():
    help_text = " ".join(parser()._subparsers._group_actions[0].choices["train"].format_help().split())
    docs = field_docs(Config)
    for field in dataclasses.fields(Config):
        assert flag_name(field.name) in help_text, field.name
        assert " ".join(docs[field.name].split())[:30] in help_text, field.name
    assert "--env " in help_text and "--num-envs" in help_text and "--no-reset-each-epoch" in help_text


def test_config_file_flags_and_overrides_resolve_and_repeat(tmp_path, capsys):
    file = tmp_path / "run.toml"
    file.write_text('env_id = "CartPole-v1"\nepochs = 9\nlr = 0.2\nhidden_sizes = [16, 16]\n')
    run = tmp_path / "run"
    argv = ["train", "--config", str(file), "--epochs", "2", "gamma=0.9", *TINY, "--out", str(run)]
    assert main([*argv, "--max-grad-norm", "none", "--no-reset-each-epoch", "lr=0.05", "--no-tensorboard"]) == 0
    cfg = config_mod.load(run)  # the resolved config is saved in the run folder
    assert (cfg.env_id, cfg.epochs, cfg.lr, cfg.gamma, cfg.hidden_sizes, cfg.num_envs) == ("CartPole-v1", 2, 0.05, 0.9, (16, 16), 2)
    assert cfg.reset_each_epoch is False and cfg.max_grad_norm is None

    again = tmp_path / "again"  # --config RUN/config.toml repeats the run
    assert main(["train", "--config", str(run / "config.toml"), "--out", str(again), "--quiet", "--no-tensorboard"]) == 0
    pd.testing.assert_frame_equal(curve(again), curve(run))


@pytest.mark.parametrize(
    "content, overrides, message",
    [
        ('num_envs = "many"\n', [], "config key 'num_envs' must be int, got str 'many'"),
        ("gama = 0.9\n", [], "unknown config key 'gama'; did you mean 'gamma'?"),
        ("lr = 0.1\n", ["lr=fast"], "config key 'lr' must be float, got str 'fast'"),
        ("lr = 0.1\n", ["hidden_sizes=[64, true]"], "config key 'hidden_sizes' must be a list of integers"),
        ("lr = 0.1\n", ["num_env=3"], "did you mean 'num_envs'?"),
        ("lr = [0.1\n", [], "is not valid TOML"),
    ],
)
def test_bad_config_gives_one_line_and_creates_nothing(tmp_path, capsys, content, overrides, message):
    file = tmp_path / "bad.toml"
    file.write_text(content)
    out = tmp_path / "run"
    assert main(["train", "--config", str(file), *overrides, "--out", str(out)]) == 2
    assert message in one_line_error(capsys)
    assert not out.exists()


# -- evaluate ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def normalised_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("eval") / "run"
    cfg = config_mod.from_dict(
        dict(num_envs=4, steps_per_rollout=40, epochs=3, lr=0.05, hidden_sizes=(), normalize_observations=True)
    )
    train(cfg, run, quiet=True, tensorboard=False)
    return run


def test_evaluate_prints_a_table_or_json(normalised_run, capsys):
    assert main(["evaluate", str(normalised_run), "--episodes", "7"]) == 0
    table = capsys.readouterr().out
    assert "7 episodes, stochastic policy after 3 epochs" in table and "return" in table and "length" in table
    assert main(["evaluate", str(normalised_run), "--episodes", "6", "--json", "--deterministic", "--seed", "3"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["episodes"], result["deterministic"], result["seed"], result["trained_epochs"]) == (6, True, 3, 3)
    stats = result["return"]
    assert stats["min"] <= stats["mean"] <= stats["max"] and stats["std"] >= 0
    assert result["length"]["mean"] == stats["mean"]  # CartPole: reward 1 per step
    # same seed, same numbers
    again = evaluate_run(normalised_run, 6, deterministic=True, seed=3)
    assert again["return"] == stats


def test_evaluate_can_switch_to_gymnasiums_own_env(normalised_run, capsys):
    # trained on the native CartPole (backend auto); evaluated on Gymnasium's implementation
    assert main(["evaluate", str(normalised_run), "--episodes", "4", "--json", "--backend", "sync"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["backend"] == "sync" and result["episodes"] == 4
    assert result["length"]["mean"] == result["return"]["mean"] >= 8  # CartPole-v0 episodes last >= 8 steps
    assert evaluate_run(normalised_run, 4)["backend"] == "auto"
    with pytest.raises(SystemExit):
        main(["evaluate", str(normalised_run), "--backend", "gpu"])
    assert "invalid choice: 'gpu'" in capsys.readouterr().err


def test_evaluation_uses_the_saved_normaliser_and_never_updates_it(normalised_run):
    loaded = load_run_policy(normalised_run)
    saved = torch.load(normalised_run / "policy.pt", weights_only=True)
    normalizer = loaded.policy.obs_normalizer
    assert normalizer is not None and normalizer.count.item() == 3 * 4 * 40  # the training statistics
    assert torch.equal(normalizer.mean, saved["obs_normalizer.mean"])
    before = {k: v.clone() for k, v in normalizer.state_dict().items()}
    env = make_vec_env("CartPole-v0", 4, seed=0)
    returns, lengths = run_episodes(loaded.policy, env, 9)
    assert len(returns) == len(lengths) == 9
    assert all(torch.equal(before[k], v) for k, v in normalizer.state_dict().items())  # frozen
    rng = torch.get_rng_state()
    evaluate_run(normalised_run, 2)
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's torch RNG is left as it was


def damaged_copy(run, tmp_path, change):
    """A copy of `run` whose checkpoint.pt (and policy.pt, if `change` takes a state_dict) is altered."""
    copy = tmp_path / "damaged"
    shutil.copytree(run, copy)
    payload = torch.load(copy / "checkpoint.pt", weights_only=True)
    change(payload)
    torch.save(payload, copy / "checkpoint.pt")
    return copy


def test_evaluate_refuses_a_policy_with_nan_weights(normalised_run, tmp_path, capsys):
    name = "logits.0.weight"  # the linear policy's weight matrix

    def poison(payload):
        payload["agent"]["policy"][name][0, 0] = float("nan")

    run = damaged_copy(normalised_run, tmp_path, poison)
    with pytest.raises(ValueError, match=rf"checkpoint.pt.*tensor '{name}' holds 1 NaN or infinite value "):
        evaluate_run(run, 3)
    assert main(["evaluate", str(run), "--episodes", "3"]) == 2  # today: a normal-looking mean return
    assert "is broken" in one_line_error(capsys)
    (run / "checkpoint.pt").unlink()  # policy.pt alone: the same check, an inf in the normaliser's statistics
    state = torch.load(run / "policy.pt", weights_only=True)
    state["obs_normalizer.var"][1] = float("inf")
    torch.save(state, run / "policy.pt")
    with pytest.raises(ValueError, match=r"policy.pt.*'obs_normalizer.var' holds 1 NaN or infinite"):
        load_run_policy(run)


def test_evaluate_refuses_a_negative_epoch_count(normalised_run, tmp_path):
    run = damaged_copy(normalised_run, tmp_path, lambda payload: payload["agent"].update(epoch=-5))
    # checkpoint.py may refuse it first as damaged; either way one ValueError naming the file and -5
    with pytest.raises(ValueError, match=r"epoch.*-5|-5.*epoch") as err:
        evaluate_run(run, 2)
    assert "checkpoint.pt" in str(err.value)
    with pytest.raises(ValueError, match="num_envs must be >= 1"):
        evaluate_run(normalised_run, 2, num_envs=0)


# -- record -----------------------------------------------------------------------------------------
def test_record_gif_for_cartpole_and_swingup(normalised_run, tmp_path, capsys):
    from PIL import Image

    gif = tmp_path / "cartpole.gif"
    assert main(["record", str(normalised_run), "--out", str(gif), "--max-steps", "12"]) == 0
    assert "wrote" in capsys.readouterr().out
    with Image.open(gif) as image:
        assert image.size == (600, 400) and image.n_frames >= 2

    # one frame per step and the final state of each episode (CartPole-v0 episodes last >= 8 steps)
    result = record_mod.record_run(normalised_run, tmp_path / "two.gif", episodes=2, max_steps=5)
    assert result["episode_returns"] == [5.0, 5.0] and result["frames"] == 2 * (5 + 1)

    swingup = tmp_path / "swingup"
    cfg = preset("swingup").replace(num_envs=2, steps_per_rollout=20, epochs=1)
    train(cfg, swingup, quiet=True, tensorboard=False)
    gif = tmp_path / "swingup.gif"
    assert main(["record", str(swingup), "--out", str(gif), "--max-steps", "10", "--episodes", "2"]) == 0
    with Image.open(gif) as image:
        assert image.n_frames >= 2
    assert not list(tmp_path.glob(".*tmp*"))


def test_record_mp4_without_ffmpeg_names_the_extra(normalised_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(record_mod.importlib.util, "find_spec", lambda name: None)
    assert main(["record", str(normalised_run), "--out", str(tmp_path / "p.mp4")]) == 2
    assert "pip install 'reinforce[video]'" in one_line_error(capsys)
    assert main(["record", str(normalised_run), "--out", str(tmp_path / "p.avi")]) == 2
    assert "must end in .gif or .mp4" in one_line_error(capsys)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("GLFWError: X11: The DISPLAY environment variable is missing"),
        ImportError("Cannot initialize a EGL device display. This likely means that your EGL driver does not support"),
        AttributeError("'NoneType' object has no attribute 'glGetError'"),
    ],
)
def test_record_without_a_display_says_set_mujoco_gl(normalised_run, tmp_path, capsys, monkeypatch, error):
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    def render(self):
        raise error

    monkeypatch.setattr(CartPoleEnv, "render", render)  # what MuJoCo's renderer raises on a headless machine
    with pytest.raises(record_mod.NoDisplayError, match="set MUJOCO_GL=egl"):
        record_mod.record_run(normalised_run, tmp_path / "p.gif")
    assert main(["record", str(normalised_run), "--out", str(tmp_path / "p.gif")]) == 2
    assert "rendering MuJoCo needs a display; on a headless machine set MUJOCO_GL=egl (or osmesa)" in one_line_error(capsys)
    assert not list(tmp_path.iterdir())  # no GIF and no temporary file left


def test_record_passes_other_errors_unchanged(normalised_run, tmp_path, monkeypatch):
    from gymnasium.envs.classic_control.cartpole import CartPoleEnv

    def render(self):
        raise ZeroDivisionError("a bug of the env")

    monkeypatch.setattr(CartPoleEnv, "render", render)
    with pytest.raises(ZeroDivisionError, match="a bug of the env"):
        record_mod.record_run(normalised_run, tmp_path / "p.gif")
    with pytest.raises(ValueError, match="fps must be > 0"):
        record_mod.record_run(normalised_run, tmp_path / "p.gif", fps=0)


# -- TensorBoard ------------------------------------------------------------------------------------
def test_tensorboard_events_hold_the_metrics_and_the_config(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run = tmp_path / "run"
    cfg = config_mod.from_dict(dict(num_envs=2, steps_per_rollout=30, epochs=2, baseline="value", value_iters=1))
    train(cfg, run, quiet=True)
    events = EventAccumulator(str(run))
    events.Reload()
    columns = list(pd.read_csv(run / "metrics.csv").columns)
    assert "train/value_loss" in columns  # an extra metric: in the CSV and in TensorBoard
    assert set(events.Tags()["scalars"]) == set(columns)
    # the x-axis is env steps (2 envs x 30 steps an epoch), the epoch a scalar of its own
    assert [e.step for e in events.Scalars("rollout/ep_return_mean")] == [60, 120]
    assert [(e.step, e.value) for e in events.Scalars("epoch")] == [(60, 0.0), (120, 1.0)]
    text = events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert 'baseline = "value"' in text


# -- several seeds ----------------------------------------------------------------------------------
def test_parse_seeds():
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("0,3,7") == [0, 3, 7] and parse_seeds("0-2,10,1") == [0, 1, 2, 10]
    for bad in ("a", "3-1", "0-"):
        with pytest.raises(ValueError, match="--seeds"):
            parse_seeds(bad)
    with pytest.raises(ValueError, match="jobs must be >= 1"):
        run_parallel([], jobs=0)


def test_seeds_run_in_parallel_processes_and_are_summarised(tmp_path, capsys):
    root = tmp_path / "cartpole"
    argv = ["train", "--preset", "cartpole", "--seeds", "0-1", "--epochs", "2", *TINY, "--no-tensorboard"]
    assert main([*argv, "--out", str(root), "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    for seed in (0, 1):
        assert config_mod.load(root / f"seed{seed}").seed == seed
        assert len(pd.read_csv(root / f"seed{seed}" / "metrics.csv")) == 2
    assert (root / "curve.png").stat().st_size > 10_000
    table = pd.read_csv(root / "curve_summary.csv")
    assert list(table["seed"]) == [0, 1] and "final_return" in table and "epochs_to_threshold" in table
    assert "| run | seed |" in (root / "curve_summary.md").read_text() and "2 runs: final return" in out
    # the same folder again: refused; resuming the set: nothing left to do
    assert main([*argv, "--out", str(root)]) == 2
    assert "pass --resume" in one_line_error(capsys)


def test_summary_counts_epochs_to_threshold():
    frame = pd.DataFrame(
        {
            "run": ["a"] * 4 + ["b"] * 4,
            "env_id": ["CartPole-v0"] * 8,
            "seed": [0] * 4 + [1] * 4,
            "epoch": [0, 1, 2, 3] * 2,
            "rollout/ep_return_mean": [20, 100, 196, 190, 20, 50, 80, float("nan")],
        }
    )
    table = summarize(frame)  # CartPole-v0's registered threshold: 195
    assert list(table["epochs_to_threshold"].fillna(-1)) == [3, -1]
    assert list(table["best_return"]) == [196, 80] and table["threshold"].iloc[0] == 195
    assert "1 of 2 reached 195, after 3.0 epochs on average" in to_markdown(table)
    assert list(summarize(frame, threshold=90)["epochs_to_threshold"].fillna(-1)) == [2, -1]
    two_envs = frame.assign(env_id=["CartPole-v0"] * 4 + ["CartPole-v1"] * 4)  # thresholds 195 and 475
    assert "1 of 2 reached their threshold" in to_markdown(summarize(two_envs))
    bare = summarize(frame, intervals=False)  # compare's call: its groups get their own interval
    assert bare["iqm_ci_low"].isna().all() and table["iqm_ci_low"].notna().all()
    assert bare.drop(columns=["iqm_final_return", "iqm_ci_low", "iqm_ci_high"]).equals(
        table.drop(columns=["iqm_final_return", "iqm_ci_low", "iqm_ci_high"]))


def test_runs_are_read_once_for_plot_and_summary(tmp_path):
    dirs = []
    for seed, values in enumerate(([10, 200, 150], [5, 20, 30])):
        run = tmp_path / f"seed{seed}"
        run.mkdir()
        pd.DataFrame({"epoch": [0, 1, 2], "rollout/ep_return_mean": values}).to_csv(run / "metrics.csv", index=False)
        dirs.append(run)
    runs = load_runs(dirs)  # no config.toml: env "?" without a threshold
    png = plot_runs(None, tmp_path / "curve.png", threshold=100, runs=runs)
    assert png.stat().st_size > 10_000
    csv_path, md_path = write_summary(runs, png, threshold=100)
    assert list(pd.read_csv(csv_path)["epochs_to_threshold"].fillna(-1)) == [2, -1] and md_path.exists()
    assert plot_runs(dirs, tmp_path / "again.png").exists()  # run folders still work
    with pytest.raises(ValueError, match="needs run_dirs or runs"):
        plot_runs(None, tmp_path / "none.png")
