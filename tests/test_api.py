"""The public API: train / load / evaluate, Reinforce.learn / predict / save, from_env, seeding, lazy import."""
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

import reinforce
from reinforce.cli import main

SMALL = dict(num_envs=4, steps_per_rollout=32, epochs=3)


def five_lines(seed: int = 0) -> list[dict]:
    env = reinforce.make_vec_env("CartPole-v0", num_envs=8, seed=seed)
    policy = reinforce.CategoricalPolicy(obs_dim=4, n_actions=2)
    agent = reinforce.Reinforce(env, policy, lr=0.1, gamma=0.99, steps_per_rollout=50)
    return agent.learn(epochs=3)


def without_time(history):
    return [{k: v for k, v in m.items() if k not in ("time/wall_s", "time/steps_per_s")} for m in history]


def test_readme_five_lines_give_the_same_numbers_every_run():
    torch.manual_seed(123)  # whatever the global state was before, make_vec_env(seed=...) reseeds it
    first = without_time(five_lines())
    torch.manual_seed(456)
    assert without_time(five_lines()) == first
    assert without_time(five_lines(seed=1)) != first


def test_train_writes_a_run_and_two_runs_of_one_seed_match(tmp_path):
    a = reinforce.train("cartpole", tmp_path / "a", tensorboard=False, **SMALL)
    b = reinforce.train(reinforce.preset("cartpole"), tmp_path / "b", tensorboard=False, **SMALL)
    assert a == tmp_path / "a" and (a / "checkpoint.pt").exists() and (a / "policy.pt").exists()
    assert not (a / "curve.png").exists()  # the CLI draws plots, the library does not
    strip = lambda p: [line.split(",")[:1] + line.split(",")[4:] for line in (p / "metrics.csv").read_text().splitlines()]  # noqa: E731
    assert strip(a) == strip(b)  # time columns (1..3) aside


def test_train_without_out_picks_a_fresh_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = reinforce.train("cartpole", tensorboard=False, **SMALL)
    second = reinforce.train("cartpole", tensorboard=False, **SMALL)
    assert first == tmp_path.joinpath("runs", "cartpole-seed0").relative_to(tmp_path)
    assert second.name == "cartpole-seed0-2" and (first / "metrics.csv").exists()


def test_load_from_run_folder_and_from_saved_file_predicts_like_the_original(tmp_path):
    run = reinforce.train("cartpole", tmp_path / "run", tensorboard=False, normalize_observations=True, **SMALL)
    agent = reinforce.load(run)
    assert agent.epoch == 3 and agent.policy.obs_normalizer.count > 0
    obs = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    saved = agent.save(tmp_path / "agent.pt")
    again = reinforce.load(saved)
    assert np.array_equal(again.predict(obs, deterministic=True), agent.predict(obs, deterministic=True))
    assert again.epoch == agent.epoch and again.env_steps == agent.env_steps


def test_an_agent_on_a_native_env_saves_and_loads(tmp_path):
    env = reinforce.make_vec_env("CartPole-v1", num_envs=4, seed=0)  # the native batched env
    agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), lr=0.1, steps_per_rollout=8)
    agent.learn(epochs=2)
    again = reinforce.load(agent.save(tmp_path / "a.pt"))
    assert again.describe().env_id == "CartPole-v1" and again.epoch == 2
    obs = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
    assert np.array_equal(again.predict(obs, deterministic=True), agent.predict(obs, deterministic=True))


def test_predict_takes_numpy_or_torch_one_observation_or_a_batch():
    env = reinforce.make_vec_env("Pendulum-v1", num_envs=2, seed=0)
    agent = reinforce.Reinforce(env, reinforce.make_policy(env.single_observation_space, env.single_action_space))
    one, batch = np.zeros(3, np.float32), np.zeros((5, 3), np.float32)
    assert isinstance(agent.predict(one), np.ndarray) and agent.predict(one).shape == (1,)
    assert agent.predict(batch).shape == (5, 1)
    assert isinstance(agent.predict(torch.zeros(5, 3)), torch.Tensor)
    mean = agent.policy.mu(torch.zeros(1, 3))[0].detach().numpy()
    np.testing.assert_allclose(agent.predict(one, deterministic=True), mean, rtol=1e-6)  # the mode


