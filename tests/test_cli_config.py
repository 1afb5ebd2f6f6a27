"""CLI and config: a tiny train + plot writes the run folder; bad input gives one clear line."""
import tomllib
import subprocess
import sys

import pandas as pd
import pytest
import torch

from reinforce import config as config_mod
from reinforce import presets
from reinforce.metrics import METRIC_NAMES
from reinforce.cli import main
from reinforce.run.build import build


def test_train_then_plot_write_the_run_folder(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--preset", "cartpole", "--epochs", "2", "--num-envs", "3", "--steps-per-rollout", "60"]
    assert main([*args, "--out", str(out), "--quiet", "--seed", "7"]) == 0
    summary = capsys.readouterr().out.strip().splitlines()
    assert len(summary) == 1 and "2 epochs" in summary[0]  # --quiet: one summary line only
    names = {p.name for p in out.iterdir()}
    assert {"config.toml", "metrics.csv", "curve.png", "policy.pt", "checkpoint.pt"} <= names
    assert len([n for n in names if n.startswith("events.out.tfevents.")]) == 1  # TensorBoard, beside metrics.csv
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns) == list(METRIC_NAMES) and len(metrics) == 2
    cfg = config_mod.load(out)
    assert (cfg.env_id, cfg.seed, cfg.num_envs, cfg.hidden_sizes) == ("CartPole-v0", 7, 3, ())
    state = torch.load(out / "policy.pt", weights_only=True)
    assert state["logits.0.weight"].shape == (2, 4)

    # a second seed, then one plot of both
    assert main([*args, "--out", str(tmp_path / "run2"), "--quiet", "--seed", "8"]) == 0
    png = tmp_path / "both.png"
    assert main(["plot", str(out), str(tmp_path / "run2"), "--out", str(png)]) == 0
    assert png.stat().st_size > 10_000


def test_existing_run_folder_is_refused_without_force(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert main(["train", "--epochs", "1", "--out", str(out), "--quiet"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (out / "keep.txt").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--env", "CartPol-v1"], "unknown environment id 'CartPol-v1'. Did you mean: CartPole-v1"),
        (["train", "--gamma", "1.5"], "gamma must be in [0, 1]"),
        (["train", "--lr", "0"], "lr must be > 0"),
        (["train", "--num-envs", "0"], "num_envs must be >= 1"),
        (["train", "--encoder", "nature_cnn", "--epochs", "1"], "encoder 'nature_cnn' takes image observations"),
        (["plot", "/nonexistent/run"], "is not a run folder"),
    ],
)
def test_bad_input_gives_one_clear_line(argv, message, tmp_path, capsys):
    assert main([*argv, *(["--out", str(tmp_path / "r")] if argv[0] == "train" else [])]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and err.count("\n") == 1


def test_console_script_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "reinforce", "--help"], capture_output=True, text=True, check=True)
    assert "train" in result.stdout and "plot" in result.stdout


def test_presets_hold_the_article_numbers():
    c = presets.PRESETS["cartpole"]
    assert (c.env_id, c.num_envs, c.steps_per_rollout, c.lr, c.gamma, c.epochs, c.hidden_sizes) == (
        "CartPole-v0", 32, 1000, 0.1, 0.99, 100, ())
    s = presets.PRESETS["swingup"]
    assert (s.env_id, s.num_envs, s.steps_per_rollout, s.lr, s.gamma, s.epochs, s.hidden_sizes) == (
        "reinforce/CartPoleSwingUp-v0", 256, 1000, 1e-2, 0.999, 20, (64, 64))


def _needs(env_id: str) -> list:
    if env_id.startswith(("HalfCheetah", "Hopper")):
        try:
            import mujoco  # noqa: F401
        except ImportError:
            return [pytest.mark.skip(reason="needs the mujoco extra: pip install -e '.[mujoco]'")]
    return []


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=_needs(c.env_id)) for n, c in sorted(presets.PRESETS.items())]
)
def test_every_preset_builds_and_takes_a_step(name):
    """Each preset's env, policy and options fit together (a short rollout, one update)."""
    cfg = presets.preset(name).replace(num_envs=2, steps_per_rollout=8, epochs=1)
    _, policy, agent = build(cfg)
    before = [p.detach().clone() for p in policy.parameters()]
    metrics = agent.learn(1)[-1]
    assert metrics["epoch"] == 0 and metrics["time/env_steps"] == 16
    assert any(not torch.equal(b, p) for b, p in zip(before, policy.parameters()))


def test_config_toml_round_trip_and_type_errors(tmp_path):
    cfg = presets.preset("swingup").replace(seed=3)
    config_mod.save(cfg, tmp_path / "c.toml")
    assert config_mod.load(tmp_path / "c.toml") == cfg
    with pytest.raises(KeyError, match="did you mean 'gamma'"):
        config_mod.from_dict({"gama": 0.9})
    with pytest.raises(TypeError, match="'num_envs' must be int"):
        config_mod.from_dict({"num_envs": "many"})
    with pytest.raises(TypeError, match="hidden_sizes"):
        config_mod.from_dict({"hidden_sizes": [64, "x"]})
    assert config_mod.from_dict({"lr": 1}).lr == 1.0  # an int is a fine float
    assert config_mod.parse_override("hidden_sizes=[32, 32]") == ("hidden_sizes", [32, 32])
    assert config_mod.parse_override("env_id=Pendulum-v1") == ("env_id", "Pendulum-v1")


def test_wrapper_specs_parse_round_trip_and_reject_what_is_not_a_literal_call():
    from reinforce.config import Config, from_dict, parse_wrapper, to_toml

    cfg = Config(env_id="CartPole-v1", wrappers=("AtariPreprocessing(frame_skip=1, noop_max=30)", "pkg.mod:Custom"))
    assert from_dict(tomllib.loads(to_toml(cfg))) == cfg
    assert parse_wrapper(cfg.wrappers[0]) == ("AtariPreprocessing", {"frame_skip": 1, "noop_max": 30})
    assert parse_wrapper(cfg.wrappers[1]) == ("pkg.mod:Custom", {})
    assert from_dict({"env_id": "CartPole-v1", "wrappers": "FlattenObservation"}).wrappers == ("FlattenObservation",)
    for bad in ("1Wrapper", "Frame(4)", "Frame(n=os.sep)", "Frame(**k)"):
        with pytest.raises(ValueError, match="wrapper"):
            Config(env_id="CartPole-v1", wrappers=(bad,))
    with pytest.raises(ValueError, match="encoder must be one of"):
        Config(env_id="CartPole-v1", encoder="resnet")


def test_sequence_fields_given_as_lists_are_accepted_from_python():
    """A Python caller writes lists; the config stores the tuples the rest of the library (and hashing) expects,
    and a bad size inside a list is still refused with the one-line message."""
    from reinforce.config import Config, ReinforceOptions

    cfg = Config(hidden_sizes=[32, 16], value_hidden_sizes=[])
    assert cfg.hidden_sizes == (32, 16) and cfg.value_hidden_sizes == ()
    assert ReinforceOptions(value_hidden_sizes=[8]).value_hidden_sizes == (8,)
    assert Config(env_id="CartPole-v1", wrappers=["FlattenObservation"]).wrappers == ("FlattenObservation",)
    hash(cfg)  # frozen and hashable with list input
    with pytest.raises(ValueError, match="hidden_sizes must be a list of integers"):
        Config(hidden_sizes=[64, 0])
