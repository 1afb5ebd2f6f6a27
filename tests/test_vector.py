"""The VecEnv surface (reinforce.envs.vector): seeds, state_dict / load_state_dict, from_env, env_actions."""
from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

from reinforce.envs.vector import env_actions, from_env, make_vec_env

SAME_STEP = {"autoreset_mode": AutoresetMode.SAME_STEP}


def _steps(env, n: int, seed: int = 0) -> list[torch.Tensor]:
    """n steps of random CartPole actions: every returned tensor, final_obs included."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        obs, rew, term, trunc, info = env.step(torch.randint(0, 2, (env.num_envs,), generator=g))
        out += [obs, rew, term, trunc, info["final_obs"]]
    return out


def _same(xs, ys) -> bool:
    return all(torch.equal(x, y) for x, y in zip(xs, ys, strict=True))


def _has_envpool() -> bool:
    try:
        import envpool  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------- state_dict
def test_native_state_round_trip_is_full():
    a = make_vec_env("CartPole-v1", 8, seed=0, backend="native")
    assert a.state_dict() is None  # nothing to save before the first reset
    a.reset(seed=a.seed)
    _steps(a, 30)
    state = a.state_dict()
    assert state["kind"] == "full"
    want = _steps(a, 80, seed=1)  # crosses episode ends: the generator state matters

    b = make_vec_env("CartPole-v1", 8, seed=123, backend="native")
    assert b.load_state_dict(state) == "full"
    assert _same(_steps(b, 80, seed=1), want)
    assert b.load_state_dict(None) == "none"
    assert b.load_state_dict({"kind": "rng", "np_random": "[]"}) == "none"  # another backend's state


def test_sync_state_round_trip_restores_the_random_streams():
    a = make_vec_env("CartPole-v1", 3, seed=0, backend="sync")
    a.reset(seed=a.seed)
    _steps(a, 25)
    state = a.state_dict()
    assert state["kind"] == "rng" and isinstance(state["np_random"], str)
    obs_a, _ = a.reset()  # a rollout that starts from a reset depends only on the saved generators
    want = _steps(a, 60, seed=2)

    b = make_vec_env("CartPole-v1", 3, seed=99, backend="sync")
    assert b.load_state_dict(state) == "rng"
    obs_b, _ = b.reset()
    assert torch.equal(obs_a, obs_b)
    assert _same(_steps(b, 60, seed=2), want)
    assert b.load_state_dict(None) == "none"
    with pytest.raises(ValueError, match="saved env state is for 3 envs"):
        make_vec_env("CartPole-v1", 2, backend="sync").load_state_dict(state)
    a.close()
    b.close()


@pytest.mark.skipif(not _has_envpool(), reason="envpool not installed")
def test_envpool_saves_nothing():
    env = make_vec_env("CartPole-v1", 2, seed=0, backend="envpool")
    env.reset()
    assert env.state_dict() is None and env.load_state_dict(None) == "none"


# ---------------------------------------------------------------------------- seeds
@pytest.mark.parametrize("backend", ["native", "sync", pytest.param("envpool", marks=pytest.mark.skipif(
    not _has_envpool(), reason="envpool not installed"))])
def test_env_exposes_its_first_reset_seed(backend):
    env = make_vec_env("CartPole-v1", 2, seed=7, backend=backend)
    assert env.seed == 7 and not hasattr(env, "first_reset_seed")
    assert make_vec_env("CartPole-v1", 2, backend=backend).seed is None
    # The same seed gives the same first observations.
    again = make_vec_env("CartPole-v1", 2, seed=7, backend=backend)
    assert torch.equal(env.reset(seed=env.seed)[0], again.reset(seed=again.seed)[0])


def test_make_vec_env_seeds_torch():
    make_vec_env("CartPole-v1", 2, seed=4)
    x = torch.rand(5)
    make_vec_env("CartPole-v1", 2, seed=4, backend="sync")
    assert torch.equal(torch.rand(5), x)
    make_vec_env("CartPole-v1", 2, seed=5)
    assert not torch.equal(torch.rand(5), x)


def test_num_envs_checked():
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="num_envs must be"):
            make_vec_env("CartPole-v1", bad)


@pytest.mark.parametrize("kwargs, message", [
    (dict(seed="a"), r"seed must be >= 0 \(an integer\), got 'a'"),
    (dict(seed=-1), r"seed must be >= 0 \(an integer\), got -1"),
    (dict(device="tpu"), "unknown device 'tpu'; use cpu, cuda, cuda:N or mps"),
    (dict(device="cuda:7"), "device 'cuda:7' is not available"),
    (dict(backend="native", env_kwargs={"sutton_barto_reward": True}),
     "native CartPole-v1 takes no sutton_barto_reward .*use backend 'sync'"),
])
def test_bad_make_vec_env_arguments_give_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_vec_env("CartPole-v1", 2, **kwargs)


def test_box_actions_reach_native_and_gymnasium_envs_clipped_alike():
    """The README's rule, on every backend: only the copy sent to the env is clipped. MountainCarContinuous charges
    0.1·a² of what it gets (its reward does not depend on the start, which the two backends draw differently), so a
    native env stepped with the raw action paid 0.9 where Gymnasium's paid 0.1."""
    rewards = {}
    for backend in ("native", "sync"):
        env = make_vec_env("MountainCarContinuous-v0", 2, seed=0, backend=backend)
        env.reset()
        rewards[backend] = env.step(torch.tensor([[3.0], [-3.0]]))[1]
        env.close()
    assert rewards["native"].tolist() == pytest.approx([-0.1, -0.1]) and rewards["sync"].tolist() == pytest.approx([-0.1, -0.1])