def test_predict_checks_and_encodes_torch_input_as_numpy_input():
    """A tensor is encoded and shape-checked as an array is (it used to be reshaped: 8 values gave two CartPole
    observations' worth and half was dropped); Discrete observations must be states of the space."""
    env = reinforce.make_vec_env("CartPole-v1", num_envs=2, seed=0)
    agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2))
    for bad in (torch.zeros(8), torch.zeros(3, 8), torch.zeros(2, 2), torch.zeros(5)):
        with pytest.raises(ValueError, match="do not match the space"):
            agent.predict(bad)
    assert agent.predict(torch.zeros(3, 4)).shape == (3,) and agent.predict(torch.zeros(4)).shape == ()
    taxi = reinforce.make_vec_env("Taxi-v4", num_envs=2, seed=0)
    agent = reinforce.Reinforce(taxi, reinforce.make_policy(taxi.single_observation_space, taxi.single_action_space))
    torch.manual_seed(0)
    by_tensor = agent.predict(torch.tensor([3, 499]), deterministic=True)  # one-hot, as in training
    assert by_tensor.tolist() == agent.predict(np.array([3, 499]), deterministic=True).tolist()
    for bad in (-1, 2.5, 500):
        with pytest.raises(ValueError, match=rf"observation values \[{bad}\] are not in Discrete\(500\)"):
            agent.predict(bad)


def test_learn_total_steps_progress_and_log_dir(tmp_path, capsys):
    env = reinforce.make_vec_env("CartPole-v1", num_envs=4, seed=0)
    agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), steps_per_rollout=10)
    history = agent.learn(total_steps=100, progress=True, log_dir=tmp_path / "logs")
    assert len(history) == 3 and history[-1]["time/env_steps"] == 120  # ceil(100 / 40) epochs
    assert (tmp_path / "logs" / "metrics.csv").read_text().count("\n") == 4
    assert "3/3" in capsys.readouterr().err  # the progress bar
    with pytest.raises(ValueError, match="either epochs or total_steps"):
        agent.learn(epochs=1, total_steps=10)
    agent.learn(2, log_dir=tmp_path / "logs")  # the same agent goes on: its rows follow
    assert (tmp_path / "logs" / "metrics.csv").read_text().count("\n") == 6
    other = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), steps_per_rollout=10)
    with pytest.raises(ValueError, match=r"already holds 5 epochs of a run this agent \(at epoch 0\) does not continue"):
        other.learn(1, log_dir=tmp_path / "logs")  # another run would be appended to this one's log
    assert (tmp_path / "logs" / "metrics.csv").read_text().count("\n") == 6


def test_evaluate_an_agent_or_a_run_folder(tmp_path):
    run = reinforce.train("cartpole", tmp_path / "run", tensorboard=False, **SMALL)
    by_path = reinforce.evaluate(run, episodes=6, deterministic=True)
    by_agent = reinforce.evaluate(reinforce.load(run), episodes=6, deterministic=True)
    assert set(by_path) == {f"{a}_{b}" for a in ("return", "length") for b in ("mean", "std", "min", "max")}
    assert by_path["return_mean"] == by_agent["return_mean"]  # same policy, same default evaluation seed
    assert by_path["return_min"] <= by_path["return_mean"] <= by_path["return_max"]


def test_evaluate_on_another_id_a_saved_file_or_an_env_of_ones_own(tmp_path):
    """env_id is used (CartPole-v0's run on v1, the same physics: the same numbers; an unknown id is refused), a file
    from agent.save outside any run folder is evaluated from the config inside it, and an agent whose env was given
    as an object is evaluated with env_id= or env= (its own Config cannot rebuild that env)."""
    run = reinforce.train("cartpole", tmp_path / "run", tensorboard=False, **SMALL)
    own = reinforce.evaluate(run, episodes=4)
    assert reinforce.evaluate(run, env_id="CartPole-v1", episodes=4) == own
    with pytest.raises(ValueError, match="unknown environment id 'NoSuchEnv-v0'"):
        reinforce.evaluate(run, env_id="NoSuchEnv-v0", episodes=4)
    agent = reinforce.load(run)
    with pytest.raises(ValueError, match="policy takes 4 observation values .* env has 6"):
        reinforce.evaluate(agent, env_id="Acrobot-v1", episodes=2)
    for bad in (0, "3"):
        with pytest.raises(ValueError, match="episodes must be >= 1"):
            reinforce.evaluate(agent, episodes=bad)
    saved = agent.save(tmp_path / "elsewhere" / "agent.pt")
    assert reinforce.evaluate(saved, episodes=4) == own

    given = reinforce.from_env(gym.make("CartPole-v1"), seed=0)
    mine = reinforce.Reinforce(given, reinforce.CategoricalPolicy(4, 2))
    with pytest.raises(ValueError, match=r"given as an object.*evaluate\(agent, env=...\) or env_id"):
        reinforce.evaluate(mine, episodes=2)
    with pytest.raises(ValueError, match="given as an object"):
        mine.save(tmp_path / "mine.pt")
    assert reinforce.evaluate(mine, env_id="CartPole-v1", episodes=3)["length_min"] >= 1
    other = reinforce.from_env(gym.make("CartPole-v1"), seed=1)
    assert reinforce.evaluate(mine, env=other, episodes=3)["length_min"] >= 1
    other.reset()  # left open for its owner


