"""Tests for the native batched torch environments (reinforce.envs.native)."""
from __future__ import annotations

import math

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.envs.classic_control import CartPoleEnv, PendulumEnv
from gymnasium.wrappers import TimeLimit

from reinforce.envs.native import (
    NATIVE_ENVS,
    TorchCartPoleSwingUpV0,
    TorchVectorEnv,
    make_native,
)
from reinforce.envs.swingup import DEFAULT_PARAMS, CartPoleSwingUpEnv, SwingUpParams

ALL_IDS = list(NATIVE_ENVS)
F64 = torch.float64


# ---------------------------------------------------------------------------- references
def _make_reference(env_id: str) -> gymnasium.Env:
    if env_id.startswith("reinforce/CartPoleSwingUp"):
        return CartPoleSwingUpEnv(reward_version=env_id[-2:])
    if env_id.startswith("CartPole"):  # (gymnasium.make("CartPole-v0") logs a deprecation notice)
        return CartPoleEnv()
    return PendulumEnv()


def _obs_from_state(env_id: str, s: np.ndarray) -> np.ndarray:
    """Float64 observation the reference would emit before its float32 cast."""
    s = np.asarray(s, dtype=np.float64)
    if env_id.startswith("CartPole"):
        return s.copy()
    if env_id == "Pendulum-v1":
        return np.array([np.cos(s[0]), np.sin(s[0]), s[1]])
    return np.array([s[0], s[1], np.cos(s[2]), np.sin(s[2]), s[3]])


def _actions(env_id: str, rng: np.random.Generator, E: int, state: np.ndarray) -> np.ndarray:
    if env_id.startswith("CartPole"):
        # A crude balancing controller (env 0: pure, 2: 10% random actions; 1: all random):
        # long episodes (truncations) in some envs, quick failures (terminations) in others.
        ctrl = (state[:, 2] + 0.5 * state[:, 3] > 0).astype(np.int64)
        rand = rng.integers(0, 2, E)
        explore = rng.random(E) < np.array([0.0, 1.0, 0.1])[np.arange(E) % 3]
        return np.where(explore, rand, ctrl)
    if env_id == "Pendulum-v1":
        return rng.uniform(-2.5, 2.5, (E, 1))  # outside [-2, 2] sometimes: exercises clipping
    a = rng.uniform(-1.3, 1.3, (E, 1))
    a[0] = rng.uniform(0.6, 1.5)  # env 0 pushes right: runs off the track -> terminations
    return a


def _sync(ref: TimeLimit, env_id: str, s: np.ndarray) -> None:
    ref.reset(seed=0)  # also restarts the TimeLimit counter
    ref.unwrapped.state = np.array(s, dtype=np.float64)


# ---------------------------------------------------------------------------- parity
PARITY_CASES = [
    # env_id, num_envs, steps, max_episode_steps (None: env default)
    ("CartPole-v0", 4, 450, None),
    ("CartPole-v1", 6, 300, 30),
    ("CartPole-v1", 3, 560, None),
    ("Pendulum-v1", 3, 420, None),
    ("reinforce/CartPoleSwingUp-v0", 3, 530, None),
    ("reinforce/CartPoleSwingUp-v1", 3, 300, 120),
]