def test_make_vec_env_keeps_the_vecenv_contract_for_native_kwargs():
    """float32 observations only (dtype float64 is for parity checks of make_native), and max_episode_steps=None
    is the registered limit on every backend, as gymnasium.make reads it."""
    with pytest.raises(ValueError, match="dtype torch.float64 is for checking a native env"):
        make_vec_env("CartPole-v1", 2, env_kwargs={"dtype": torch.float64})
    for backend in ("native", "sync"):
        env = make_vec_env("Pendulum-v1", 1, seed=0, backend=backend, env_kwargs={"max_episode_steps": None})
        env.reset()
        truncated = [bool(env.step(torch.zeros(1, 1))[3][0]) for _ in range(201)]
        assert truncated.index(True) == 199, backend
        env.close()


def test_env_kwargs_pick_the_backend_that_takes_them_and_are_remembered():
    """Kwargs the native env takes keep it (Pendulum's g); one only Gymnasium's takes sends "auto" to sync."""
    native = make_vec_env("Pendulum-v1", 2, seed=0, env_kwargs={"g": 9.81})
    assert type(native).__name__ == "TorchPendulumV1" and native.made_with["env_kwargs"] == {"g": 9.81}
    gym_env = make_vec_env("CartPole-v1", 2, seed=0, env_kwargs={"sutton_barto_reward": True})
    assert gym_env.env.get_attr("_sutton_barto_reward") == (True, True)
    assert gym_env.made_with == {"backend": "auto", "wrappers": (), "env_kwargs": {"sutton_barto_reward": True}}
    gym_env.close()


# ---------------------------------------------------------------------------- from_env
def test_from_env_wraps_a_single_env_like_make_vec_env():
    ours = from_env(gym.make("CartPole-v1"), seed=3)
    ref = make_vec_env("CartPole-v1", 1, seed=3, backend="sync")
    assert ours.num_envs == 1 and ours.seed == 3
    assert ours.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert torch.equal(ours.reset(seed=ours.seed)[0], ref.reset(seed=ref.seed)[0])
    got, want = _steps(ours, 120), _steps(ref, 120)
    assert _same(got, want)
    dones = torch.stack(got[2::5]) | torch.stack(got[3::5])
    assert dones.any()  # an episode ended: the reset obs came back in the same step
    t = int(dones.nonzero()[0, 0])
    obs, final = got[5 * t], got[5 * t + 4]
    assert obs.abs().max() <= 0.05 and not torch.equal(obs, final)
    # torch's global generator is seeded like make_vec_env does
    from_env(gym.make("CartPole-v1"), seed=11)
    x = torch.rand(3)
    torch.manual_seed(11)
    assert torch.equal(torch.rand(3), x)


def test_from_env_takes_a_same_step_vector_env_and_refuses_next_step():
    vec = gym.make_vec("Pendulum-v1", num_envs=3, vector_kwargs=SAME_STEP)
    env = from_env(vec, seed=0, device="cpu")
    obs, _ = env.reset(seed=env.seed)
    assert obs.shape == (3, 3) and obs.dtype == torch.float32
    obs, rew, term, trunc, info = env.step(torch.zeros(3, 1))
    assert torch.equal(info["final_obs"], obs)  # nothing ended: final_obs is the obs
    env.close()
    with pytest.raises(ValueError, match=r"SAME_STEP.*gym\.make_vec\(.*AutoresetMode\.SAME_STEP"):
        from_env(gym.make_vec("CartPole-v1", num_envs=2))  # Gymnasium's default: NEXT_STEP


class _TextOnlyEnv(gym.Env):
    observation_space = gym.spaces.Text(8)
    action_space = gym.spaces.Discrete(2)


def test_from_env_rejects_what_it_cannot_learn_on():
    with pytest.raises(TypeError, match="unsupported observation space Text"):
        from_env(_TextOnlyEnv())  # nothing a policy can read
    with pytest.raises(TypeError, match="gymnasium Env or VectorEnv"):
        from_env("CartPole-v1")


# ---------------------------------------------------------------------------- actions
def test_env_actions_clips_box_actions_only_on_the_way_out():
    box = gym.spaces.Box(-2.0, 2.0, shape=(1,), dtype=np.float32)
    sample = torch.tensor([[3.0], [-5.0], [0.5]], requires_grad=True)
    out = env_actions(sample, box)
    assert out.dtype == np.float32 and out.shape == (3, 1)
    np.testing.assert_array_equal(out, [[2.0], [-2.0], [0.5]])
    assert sample[0, 0].item() == 3.0  # the policy's sample is untouched
    np.testing.assert_array_equal(env_actions(torch.tensor([3.0, -5.0]), box), [[2.0], [-2.0]])  # (E,) -> (E, 1)
    two = gym.spaces.Box(np.array([-1.0, 0.0], dtype=np.float32), np.array([1.0, 0.5], dtype=np.float32))
    np.testing.assert_array_equal(env_actions(torch.tensor([[2.0, 2.0], [-2.0, -2.0]]), two), [[1.0, 0.5], [-1.0, 0.0]])
    disc = env_actions(torch.tensor([1, 0, 1]), gym.spaces.Discrete(2))
    assert disc.dtype == np.int64 and disc.tolist() == [1, 0, 1]


def test_gymnasium_adapter_sends_clipped_actions():
    a = make_vec_env("Pendulum-v1", 2, seed=0, backend="sync")
    b = make_vec_env("Pendulum-v1", 2, seed=0, backend="sync")
    a.reset(seed=0)
    b.reset(seed=0)
    ra = a.step(torch.tensor([[9.0], [-9.0]]))
    rb = b.step(torch.tensor([[2.0], [-2.0]]))
    assert torch.equal(ra[0], rb[0]) and torch.equal(ra[1], rb[1])