def test_an_agent_remembers_its_envs_wrappers_and_refuses_kwargs_it_cannot_save(tmp_path):
    """make_vec_env's wrappers reach describe(), evaluation and a saved file (a 10-step time limit: every evaluated
    episode lasts 10 steps); env_kwargs, which a Config does not hold, make saving refuse rather than lose them."""
    env = reinforce.make_vec_env("CartPole-v1", 4, seed=0, wrappers=["TimeLimit(max_episode_steps=10)"])
    agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), steps_per_rollout=16)
    assert agent.describe().wrappers == ("TimeLimit(max_episode_steps=10)",) and agent.describe().backend == "auto"
    assert reinforce.evaluate(agent, episodes=4)["length_max"] == 10
    assert reinforce.load(agent.save(tmp_path / "a.pt")).describe().wrappers == ("TimeLimit(max_episode_steps=10)",)
    env = reinforce.make_vec_env("CartPole-v1", 2, seed=0, env_kwargs={"sutton_barto_reward": True})
    with pytest.raises(ValueError, match=r"made with env_kwargs \(sutton_barto_reward\).*gymnasium.register"):
        reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2)).save(tmp_path / "b.pt")


def test_reinforce_names_what_it_takes():
    env = reinforce.make_vec_env("CartPole-v1", 2, seed=0)
    with pytest.raises(TypeError, match="takes a vector env .* and a policy module .* got TorchCartPoleV1 and NoneType"):
        reinforce.Reinforce(env, None)
    with pytest.raises(TypeError, match=r"options must be a ReinforceOptions or a Config, got float 0.1.*lr=0.1"):
        reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), 0.1)


def test_from_env_trains_on_a_users_own_wrapped_env():
    user_env = gym.wrappers.TransformReward(gym.make("CartPole-v1"), lambda r: 2 * r)
    env = reinforce.from_env(user_env, seed=0)
    agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), steps_per_rollout=40)
    metrics = agent.learn(epochs=1)[0]
    assert metrics["rollout/ep_return_mean"] == pytest.approx(2 * metrics["rollout/ep_len_mean"])


def test_options_have_one_home():
    cfg = reinforce.Config(lr=0.05, baseline="gae")
    assert cfg.options == reinforce.ReinforceOptions(lr=0.05, baseline="gae")
    assert reinforce.ReinforceOptions().lr == reinforce.Config().lr  # one default
    env = reinforce.make_vec_env("CartPole-v1", num_envs=2, seed=0)
    assert reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), cfg).options.baseline == "gae"
    for bad, word in (({"lr": float("inf")}, "lr"), ({"max_grad_norm": float("nan")}, "max_grad_norm"),
                      ({"value_iters": 0}, "value_iters"), ({"baseline": "gae", "returns": "total"}, "gae")):
        with pytest.raises(ValueError, match=word):
            reinforce.Config(**bad)


@pytest.mark.parametrize("argv", [["--env", "NoSuchEnv-v9"], ["--backend", "native", "--env", "FrozenLake-v1"]])
def test_a_failed_start_leaves_no_run_folder(tmp_path, capsys, argv):
    out = tmp_path / "run"
    assert main(["train", *argv, "--out", str(out), "--quiet"]) == 2
    assert not out.exists(), "a start that failed must not leave a half-made run folder"
    err = capsys.readouterr().err
    assert err.startswith("reinforce: error:") and err.count("\n") == 1


def test_import_and_help_do_not_load_torch():
    code = (
        "import sys, reinforce, reinforce.cli\n"
        "assert 'torch' not in sys.modules, 'import reinforce loaded torch'\n"
        "import gymnasium; gymnasium.spec('reinforce/CartPoleSwingUp-v0')\n"  # env ids registered on import
        "try:\n    reinforce.cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, '--help loaded torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