@pytest.mark.parametrize(("env_id", "E", "T", "max_steps"), PARITY_CASES)
def test_parity_with_reference(env_id, E, T, max_steps):
    kw = {} if max_steps is None else {"max_episode_steps": max_steps}
    env = make_native(env_id, E, seed=123, dtype=F64, **kw)
    limit = env.max_episode_steps
    assert limit == (max_steps or gymnasium.spec(env_id).max_episode_steps)
    refs = [TimeLimit(_make_reference(env_id), max_episode_steps=limit) for _ in range(E)]
    rng = np.random.default_rng(7)

    obs, _ = env.reset()
    S = env.get_state()["state"].numpy()
    np.testing.assert_allclose(obs.numpy(), np.stack([_obs_from_state(env_id, s) for s in S]), atol=1e-12)
    for i in range(E):
        _sync(refs[i], env_id, S[i])

    n_term = n_trunc = 0
    for _ in range(T):
        acts = _actions(env_id, rng, E, S)
        obs, rew, term, trunc, info = env.step(torch.as_tensor(acts))
        assert obs.dtype == rew.dtype == F64 and term.dtype == trunc.dtype == torch.bool
        final = info["final_obs"].numpy()
        S = env.get_state()["state"].numpy()
        steps = env.get_state()["steps"].numpy()
        for i in range(E):
            a = int(acts[i]) if env_id.startswith("CartPole") else acts[i]
            o_ref, r_ref, te_ref, tr_ref, _ = refs[i].step(a)
            s_ref = refs[i].unwrapped.state
            np.testing.assert_allclose(final[i], _obs_from_state(env_id, s_ref), rtol=0, atol=1e-12)
            np.testing.assert_allclose(final[i], o_ref, rtol=1e-6, atol=1e-6)  # reference float32 obs
            assert abs(float(rew[i]) - float(r_ref)) <= 1e-12
            assert bool(term[i]) == bool(te_ref)
            assert bool(trunc[i]) == (bool(tr_ref) and not bool(te_ref))
            if te_ref or tr_ref:
                n_term += bool(te_ref)
                n_trunc += bool(trunc[i])
                assert steps[i] == 0
                np.testing.assert_allclose(obs[i].numpy(), _obs_from_state(env_id, S[i]), atol=1e-12)
                _sync(refs[i], env_id, S[i])  # continue from the native env's fresh state
            else:
                assert torch.equal(obs[i], info["final_obs"][i])
                assert steps[i] == refs[i]._elapsed_steps
                np.testing.assert_allclose(S[i], s_ref, rtol=0, atol=1e-12)
                # Re-sync to the native state: sin/cos (and operation order) differ from NumPy's
                # in the last ulp, and the balanced cart-pole / swing-up amplify such differences
                # over hundreds of steps; re-syncing keeps the one-step comparison at 1e-12.
                refs[i].unwrapped.state = S[i].copy()
    if env_id != "Pendulum-v1":
        assert n_term >= 2, "case should exercise terminations"
    assert n_trunc >= 1, "case should exercise truncations"


def test_swingup_takes_the_gymnasium_envs_params():
    """One set of constants: the torch swing-up uses the Gymnasium env's `SwingUpParams`, default and custom."""
    env = make_native("reinforce/CartPoleSwingUp-v0", 2)
    assert env.params is DEFAULT_PARAMS
    ref = _make_reference("reinforce/CartPoleSwingUp-v0")
    assert env.single_observation_space == ref.observation_space
    assert env.single_action_space == ref.action_space
    # Custom constants reach the physics, the termination and the reset alike.
    params = SwingUpParams(gravity=9.81, pole_length=0.8, force_mag=5.0, dt=0.02, friction=0.3, x_threshold=1.0)
    env = TorchCartPoleSwingUpV0(3, seed=0, dtype=F64, params=params)
    ref = CartPoleSwingUpEnv(params=params)
    assert np.array_equal(env.single_observation_space.high, ref.observation_space.high)
    env.reset()
    s = env.get_state()["state"]
    s[2] = torch.tensor([0.99, 2.0, 0.3, -1.0], dtype=F64)  # crosses x_threshold = 1.0 this step
    env.set_state({"state": s, "steps": env.get_state()["steps"]})
    a = torch.tensor([[0.7], [-2.0], [0.4]], dtype=F64)
    _, rew, term, _, info = env.step(a)
    for i in range(3):
        ref.reset(options={"state": s[i].numpy()})
        o_ref, r_ref, te_ref, _, _ = ref.step(a[i].numpy())
        np.testing.assert_allclose(info["final_obs"][i].numpy(), o_ref, rtol=1e-6, atol=1e-6)
        assert abs(float(rew[i]) - r_ref) <= 1e-12 and bool(term[i]) == te_ref
    assert term.tolist() == [False, False, True]


@pytest.mark.parametrize(
    "env_id", ["CartPole-v1", "Pendulum-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0"]
)
def test_spaces_match_gymnasium(env_id):
    ref = gymnasium.make(env_id)
    env = make_native(env_id, 5)
    assert env.single_observation_space == ref.observation_space
    assert env.single_action_space == ref.action_space
    assert env.observation_space.shape == (5, *ref.observation_space.shape)
    assert env.max_episode_steps == ref.spec.max_episode_steps


