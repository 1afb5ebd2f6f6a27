"""Export: the ONNX file (run by onnxruntime alone) and the TorchScript file act as `load(run).predict`."""
import shutil
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch

import reinforce
import toy_spaces
from reinforce.cli import main
from reinforce.export import ExportError, export_policy

toy_spaces.register()


class BoolGridEnv(gym.Env):
    """MinAtar's observation space (10x10x4 bool frames) and 3 actions, without the minatar extra."""

    observation_space = gym.spaces.Box(0, 1, (10, 10, 4), bool)
    action_space = gym.spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.random((10, 10, 4)) < 0.1, {}

    def step(self, action):
        self.t += 1
        return self.np_random.random((10, 10, 4)) < 0.1, float(action == 1), self.t >= 5, False, {}


if "tests/BoolGrid-v0" not in gym.registry:
    gym.register("tests/BoolGrid-v0", entry_point=BoolGridEnv)

ort = pytest.importorskip("onnxruntime", reason="needs the export extra: pip install -e '.[export]'")


def run_onnx(path, obs):
    session = ort.InferenceSession(str(path))
    return session.run(None, {"obs": obs})


def run_torchscript(path, obs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(str(path))
    return [t.numpy() for t in module(torch.as_tensor(obs))]


RUNNERS = {"onnx": run_onnx, "torchscript": run_torchscript}


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    """A discrete (CartPole, linear) and a continuous (Pendulum, MLP) run, each with a fitted observation normaliser."""
    root = tmp_path_factory.mktemp("runs")
    common = dict(epochs=3, num_envs=4, steps_per_rollout=32, normalize_observations=True, quiet=True, tensorboard=False)
    return {
        "discrete": reinforce.train("cartpole-fast", root / "cartpole", **common),
        "continuous": reinforce.train("pendulum-gae", root / "pendulum", **common),
        # Pendulum's mirror: sin θ and θ̇ flip, cos θ stays, the torque is negated (two forwards in the file)
        "mirrored": reinforce.train("pendulum-gae", root / "mirrored", mirror_obs_signs=(1, -1, -1), **common),
    }


def observations(agent, n=64, scale=3.0, seed=0):
    shape = agent.env.single_observation_space.shape
    return (np.random.default_rng(seed).standard_normal((n, *shape)) * scale).astype(np.float32)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("kind", ["discrete", "continuous", "mirrored"])
def test_exported_policy_acts_as_predict_does(trained_runs, tmp_path, kind, fmt):
    run = trained_runs[kind]
    agent = reinforce.load(run)
    assert agent.policy.obs_normalizer is not None and agent.policy.obs_normalizer.count > 0  # a non-trivial normaliser
    path = agent.export(tmp_path / f"policy.{fmt}", fmt)
    obs = observations(agent)
    outputs = RUNNERS[fmt](path, obs)
    expected = agent.predict(obs, deterministic=True)
    assert outputs[0].shape == expected.shape
    dist = agent.policy.pi(torch.as_tensor(obs))
    if kind == "discrete":
        np.testing.assert_array_equal(outputs[0], expected)
        np.testing.assert_allclose(outputs[1], dist.logits.detach().numpy(), atol=1e-5)
    else:
        np.testing.assert_allclose(outputs[0], expected, atol=1e-5)
        assert np.abs(expected).max() <= 2.0  # Pendulum's bounds: the exported action is clipped as predict's is
        np.testing.assert_allclose(outputs[1], dist.loc.detach().numpy(), atol=1e-5)
        np.testing.assert_allclose(outputs[2], np.broadcast_to(agent.policy.log_std.detach().numpy(), outputs[1].shape), atol=1e-6)


def test_predict_and_export_clip_box_actions_to_the_bounds(tmp_path):
    env = reinforce.make_vec_env("tests/BoxEcho-v0", num_envs=2, seed=0)
    policy = reinforce.make_policy(env.single_observation_space, env.single_action_space, hidden_sizes=(8,))
    with torch.no_grad():
        policy.mu[-1].bias.fill_(5.0)  # a mean far outside [-1, 1]
    agent = reinforce.Reinforce(env, policy, steps_per_rollout=4)
    obs = np.zeros((3, 4), np.float32)
    action = agent.predict(obs, deterministic=True)
    assert action.shape == (3, 2, 2) and np.abs(action).max() <= 1.0 and np.allclose(action, 1.0)
    out = run_onnx(agent.export(tmp_path / "box.onnx"), obs)
    np.testing.assert_allclose(out[0], action, atol=1e-6)
    assert out[1].shape == (3, 4) and out[1].min() > 1.0  # the unclipped mean, flattened


def test_multi_discrete_export_gives_indices_and_the_concatenated_logits(tmp_path):
    env = reinforce.make_vec_env("tests/MultiDiscreteBandit-v0", num_envs=2, seed=0)
    policy = reinforce.make_policy(env.single_observation_space, env.single_action_space, hidden_sizes=(8,))
    agent = reinforce.Reinforce(env, policy, steps_per_rollout=1)
    obs = np.random.default_rng(1).standard_normal((5, 1)).astype(np.float32)
    action, logits = run_torchscript(agent.export(tmp_path / "md.ts", "torchscript"), obs)
    np.testing.assert_array_equal(action, agent.predict(obs, deterministic=True))
    assert logits.shape == (5, 7)  # nvec (3, 4)
    np.testing.assert_array_equal(action[:, 0], logits[:, :3].argmax(1))
    np.testing.assert_array_equal(action[:, 1], logits[:, 3:].argmax(1))
    for block in (logits[:, :3], logits[:, 3:]):  # each sub-action's log-probabilities
        np.testing.assert_allclose(np.exp(block).sum(1), 1.0, rtol=1e-5)


def test_onnx_export_of_unequal_sub_actions_is_quiet_and_takes_any_batch(tmp_path):
    """The CPU layout choice of policy_base.linear (≥ 256 rows) is not traced: it made a `batch <= 255` guard that the
    export's dynamic batch violated, and torch logged that failure (tens of lines) although the file worked. (In a
    fresh process: torch's log handler writes to the stderr it found at import, past pytest's capture.)"""
    ort = pytest.importorskip("onnxruntime")
    path = tmp_path / "md.onnx"
    code = ("import gymnasium as gym, numpy as np, reinforce\n"
            "from reinforce.export import export_policy\n"
            "o, a = gym.spaces.Box(-1, 1, (3,), np.float32), gym.spaces.MultiDiscrete([2, 3, 4])\n"
            f"export_policy(reinforce.make_policy(o, a, hidden_sizes=(8,)), o, a, {str(path)!r}, 'onnx')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Error" not in done.stderr, done.stderr[-2000:]
    obs = np.random.default_rng(0).standard_normal((300, 3)).astype(np.float32)
    action, logits = ort.InferenceSession(str(path)).run(None, {"obs": obs})
    assert action.shape == (300, 3) and logits.shape == (300, 9)


def test_cli_export_writes_both_formats_and_rejects_an_unknown_one(trained_runs, tmp_path, capsys):
    run = trained_runs["discrete"]
    assert main(["export", str(run), "--out", str(tmp_path / "p.onnx")]) == 0
    assert "outputs action, logits" in capsys.readouterr().out
    assert main(["export", str(run), "--format", "torchscript", "--out", str(tmp_path / "p.ts")]) == 0
    assert (tmp_path / "p.onnx").stat().st_size > 0 and (tmp_path / "p.ts").stat().st_size > 0
    with pytest.raises(SystemExit) as exc:
        main(["export", str(run), "--format", "tflite"])
    assert exc.value.code == 2
    agent = reinforce.load(run)
    with pytest.raises(ExportError, match="unknown export format 'tflite'"):
        export_policy(agent.policy, agent.env.single_observation_space, agent.env.single_action_space, tmp_path / "x", "tflite")


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_onnx_export_is_one_file_with_no_empty_data_beside_it(trained_runs, tmp_path, monkeypatch, capsys, kind):
    """`reinforce export RUN` writes policy.onnx alone (torch's exporter left an empty policy.onnx.data beside
    it); weights too large for one file go to a .data file the .onnx needs, never an empty one."""
    run = tmp_path / "run"
    shutil.copytree(trained_runs[kind], run)
    before = {p.name for p in run.iterdir()}
    assert main(["export", str(run)]) == 0
    assert {p.name for p in run.iterdir()} - before == {"policy.onnx"}
    (run / "policy.onnx.data").write_bytes(b"")  # an earlier export's leftover goes with the next export
    assert main(["export", str(run)]) == 0
    assert not (run / "policy.onnx.data").exists()
    obs = observations(reinforce.load(run))
    expected = run_onnx(run / "policy.onnx", obs)
    monkeypatch.setattr("reinforce.export.INLINE_WEIGHTS_LIMIT", 0)  # as if the weights were over 1 GiB
    assert main(["export", str(run), "--out", str(tmp_path / "big.onnx")]) == 0
    data = tmp_path / "big.onnx.data"
    assert not data.exists() or data.stat().st_size > 0
    for got, want in zip(run_onnx(tmp_path / "big.onnx", obs), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    capsys.readouterr()


def test_cli_export_names_the_input_dtype_a_bool_image_policy_wants(trained_runs, tmp_path, capsys):
    """A bool image space (MinAtar's) exports a graph that takes bool, not uint8 or float32: the CLI says so."""
    run = reinforce.train("minatar-breakout", tmp_path / "grid", env_id="tests/BoolGrid-v0", epochs=1, num_envs=2,
                          steps_per_rollout=8, quiet=True, tensorboard=False)
    assert main(["export", str(run)]) == 0
    assert "input obs: bool (N, 10, 10, 4), outputs action, logits" in capsys.readouterr().out
    session = ort.InferenceSession(str(run / "policy.onnx"))
    assert session.get_inputs()[0].type == "tensor(bool)"
    obs = np.random.default_rng(0).random((5, 10, 10, 4)) < 0.1
    action, logits = session.run(None, {"obs": obs})
    np.testing.assert_array_equal(action, reinforce.load(run).predict(obs, deterministic=True))
    np.testing.assert_allclose(np.exp(logits).sum(1), 1.0, rtol=1e-5)  # Discrete: log-probabilities
    with pytest.raises(Exception, match="expected: \\(tensor\\(bool\\)\\)"):
        session.run(None, {"obs": obs.astype(np.uint8)})
    assert main(["export", str(trained_runs["continuous"]), "--out", str(tmp_path / "pendulum.onnx")]) == 0
    assert "input obs: float32 (N, 3), outputs action, mean, log_std" in capsys.readouterr().out


def test_multi_binary_logits_are_each_bits_log_odds(tmp_path):
    env = reinforce.make_vec_env("tests/MultiBinaryMDP-v0", num_envs=2, seed=0)
    policy = reinforce.make_policy(env.single_observation_space, env.single_action_space, hidden_sizes=(8,))
    agent = reinforce.Reinforce(env, policy, steps_per_rollout=1)
    obs = np.random.default_rng(2).standard_normal((6, 2)).astype(np.float32)
    action, logits = run_onnx(agent.export(tmp_path / "mb.onnx"), obs)
    np.testing.assert_allclose(1 / (1 + np.exp(-logits)), policy.pi(torch.as_tensor(obs)).probs.detach().numpy(), atol=1e-6)
    np.testing.assert_array_equal(action, (logits > 0).astype(np.float32))
    np.testing.assert_array_equal(action, agent.predict(obs, deterministic=True))
