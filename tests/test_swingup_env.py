"""Tests for the CartPole swing-up environment (reinforce.envs.swingup)."""
from __future__ import annotations

import importlib
import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import reinforce  # noqa: F401  (registers the env ids)
from reinforce.envs import render
from reinforce.envs.render import SWINGUP_HEIGHT, SWINGUP_WIDTH, swingup_frame
from reinforce.envs.swingup import (
    DEFAULT_PARAMS,
    CartPoleSwingUpEnv,
    SwingUpParams,
    swingup_obs,
    swingup_reward,
    swingup_step,
)

ENV_IDS = {"v0": "reinforce/CartPoleSwingUp-v0", "v1": "reinforce/CartPoleSwingUp-v1"}
VERSIONS = ["v0", "v1"]

# Velocities are unbounded by design (inf bounds), which check_env flags as
# "probably too low/high"; every other checker warning is a failure.
EXPECTED_CHECKER_WARNINGS = ("value is -infinity", "value is infinity")


def unexpected(caught, extra: tuple[str, ...] = ()) -> list[str]:
    allowed = EXPECTED_CHECKER_WARNINGS + extra
    return [str(w.message) for w in caught if not any(a in str(w.message) for a in allowed)]


def make(version: str, **kwargs) -> gym.Env:
    # gymnasium logs a "v0 is out of date" notice for -v0 (v1 exists); irrelevant here.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*out of date.*")
        return gym.make(ENV_IDS[version], **kwargs)


# --------------------------------------------------------------------------
# Independent reference: the published equations, plain Python floats.
# --------------------------------------------------------------------------
def ref_step(state: tuple[float, float, float, float], action: float, version: str):
    """One step of the facts as written: returns (state, obs, reward, terminated)."""
    mc, mp, length, g, dt, fr = 0.5, 0.5, 0.6, 9.82, 0.01, 0.1
    mt = mc + mp
    u = 10.0 * min(max(action, -1.0), 1.0)
    x, xd, th, thd = state
    s, c = math.sin(th), math.cos(th)
    xdd = (-2 * mp * length * thd**2 * s + 3 * mp * g * s * c + 4 * u - 4 * fr * xd) / (
        4 * mt - 3 * mp * c**2
    )
    thdd = (-3 * mp * length * thd**2 * s * c + 6 * mt * g * s + 6 * (u - fr * xd) * c) / (
        4 * length * mt - 3 * mp * length * c**2
    )
    new = (x + xd * dt, xd + xdd * dt, th + thd * dt, thd + thdd * dt)
    cn = math.cos(new[2])
    reward = cn if version == "v0" else (1 + cn) / 2
    obs = [new[0], new[1], cn, math.sin(new[2]), new[3]]
    return new, obs, reward, abs(new[0]) > 2.4


def assert_matches_reference(env: gym.Env, actions, version: str) -> int:
    """Step ``env`` (already reset) and the reference side by side; returns #steps run."""
    state = tuple(float(v) for v in env.unwrapped.state)
    for i, a in enumerate(actions):
        obs, reward, terminated, truncated, _ = env.step(np.array([a], dtype=np.float32))
        # Feed the reference the same float32-rounded action the env received.
        state, ref_obs, ref_reward, ref_term = ref_step(state, float(np.float32(a)), version)
        np.testing.assert_allclose(env.unwrapped.state, state, rtol=1e-10, atol=1e-12,
                                   err_msg=f"state, step {i}")
        assert obs.dtype == np.float32
        np.testing.assert_allclose(obs, np.asarray(ref_obs, dtype=np.float32), rtol=1e-6,
                                   atol=1e-7, err_msg=f"obs, step {i}")
        assert reward == pytest.approx(ref_reward, rel=1e-10, abs=1e-12), f"reward, step {i}"
        assert terminated is ref_term, f"terminated, step {i}"
        assert truncated is False
        if terminated:
            return i + 1
    return len(actions)


# --------------------------------------------------------------------------
# API / checker
# --------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_check_env_unwrapped(version):
    env = make(version)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    # The checker reports many problems (obs outside the space, dtype, render) as
    # warnings only, so a clean run must emit none.
    assert unexpected(caught) == []
    env.close()


@pytest.mark.parametrize("version", VERSIONS)
def test_check_env_wrapped(version):
    env = make(version, render_mode="rgb_array")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    assert unexpected(caught, ("different from the unwrapped",)) == []
    env.close()


