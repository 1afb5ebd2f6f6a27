"""Env ids from plug-in packages and "module:EnvId", wrappers by name (reinforce.envs.plugins), end to end."""
import gymnasium as gym
import numpy as np
import pytest
import torch

import reinforce
from reinforce import config as config_mod
from reinforce.cli import main
from reinforce.envs import plugins
from reinforce.envs.adapters import GymnasiumVecEnv
from reinforce.envs.vector import check_env_id, make_vec_env
from reinforce import observations


def test_module_colon_id_imports_the_module_first():
    spec = check_env_id("gymnasium.envs.classic_control:CartPole-v1")
    assert spec.id == "CartPole-v1"
    with pytest.raises(ImportError, match="no_such_module_xyz"):
        check_env_id("no_such_module_xyz:Thing-v0")


def test_a_missing_plugin_package_is_one_line_naming_the_extra(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(plugins, "PLUGIN_FAMILIES", (("Fake/", "no_such_pkg_xyz", None, "fake"),))
    with pytest.raises(ImportError, match=r"Fake/Game-v0 needs the no_such_pkg_xyz package .*pip install 'reinforce\[fake\]'"):
        check_env_id("Fake/Game-v0")
    assert main(["train", "--env", "Fake/Game-v0", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "reinforce[fake]" in err and "Traceback" not in err and err.count("\n") == 1


@pytest.mark.parametrize("env_id, shape, dtype", [
    ("MinAtar/Breakout-v1", (10, 10, 4), torch.bool),
    ("MiniGrid-DoorKey-5x5-v0", (151,), torch.float32),  # image 7×7×3 + direction one-hot; the mission dropped
])
def test_plugin_families_register_themselves(env_id, shape, dtype, monkeypatch):
    monkeypatch.setattr(observations, "_noticed", set())  # the text notice comes once per process
    family = next(f for f in plugins.PLUGIN_FAMILIES if env_id.startswith(f[0]))
    pytest.importorskip(family[1])
    with pytest.warns(UserWarning, match="mission") if "MiniGrid" in env_id else _nothing():
        env = make_vec_env(env_id, 2, seed=0)
        obs, _ = env.reset()
    assert obs.shape == (2, *shape) and obs.dtype == dtype
    obs, reward, term, trunc, info = env.step(torch.zeros(2, dtype=torch.long))
    assert obs.shape == (2, *shape) and info["final_obs"].dtype == dtype
    env.close()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_wrappers_apply_to_each_sub_env_and_force_a_gymnasium_backend():
    env = make_vec_env("CartPole-v1", 3, seed=0, wrappers=("TimeLimit(max_episode_steps=5)",))
    assert isinstance(env, GymnasiumVecEnv)  # CartPole-v1 is native otherwise: wrappers need Gymnasium's envs
    env.reset()
    for step in range(5):
        _, _, term, trunc, _ = env.step(torch.zeros(3, dtype=torch.long))
    assert bool((term | trunc).all())  # every sub-env cut at 5 steps (pushing left fails later than that)
    assert bool(trunc.any())
    env.close()
    flat = make_vec_env("CartPole-v1", 2, seed=0, wrappers=("gymnasium.wrappers:FrameStackObservation(stack_size=3)",))
    assert flat.reset()[0].shape == (2, 12)  # 3 stacked 4-vectors, flattened
    flat.close()


@pytest.mark.parametrize("wrappers, message", [
    (("NoSuchWrapper",), "unknown wrapper 'NoSuchWrapper'"),
    (("TimeLimit(steps=5)",), "wrapper 'TimeLimit(steps=5)'"),
    (("TimeLimit(max_episode_steps=x)",), "arguments must be key=value pairs of literals"),
])
def test_bad_wrappers_are_clear(wrappers, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make_vec_env("CartPole-v1", 2, seed=0, wrappers=wrappers).reset()


def test_wrappers_need_a_gymnasium_backend():
    with pytest.raises(ValueError, match="wrappers apply to each Gymnasium sub-env"):
        make_vec_env("CartPole-v1", 2, backend="native", wrappers=("TimeLimit(max_episode_steps=5)",))


def test_predict_on_a_dict_observation_needs_only_the_parts_it_reads():
    """MiniGrid's mission (text) is dropped in training, so predict needs no mission; a missing numeric part or a
    flat array instead of the dict is one ValueError naming what the space needs."""
    pytest.importorskip("minigrid")
    env = make_vec_env("MiniGrid-DoorKey-5x5-v0", 2, seed=0)
    agent = reinforce.Reinforce(env, reinforce.make_policy(env.single_observation_space, env.single_action_space))
    obs, _ = gym.make("MiniGrid-DoorKey-5x5-v0").reset(seed=0)
    without_text = {k: v for k, v in obs.items() if k != "mission"}
    assert agent.predict(without_text, deterministic=True) == agent.predict(obs, deterministic=True)
    with pytest.raises(ValueError, match="the observation has no 'direction'; .* needs 'direction', 'image'"):
        agent.predict({k: v for k, v in obs.items() if k != "direction"})
    with pytest.raises(ValueError, match="is a dict of its parts, got ndarray"):
        agent.predict(np.zeros(151, np.float32))
    env.close()


def test_pong_trains_checkpoints_evaluates_records_and_predicts(tmp_path, capsys):
    """The Nature-CNN path end to end on ALE/Pong-v5 with Atari preprocessing and a 4-frame stack."""
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    run = tmp_path / "pong"
    argv = ["train", "--env", "ALE/Pong-v5", "--wrappers", "AtariPreprocessing(frame_skip=1)", "--wrappers",
            "FrameStackObservation(stack_size=4)", "--num-envs", "2", "--steps-per-rollout", "16", "--epochs", "2",
            "--out", str(run)]
    assert main(argv) == 0
    # the any-env defaults normalise vector observations only: an image env's config says off, and nothing warns
    assert "Warning" not in capsys.readouterr().err
    assert config_mod.load(run).normalize_observations is False
    assert (run / "checkpoint.pt").exists()
    agent = reinforce.load(run)
    assert agent.policy.encoder.arch == "nature_cnn" and agent.config.wrappers == (
        "AtariPreprocessing(frame_skip=1)", "FrameStackObservation(stack_size=4)")
    frames = np.random.default_rng(0).integers(0, 256, (3, 4, 84, 84), dtype=np.uint8)
    actions = agent.predict(frames, deterministic=True)
    assert actions.shape == (3,) and set(actions.tolist()) <= set(range(6))
    assert main(["evaluate", str(run), "--episodes", "1", "--num-envs", "1"]) == 0
    assert main(["record", str(run), "--out", str(tmp_path / "pong.gif"), "--max-steps", "20"]) == 0
    assert (tmp_path / "pong.gif").stat().st_size > 0