# ---------------------------------------------------------------------------- autoreset
def test_autoreset_by_selection_cartpole():
    E = 6
    env = make_native("CartPole-v1", E, seed=0, dtype=F64, max_episode_steps=50)
    env.reset()
    st = env.get_state()
    s = st["state"].clone()
    s[0] = torch.tensor([2.39, 3.0, 0.0, 0.0], dtype=F64)  # runs off the track this step
    s[1] = torch.tensor([0.0, 0.0, -0.2, -2.0], dtype=F64)  # pole falls this step
    steps = torch.tensor([0, 3, 49, 10, 49, 0], dtype=torch.int32)  # 2 and 4 hit the limit
    s[4] = s[0]  # terminates *and* hits the limit: terminated, not truncated
    env.set_state({"state": s, "steps": steps, "rng": st["rng"]})
    obs, rew, term, trunc, info = env.step(torch.zeros(E, dtype=torch.long))

    assert term.tolist() == [True, True, False, False, True, False]
    assert trunc.tolist() == [False, False, True, False, False, False]
    done = term | trunc
    final = info["final_obs"]
    assert final[0, 0] > 2.4 and final[1, 2] < -0.2095 and final[4, 0] > 2.4
    assert torch.equal(obs[~done], final[~done])  # untouched envs: plain continuation
    assert torch.all(obs[done].abs() <= 0.05)  # fresh reset states
    assert not torch.equal(obs[done], final[done])
    assert torch.equal(env.get_state()["state"], obs)
    assert env.elapsed_steps.tolist() == [0, 0, 0, 11, 0, 1]
    assert torch.equal(rew, torch.ones(E, dtype=F64))


@pytest.mark.parametrize(
    "env_id",
    ["Pendulum-v1", "reinforce/CartPoleSwingUp-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0"],
)
def test_autoreset_by_selection_time_limit(env_id):
    E = 5
    env = make_native(env_id, E, seed=1, max_episode_steps=7)
    obs0, _ = env.reset()
    a = torch.zeros(E, 1)
    for _ in range(6):
        obs, _, term, trunc, info = env.step(a)
        assert not (term | trunc).any()
    before = env.get_state()["state"]
    obs, _, term, trunc, info = env.step(a)
    assert not term.any() and trunc.all()
    assert not torch.equal(obs, info["final_obs"])
    assert (env.elapsed_steps == 0).all()
    after = env.get_state()["state"]
    assert not torch.isclose(after, before).all(dim=1).any()


def test_reset_mask_option():
    env = make_native("CartPole-v1", 4, seed=0)
    env.reset()
    for _ in range(5):
        env.step(torch.ones(4, dtype=torch.long))
    before = env.get_state()
    mask = torch.tensor([True, False, True, False])
    obs, _ = env.reset(options={"reset_mask": mask})
    assert torch.equal(obs[~mask], before["state"][~mask])
    assert torch.all(obs[mask].abs() <= 0.05)
    assert env.elapsed_steps.tolist() == [0, 5, 0, 5]


def test_no_time_limit():
    env = make_native("Pendulum-v1", 3, seed=0, max_episode_steps=None)
    env.reset()
    for _ in range(250):
        _, _, term, trunc, _ = env.step(torch.zeros(3, 1))
        assert not term.any() and not trunc.any()
    assert env.elapsed_steps.tolist() == [250] * 3


# ---------------------------------------------------------------------------- seeding
def _random_actions(env: TorchVectorEnv, g: torch.Generator) -> torch.Tensor:
    if isinstance(env.single_action_space, gymnasium.spaces.Discrete):
        return torch.randint(0, int(env.single_action_space.n), (env.num_envs,), generator=g, device=g.device)
    return torch.rand((env.num_envs, 1), generator=g, device=g.device) * 2 - 1