def test_spaces_and_registration():
    env = make("v1")
    assert isinstance(env.unwrapped, CartPoleSwingUpEnv)
    assert env.unwrapped.reward_version == "v1"
    assert make("v0").unwrapped.reward_version == "v0"
    assert env.spec.max_episode_steps == 500
    assert env.action_space == gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    obs_space = env.observation_space
    assert obs_space.shape == (5,) and obs_space.dtype == np.float32
    np.testing.assert_array_equal(obs_space.high[2:4], [1.0, 1.0])
    assert np.isinf(obs_space.high[[1, 4]]).all()
    assert 2.4 < obs_space.high[0] < np.inf


def test_reimport_does_not_reregister():
    # A second registration of an existing id would warn "Overriding environment".
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        importlib.reload(importlib.import_module("reinforce.envs"))
    assert ENV_IDS["v0"] in gym.registry and ENV_IDS["v1"] in gym.registry


def test_invalid_reward_version():
    with pytest.raises(ValueError):
        CartPoleSwingUpEnv(reward_version="v2")


# --------------------------------------------------------------------------
# Dynamics against the independent reference
# --------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_trajectory_matches_reference(version):
    env = make(version)
    env.reset(seed=123)
    rng = np.random.default_rng(0)
    # Include out-of-range actions (clipping) and exact bounds.
    actions = list(rng.uniform(-2.5, 2.5, size=44)) + [3.0, -7.0, 1.0, -1.0, 0.0, 1.5]
    assert assert_matches_reference(env, actions, version) == 50


@pytest.mark.parametrize("version", VERSIONS)
def test_trajectory_until_termination_matches_reference(version):
    env = make(version)
    # Start near the right edge and keep pushing right (action > 1 is clipped).
    env.reset(options={"state": [1.9, 0.5, 2.0, -1.0]})
    n = assert_matches_reference(env, [2.0] * 200, version)
    assert n < 200  # the episode must have terminated


def test_batched_step_matches_scalar():
    rng = np.random.default_rng(1)
    states = rng.normal(size=(16, 4)) * [1.0, 2.0, 3.0, 4.0]
    forces = rng.uniform(-10, 10, size=16)
    batched = swingup_step(states, forces, DEFAULT_PARAMS)
    assert batched.shape == (16, 4) and batched.dtype == np.float64
    for s, f, b in zip(states, forces, batched):
        np.testing.assert_allclose(swingup_step(s, f), b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("version", VERSIONS)
def test_public_helpers_agree_with_env(version):
    # The batched helpers are what vectorised ports reuse; they must equal step().
    env = CartPoleSwingUpEnv(reward_version=version)
    env.reset(seed=3)
    rng = np.random.default_rng(3)
    for a in rng.uniform(-1.5, 1.5, size=30):
        before = env.state.copy()
        obs, reward, *_ = env.step(np.array([a], dtype=np.float32))
        expected = swingup_step(before[None], [10.0 * min(max(float(np.float32(a)), -1.0), 1.0)])[0]
        np.testing.assert_allclose(env.state, expected, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(swingup_obs(env.state[None])[0], obs, rtol=1e-6, atol=1e-7)
        assert swingup_reward(env.state[2], version) == pytest.approx(reward, rel=1e-12)
    with pytest.raises(ValueError):
        swingup_reward(0.0, "v2")  # type: ignore[arg-type]


def test_params_are_frozen_and_match_facts():
    p = DEFAULT_PARAMS
    assert (p.cart_mass, p.pole_mass, p.pole_length, p.gravity) == (0.5, 0.5, 0.6, 9.82)
    assert (p.force_mag, p.dt, p.friction, p.x_threshold) == (10.0, 0.01, 0.1, 2.4)
    assert p.total_mass == 1.0
    with pytest.raises(AttributeError):
        p.dt = 0.1  # type: ignore[misc]
    # Custom params actually reach the dynamics.
    slow = SwingUpParams(dt=0.02)
    s = np.array([0.0, 1.0, 0.0, 0.0])
    assert swingup_step(s, 0.0, slow)[0] == pytest.approx(0.02)


def test_positive_action_pushes_cart_right_and_tilts_pole():
    env = CartPoleSwingUpEnv()
    env.reset(options={"state": [0.0, 0.0, 0.0, 0.0]})
    env.step(np.array([1.0], dtype=np.float32))
    _, xd, _, thd = env.state
    assert xd > 0
    # With tip at (x - l sin θ, l cos θ), pushing right makes the upright pole lean left: θ grows.
    assert thd > 0


# --------------------------------------------------------------------------
# Reset distribution
# --------------------------------------------------------------------------
def test_reset_distribution():
    env = CartPoleSwingUpEnv()
    n = 4000
    states = np.empty((n, 4))
    for seed in range(n):
        obs, info = env.reset(seed=seed)
        states[seed] = env.state
        assert env.state.dtype == np.float64
        np.testing.assert_allclose(
            obs, [env.state[0], env.state[1], math.cos(env.state[2]), math.sin(env.state[2]),
                  env.state[3]], rtol=1e-6, atol=1e-7)
        assert info == {}
    mean_expected = np.array([0.0, 0.0, math.pi, 0.0])
    sigma = 0.2
    se_mean = sigma / math.sqrt(n)
    se_std = sigma / math.sqrt(2 * (n - 1))  # normal approximation
    np.testing.assert_array_less(np.abs(states.mean(0) - mean_expected), 4 * se_mean)
    np.testing.assert_array_less(np.abs(states.std(0, ddof=1) - sigma), 4 * se_std)
    # Components are sampled independently.
    corr = np.corrcoef(states.T)[np.triu_indices(4, 1)]
    assert np.all(np.abs(corr) < 4 / math.sqrt(n))


def test_reset_state_option():
    env = CartPoleSwingUpEnv()
    obs, _ = env.reset(options={"state": [0.1, -0.2, 0.3, -0.4]})
    np.testing.assert_array_equal(env.state, [0.1, -0.2, 0.3, -0.4])
    np.testing.assert_allclose(obs, [0.1, -0.2, math.cos(0.3), math.sin(0.3), -0.4], rtol=1e-6)


# --------------------------------------------------------------------------
# Termination / truncation
# --------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("side", [1.0, -1.0])
def test_termination_at_edge(version, side):
    env = make(version)
    theta, thetad = 0.7, 1.5
    # Next x = 2.39 + 2.0 * 0.01 = 2.41 > 2.4 -> terminated.
    env.reset(options={"state": [side * 2.39, side * 2.0, theta, thetad]})
    obs, reward, terminated, truncated, _ = env.step(np.array([0.0], dtype=np.float32))
    assert terminated is True and truncated is False
    next_theta = theta + thetad * 0.01
    expected = math.cos(next_theta) if version == "v0" else (1 + math.cos(next_theta)) / 2
    # Reward is the usual one for the step, computed on the next state; no penalty.
    assert reward == pytest.approx(expected, rel=1e-12)
    assert abs(obs[0]) == pytest.approx(2.41, rel=1e-6)
    assert env.observation_space.contains(obs)

    # Next x = 2.39 + 0.5 * 0.01 = 2.395 <= 2.4 -> still running.
    env.reset(options={"state": [side * 2.39, side * 0.5, theta, thetad]})
    _, _, terminated, truncated, _ = env.step(np.array([0.0], dtype=np.float32))
    assert terminated is False and truncated is False


@pytest.mark.parametrize("version", VERSIONS)
def test_truncation_at_500_steps(version):
    env = make(version)
    env.reset(seed=7)
    action = np.array([0.0], dtype=np.float32)
    for t in range(1, 501):
        _, _, terminated, truncated, _ = env.step(action)
        assert terminated is False, f"unexpected termination at step {t}"
        assert truncated is (t == 500), f"step {t}"


# --------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------
POLE_RGB = np.array([202, 152, 101], dtype=np.uint8)


def _pole_rows(frame: np.ndarray) -> np.ndarray:
    return np.nonzero(np.all(frame == POLE_RGB, axis=-1))[0]


def test_render_rgb_array():
    pytest.importorskip("pygame")
    env = make("v0", render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert isinstance(frame, np.ndarray) and frame.dtype == np.uint8
    assert frame.ndim == 3 and frame.shape[2] == 3 and frame.shape[0] > 50 and frame.shape[1] > 50
    assert frame.min() != frame.max()
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) >= 3
    # The picture follows the state.
    for _ in range(20):
        env.step(np.array([1.0], dtype=np.float32))
    assert not np.array_equal(env.render(), frame)
    env.close()


@pytest.mark.parametrize("use_pygame", [True, False])
def test_render_pole_direction(use_pygame, monkeypatch):
    if use_pygame:
        pytest.importorskip("pygame")
    else:
        monkeypatch.setattr(render, "load_pygame", lambda: False)  # force the numpy fallback rasteriser
    env = CartPoleSwingUpEnv(render_mode="rgb_array")
    h, w = SWINGUP_HEIGHT, SWINGUP_WIDTH
    env.reset(options={"state": [0.0, 0.0, 0.0, 0.0]})  # upright
    up = env.render()
    env.reset(options={"state": [0.0, 0.0, math.pi, 0.0]})  # hanging
    down = env.render()
    assert up.shape == down.shape == (h, w, 3) and up.dtype == np.uint8
    # Image rows grow downwards: upright pole pixels lie above the centre line.
    assert _pole_rows(up).size > 0 and _pole_rows(up).mean() < h / 2
    assert _pole_rows(down).size > 0 and _pole_rows(down).mean() > h / 2
    # θ = +π/2: tip at (x - l, 0), i.e. the pole points left of the cart.
    env.reset(options={"state": [0.0, 0.0, math.pi / 2, 0.0]})
    left = env.render()
    cols = np.nonzero(np.all(left == POLE_RGB, axis=-1))[1]
    assert cols.size > 0 and cols.mean() < w / 2


def test_numpy_fallback_agrees_with_pygame():
    pytest.importorskip("pygame")
    env = CartPoleSwingUpEnv(render_mode="rgb_array")
    env.reset(options={"state": [1.0, 0.0, 0.5, 0.0]})
    pg = env.render()
    p = env.params
    fallback = swingup_frame(env.state, p.x_threshold, p.pole_length, use_pygame=False)
    assert fallback.shape == pg.shape and fallback.dtype == np.uint8
    # Same drawing up to anti-aliasing at the edges.
    assert np.mean(np.any(pg != fallback, axis=-1)) < 0.01


def test_render_without_mode_returns_none():
    env = CartPoleSwingUpEnv()
    env.reset(seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert env.render() is None


# --------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------
def _rollout(seed: int, n: int = 100) -> np.ndarray:
    env = make("v1")
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [obs]
    for _ in range(n):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        out.append(np.append(obs, reward))
        if terminated or truncated:
            break
    return np.concatenate(out)


def test_same_seed_same_trajectory():
    a, b = _rollout(42), _rollout(42)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, _rollout(43))


# --------------------------------------------------------------------------
# Parity with the PyPI package gymnasium-cartpole-swingup (0.1.8)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("version", VERSIONS)
def test_parity_with_gymnasium_cartpole_swingup(version):
    ref_mod = pytest.importorskip("gymnasium_cartpole_swingup.cartpole_swingup")
    # Its defaults differ from the reference facts (dt 0.1, reward cos θ·cos x,
    # init std 0.05, built-in 1000-step limit): configure it to the facts.
    if version == "v0":
        reward_fn = lambda s, a, ns: math.cos(ns[2])  # noqa: E731
    else:
        reward_fn = lambda s, a, ns: (1 + math.cos(ns[2])) / 2  # noqa: E731
    theirs = ref_mod.CartPoleSwingUpEnv(
        dt=0.01, time_limit=10**9, obs_mode="trig", custom_reward_fn=reward_fn
    )
    ours = CartPoleSwingUpEnv(reward_version=version)
    rng = np.random.default_rng(5)
    for episode in range(3):
        ours.reset(seed=episode)
        theirs.reset(seed=episode)
        # Its reset(options=...) stores float32; set a float64 state directly instead.
        theirs.state = tuple(float(v) for v in ours.state)
        # Dyadic actions: its force is computed in float32, so only exactly
        # representable products make the two envs bit-comparable.
        actions = rng.choice([-2.0, -1.0, -0.75, -0.25, 0.0, 0.125, 0.5, 1.0, 1.5], size=400)
        for i, a in enumerate(actions):
            act = np.array([a], dtype=np.float32)
            o1, r1, te1, tr1, _ = ours.step(act)
            o2, r2, te2, tr2, _ = theirs.step(act)
            # Theirs: [x, xd, sin, cos, thd]; ours: [x, xd, cos, sin, thd].
            np.testing.assert_allclose(o1, o2[[0, 1, 3, 2, 4]], rtol=1e-5, atol=1e-6,
                                       err_msg=f"episode {episode} step {i}")
            x1, xd1, th1, thd1 = ours.state
            x2, xd2, th2, thd2 = theirs.state
            np.testing.assert_allclose([x1, xd1, thd1], [x2, xd2, thd2], rtol=1e-8, atol=1e-9)
            # Theirs wraps θ into [-π, π); ours does not.
            assert math.remainder(th1 - th2, 2 * math.pi) == pytest.approx(0.0, abs=1e-9)
            assert r1 == pytest.approx(r2, rel=1e-8, abs=1e-9)
            assert te1 == te2 and tr1 == tr2 is False
            if te1:
                break