def _rollout(env: TorchVectorEnv, n: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        a = _random_actions(env, g)
        obs, rew, term, trunc, info = env.step(a)
        out += [obs, rew, term, trunc, info["final_obs"]]
    return out


def _same(xs, ys) -> bool:
    return all(torch.equal(x, y) for x, y in zip(xs, ys, strict=True))


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_seeding(env_id):
    E, n = 16, 60
    a = make_native(env_id, E, seed=3, max_episode_steps=20)
    b = make_native(env_id, E, seed=3, max_episode_steps=20)
    c = make_native(env_id, E, seed=4, max_episode_steps=20)
    oa, ob, oc = a.reset()[0], b.reset()[0], c.reset()[0]
    assert torch.equal(oa, ob) and not torch.equal(oa, oc)
    ra, rb = _rollout(a, n), _rollout(b, n)
    assert _same(ra, rb)  # includes auto-resets (max 20 steps)
    # reset(seed=...) re-seeds: a fresh env and a used one agree afterwards.
    o1, _ = a.reset(seed=11)
    o2, _ = c.reset(seed=11)
    assert torch.equal(o1, o2)
    assert _same(_rollout(a, 30), _rollout(c, 30))
    # Without a seed, two envs differ.
    d, e = make_native(env_id, E), make_native(env_id, E)
    assert not torch.equal(d.reset()[0], e.reset()[0])


def test_reset_distributions():
    E = 8192
    s = make_native("CartPole-v1", E, seed=0).reset()[0]
    assert s.shape == (E, 4) and s.abs().max() <= 0.05
    assert torch.allclose(s.mean(0), torch.zeros(4), atol=0.003)
    assert torch.allclose(s.std(0), torch.full((4,), 0.1 / math.sqrt(12)), rtol=0.05)

    env = make_native("Pendulum-v1", E, seed=0)
    env.reset()
    th, thd = env.get_state()["state"].T
    assert th.abs().max() <= math.pi and thd.abs().max() <= 1.0
    assert th.min() < -3.0 and th.max() > 3.0 and thd.min() < -0.99 and thd.max() > 0.99
    assert torch.allclose(th.std(), torch.tensor(2 * math.pi / math.sqrt(12)), rtol=0.05)

    env = make_native("reinforce/CartPoleSwingUp-v0", E, seed=0)
    env.reset()
    st = env.get_state()["state"]
    assert torch.allclose(st.mean(0), torch.tensor([0.0, 0.0, math.pi, 0.0]), atol=0.01)
    assert torch.allclose(st.std(0), torch.full((4,), 0.2), rtol=0.05)


# ---------------------------------------------------------------------------- state capture
@pytest.mark.parametrize("env_id", ALL_IDS)
def test_get_set_state_round_trip(env_id):
    E = 32
    a = make_native(env_id, E, seed=5, max_episode_steps=25)
    a.reset()
    _rollout(a, 17, seed=1)
    snap = a.get_state()
    cont = _rollout(a, 40, seed=2)  # crosses auto-resets, so the RNG state matters

    b = make_native(env_id, E, seed=999, max_episode_steps=25)
    b.set_state(snap)
    assert _same(_rollout(b, 40, seed=2), cont)
    a.set_state(snap)  # rewind in place
    assert _same(_rollout(a, 40, seed=2), cont)
    # The snapshot is a copy: stepping did not modify it.
    b.set_state(snap)
    assert _same(_rollout(b, 40, seed=2), cont)


def test_set_state_validates_shapes():
    env = make_native("CartPole-v1", 3)
    env.reset()
    st = env.get_state()
    with pytest.raises(ValueError, match="state has shape"):
        env.set_state({**st, "state": st["state"][:2]})
    with pytest.raises(ValueError, match="steps has shape"):
        env.set_state({**st, "steps": st["steps"][:2]})


# ---------------------------------------------------------------------------- API details
@pytest.mark.parametrize("env_id", ALL_IDS)
def test_float32_default_large_batch(env_id):
    E = 4096
    env = make_native(env_id, E, seed=0)
    assert env.single_observation_space.dtype == np.float32
    assert env.metadata["autoreset_mode"] == gymnasium.vector.AutoresetMode.SAME_STEP
    assert env.env_id == env_id and env.num_envs == E and env.device == torch.device("cpu")
    obs, info = env.reset()
    assert obs.shape == (E, env.single_observation_space.shape[0]) and obs.dtype == torch.float32
    assert info == {}
    with torch.inference_mode():
        out = _rollout(env, 50)
    obs, rew, term, trunc, final = out[-5:]
    assert obs.dtype == rew.dtype == final.dtype == torch.float32
    assert rew.shape == term.shape == trunc.shape == (E,)
    assert term.dtype == trunc.dtype == torch.bool
    assert not (term & trunc).any()
    assert torch.isfinite(obs).all()
    assert env.observation_space.contains(obs.numpy())


def test_action_formats_cartpole():
    E = 4
    ref = make_native("CartPole-v1", E, seed=0)
    ref.reset()
    snap = ref.get_state()
    want = ref.step(torch.tensor([0, 1, 1, 0]))[0]
    for a in (
        torch.tensor([0, 1, 1, 0], dtype=torch.int32),
        torch.tensor([[0], [1], [1], [0]]),
        torch.tensor([0.0, 1.0, 1.0, 0.0]),
        torch.tensor([False, True, True, False]),
        np.array([0, 1, 1, 0]),
        [0, 1, 1, 0],
    ):
        ref.set_state(snap)
        assert torch.equal(ref.step(a)[0], want)


def test_action_formats_and_clipping_continuous():
    E = 3
    env = make_native("Pendulum-v1", E, seed=0)
    env.reset()
    snap = env.get_state()
    want = env.step(torch.tensor([[2.0], [-2.0], [0.5]]))
    for a in (torch.tensor([5.0, -9.0, 0.5]), np.array([[2.5], [-2.5], [0.5]]), torch.tensor([[2.0], [-3.0], [0.5]], dtype=F64)):
        env.set_state(snap)
        got = env.step(a)
        assert torch.equal(got[0], want[0]) and torch.equal(got[1], want[1])
    # actions that require grad do not leak autograd into the env
    env.set_state(snap)
    obs, rew, *_ = env.step(torch.zeros(E, 1, requires_grad=True))
    assert not obs.requires_grad and not rew.requires_grad


def test_inference_mode_then_normal_mode():
    env = make_native("reinforce/CartPoleSwingUp-v0", 8, seed=0, max_episode_steps=3)
    with torch.inference_mode():
        env.reset()
        env.step(torch.zeros(8, 1))
    for _ in range(4):  # state created under inference mode, stepped outside it
        obs, *_ = env.step(torch.zeros(8, 1))
    assert not obs.is_inference()


def test_returned_tensors_are_not_aliased():
    env = make_native("CartPole-v1", 4, seed=0)
    obs, _ = env.reset()
    obs.zero_()  # a caller normalising in place must not corrupt the env
    assert env.get_state()["state"].abs().sum() > 0
    obs2, _, _, _, info = env.step(torch.ones(4, dtype=torch.long))
    snap = env.get_state()["state"].clone()
    obs2.zero_()
    info["final_obs"].zero_()
    assert torch.equal(env.get_state()["state"], snap)


def test_make_native_and_registry():
    assert set(NATIVE_ENVS) == {
        "CartPole-v0",
        "CartPole-v1",
        "Pendulum-v1",
        "Acrobot-v1",
        "MountainCar-v0",
        "MountainCarContinuous-v0",
        "reinforce/CartPoleSwingUp-v0",
        "reinforce/CartPoleSwingUp-v1",
    }
    for env_id, ctor in NATIVE_ENVS.items():
        env = ctor(2)
        assert isinstance(env, TorchVectorEnv) and env.env_id == env_id
    assert make_native("CartPole-v0", 2).max_episode_steps == 200
    assert make_native("CartPole-v1", 2).max_episode_steps == 500
    assert make_native("Pendulum-v1", 2).max_episode_steps == 200
    assert make_native("Acrobot-v1", 2).max_episode_steps == 500
    assert make_native("MountainCar-v0", 2).max_episode_steps == 200
    assert make_native("MountainCarContinuous-v0", 2).max_episode_steps == 999
    assert make_native("reinforce/CartPoleSwingUp-v1", 2).max_episode_steps == 500
    with pytest.raises(ValueError, match="supported ids: .*CartPole-v1.*Pendulum-v1"):
        make_native("LunarLander-v3", 2)
    with pytest.raises(RuntimeError, match="reset"):
        make_native("CartPole-v1", 2).step(torch.zeros(2, dtype=torch.long))


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_render_rgb_array(env_id):
    env = make_native(env_id, 2, seed=0, render_mode="rgb_array")
    env.reset()
    env.step(_random_actions(env, torch.Generator().manual_seed(0)))
    frame = env.render()
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.min() < 255
    env.close()


def test_swingup_render_is_the_gymnasium_envs_drawing():
    """One rasteriser: the torch swing-up draws env 0 exactly as the Gymnasium env draws that state."""
    env = make_native("reinforce/CartPoleSwingUp-v1", 2, seed=0, dtype=F64, render_mode="rgb_array")
    env.reset()
    env.step(torch.full((2, 1), 0.8))
    ref = CartPoleSwingUpEnv(reward_version="v1", render_mode="rgb_array")
    ref.reset(options={"state": env.state[0].numpy()})
    np.testing.assert_array_equal(env.render(), ref.render())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("env_id", ALL_IDS)
def test_cuda(env_id):
    E = 1024
    env = make_native(env_id, E, device="cuda", seed=0, max_episode_steps=30)
    obs, _ = env.reset()
    assert obs.device.type == "cuda"
    g = torch.Generator(device="cuda").manual_seed(0)
    snap = None
    for t in range(60):
        if t == 20:
            snap = env.get_state()
        obs, rew, term, trunc, info = env.step(_random_actions(env, g))
        assert obs.device.type == rew.device.type == term.device.type == "cuda"
    assert torch.isfinite(obs).all()
    # CPU float64 and CUDA float64 agree on the dynamics over one step from the same state.
    cpu = make_native(env_id, E, seed=0, dtype=F64)
    gpu = make_native(env_id, E, device="cuda", seed=0, dtype=F64)
    cpu.reset()
    st = cpu.get_state()
    gpu.set_state({"state": st["state"], "steps": st["steps"]})
    discrete = isinstance(env.single_action_space, gymnasium.spaces.Discrete)
    a = torch.zeros(E, dtype=torch.long) if discrete else torch.full((E, 1), 0.3)
    fc = cpu.step(a)[4]["final_obs"]
    fg = gpu.step(a.cuda())[4]["final_obs"]
    torch.testing.assert_close(fg.cpu(), fc, rtol=0, atol=1e-12)
    # get_state/set_state (incl. the CUDA generator) round-trips on the device
    env.set_state(snap)
    assert env.get_state()["state"].device.type == "cuda"


def test_constructor_validation_and_time_limit_setter():
    with pytest.raises(ValueError, match="num_envs"):
        make_native("CartPole-v1", 0)
    with pytest.raises(ValueError, match="max_episode_steps"):
        make_native("CartPole-v1", 2, max_episode_steps=0)
    with pytest.raises(ValueError, match="dtype"):
        make_native("CartPole-v1", 2, dtype=torch.int64)
    with pytest.raises(ValueError, match="render_mode"):
        make_native("CartPole-v1", 2, render_mode="human")
    env = make_native("Pendulum-v1", 2, seed=0)
    env.reset()
    env.max_episode_steps = 3
    for t in range(3):
        _, _, _, trunc, _ = env.step(torch.zeros(2, 1))
    assert trunc.all()
    assert "Pendulum-v1" in repr(env)


def test_cpu_step_draws_fresh_states_only_for_ended_envs():
    """On CPU the autoreset draws exactly (number of ended envs) fresh states, in env order, from the
    env's generator; the other envs' next states are untouched and the stream stays seed-determined."""
    E = 6
    env = make_native("CartPole-v1", E, seed=0, dtype=F64)
    env.reset()
    st = env.get_state()
    s = st["state"].clone()
    s[1] = torch.tensor([2.39, 3.0, 0.0, 0.0], dtype=F64)  # off the track this step
    s[4] = torch.tensor([0.0, 0.0, -0.2, -2.0], dtype=F64)  # pole falls this step
    env.set_state({"state": s, "steps": st["steps"], "rng": st["rng"]})
    g = torch.Generator().manual_seed(0)
    g.set_state(st["rng"])
    want = torch.empty((2, 4), dtype=F64).uniform_(-0.05, 0.05, generator=g)
    obs, _, term, trunc, info = env.step(torch.zeros(E, dtype=torch.long))
    assert term.tolist() == [False, True, False, False, True, False]
    torch.testing.assert_close(obs[term], want, rtol=0, atol=0)
    assert torch.equal(obs[~term], info["final_obs"][~term])
    assert torch.equal(env.get_state()["rng"], g.get_state())  # nothing else was drawn
