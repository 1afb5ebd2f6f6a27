"""The native Acrobot-v1, MountainCar-v0 and MountainCarContinuous-v0, step for step against Gymnasium's envs."""
from __future__ import annotations

import math
import warnings

import gymnasium
import numpy as np
import pytest
import torch
from gymnasium.envs.classic_control import AcrobotEnv, Continuous_MountainCarEnv, MountainCarEnv

import reinforce
from reinforce.envs import acrobot, mountain_car
from reinforce.envs.native import TorchVectorEnv, make_native

F64 = torch.float64
IDS = ["Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0"]
# Per env: the largest |native - gymnasium| allowed, in float64, on the state after one step from the
# same state. Acrobot: RK4 agrees to a few ulps. MountainCar-v0 is all float64 arithmetic and agrees
# exactly but for cos' last ulp. MountainCarContinuous-v0 rounds its state to float32 every step.
STATE_ATOL = {"Acrobot-v1": 1e-12, "MountainCar-v0": 1e-13, "MountainCarContinuous-v0": 1e-7}
# Rewards: -1 / 0 exactly; the continuous car's 0.1·a² differs in the last ulp (gymnasium's math.pow(a, 2)).
REWARD_ATOL = {"Acrobot-v1": 0.0, "MountainCar-v0": 0.0, "MountainCarContinuous-v0": 1e-15}


def _reference(env_id: str, limit: int | None = None, **kw) -> gymnasium.Env:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the passive checker's notes on float64 states
        return gymnasium.make(env_id, max_episode_steps=limit, **kw)


def _ref_state(env_id: str, ref: gymnasium.Env) -> np.ndarray:
    return np.asarray(ref.unwrapped.state, dtype=np.float64)


def _obs64(env_id: str, s: np.ndarray) -> np.ndarray:
    """Float64 observation of a state, as the reference forms it before its float32 cast."""
    if env_id == "Acrobot-v1":
        return np.array([np.cos(s[0]), np.sin(s[0]), np.cos(s[1]), np.sin(s[1]), s[2], s[3]])
    return np.array(s, dtype=np.float64)


def _sync(ref: gymnasium.Env, s: np.ndarray, seed: int) -> None:
    ref.reset(seed=seed)  # restarts the TimeLimit counter too
    ref.unwrapped.state = np.array(s, dtype=np.float64)


def _policy(env_id: str, rng: np.random.Generator, S: np.ndarray) -> np.ndarray:
    """Env 0: a goal-reaching bang-bang controller; env 1: uniform random; others: the controller, 10% random.

    So some envs terminate (often) and others run into the time limit.
    """
    E = len(S)
    explore = rng.random(E) < np.array([0.0, 1.0, 0.1])[np.arange(E) % 3]
    if env_id == "Acrobot-v1":
        ctrl = np.where(S[:, 2] >= 0, 0, 2)  # pumps energy into the swing
        return np.where(explore, rng.integers(0, 3, E), ctrl)
    if env_id == "MountainCar-v0":
        ctrl = np.where(S[:, 1] >= 0, 2, 0)  # push along the velocity
        return np.where(explore, rng.integers(0, 3, E), ctrl)
    ctrl = np.where(S[:, 1] >= 0, 1.0, -1.0) * rng.uniform(0.6, 1.5, E)  # |a| > 1 too: exercises clipping
    return np.where(explore, rng.uniform(-1.5, 1.5, E), ctrl)[:, None]


PARITY_CASES = [
    # env_id, num_envs, steps, max_episode_steps (None: env default), re-sync the reference every step
    ("Acrobot-v1", 3, 1100, None, True),
    ("Acrobot-v1", 4, 400, 150, True),
    ("MountainCar-v0", 3, 700, None, False),
    ("MountainCar-v0", 4, 400, 130, False),
    ("MountainCarContinuous-v0", 3, 1100, None, True),
    ("MountainCarContinuous-v0", 4, 400, 150, True),
]


@pytest.mark.parametrize(("env_id", "E", "T", "max_steps", "resync"), PARITY_CASES)
def test_parity_with_gymnasium(env_id, E, T, max_steps, resync):
    """Observations, rewards, terminated and truncated agree with `gymnasium.make(env_id)` at every step.

    Each reference starts from the native env's (re)set state. Acrobot is chaotic, so a last-ulp
    difference grows over an episode: its references, and the continuous car's (whose float32 state
    would drift the same way), continue from the native state each step; MountainCar-v0 runs free.
    """
    kw = {} if max_steps is None else {"max_episode_steps": max_steps}
    env = make_native(env_id, E, seed=11, dtype=F64, **kw)
    limit = env.max_episode_steps
    assert limit == (max_steps or gymnasium.spec(env_id).max_episode_steps)
    refs = [_reference(env_id, limit) for _ in range(E)]
    rng = np.random.default_rng(3)
    discrete = env_id != "MountainCarContinuous-v0"

    obs, _ = env.reset()
    S = env.get_state()["state"].numpy()
    # torch's and numpy's cos/sin may differ in the last ulp (vectorized kernels)
    np.testing.assert_allclose(obs.numpy(), np.stack([_obs64(env_id, s) for s in S]), rtol=0, atol=4e-16)
    for i in range(E):
        _sync(refs[i], S[i], seed=i)

    n_term = n_trunc = 0
    for _ in range(T):
        acts = _policy(env_id, rng, S)
        obs, rew, term, trunc, info = env.step(torch.as_tensor(acts))
        assert obs.dtype == rew.dtype == F64 and term.dtype == trunc.dtype == torch.bool
        final = info["final_obs"].numpy()
        st = env.get_state()
        S, steps = st["state"].numpy(), st["steps"].numpy()
        for i in range(E):
            o_ref, r_ref, te_ref, tr_ref, _ = refs[i].step(int(acts[i]) if discrete else acts[i])
            s_ref = _ref_state(env_id, refs[i])
            np.testing.assert_allclose(final[i], _obs64(env_id, s_ref), rtol=0, atol=STATE_ATOL[env_id])
            np.testing.assert_allclose(final[i], o_ref, rtol=1e-6, atol=1e-6)  # the reference's float32 obs
            assert abs(float(rew[i]) - float(r_ref)) <= REWARD_ATOL[env_id]
            assert bool(term[i]) == bool(te_ref)
            assert bool(trunc[i]) == (bool(tr_ref) and not bool(te_ref))
            if te_ref or tr_ref:
                n_term += bool(te_ref)
                n_trunc += bool(trunc[i])
                assert steps[i] == 0
                np.testing.assert_allclose(obs[i].numpy(), _obs64(env_id, S[i]), rtol=0, atol=4e-16)
                _sync(refs[i], S[i], seed=i)  # continue from the native env's fresh state
            else:
                assert torch.equal(obs[i], info["final_obs"][i])
                assert steps[i] == refs[i]._elapsed_steps
                np.testing.assert_allclose(S[i], s_ref, rtol=0, atol=STATE_ATOL[env_id])
                if resync:
                    refs[i].unwrapped.state = S[i].copy()
    assert n_term >= 2, "case should exercise terminations"
    assert n_trunc >= 1, "case should exercise truncations"


def test_acrobot_wraps_angles_and_clips_velocities_like_gymnasium():
    """States picked to cross ±π (one way or the other, and by more than one turn's worth of RK4 drift)
    and to hit both velocity bounds: one step agrees with gymnasium to RK4's last ulps."""
    states = torch.tensor(
        [
            [3.1, 3.1, 4.0, 9.0],  # both angles pass +π
            [-3.1, -3.05, -4.0, -9.0],  # both pass -π
            [0.3, -0.2, 12.5, 28.0],  # near both velocity bounds
            [1.0, 2.0, -12.0, -27.0],
            [math.pi, -math.pi, 0.0, 0.0],  # exactly on the bounds: left alone by gymnasium's wrap
            [0.05, -0.02, 0.01, 0.03],
        ],
        dtype=F64,
    )
    E = len(states)
    for action in (0, 1, 2):
        env = make_native("Acrobot-v1", E, seed=0, dtype=F64)
        env.reset()
        env.set_state({"state": states, "steps": torch.zeros(E, dtype=torch.int32)})
        _, rew, term, _, info = env.step(torch.full((E,), action))
        final = info["final_obs"].numpy()
        for i in range(E):
            ref = _reference("Acrobot-v1")
            _sync(ref, states[i].numpy(), seed=0)
            o_ref, r_ref, te_ref, _, _ = ref.step(action)
            s_ref = _ref_state("Acrobot-v1", ref)
            assert -math.pi <= s_ref[0] <= math.pi and -math.pi <= s_ref[1] <= math.pi
            np.testing.assert_allclose(final[i], _obs64("Acrobot-v1", s_ref), rtol=0, atol=1e-12)
            assert float(rew[i]) == r_ref and bool(term[i]) == te_ref
        assert torch.all(env.state[:, :2].abs() <= math.pi)
        assert env.state[:, 2].abs().max() <= 4 * math.pi and env.state[:, 3].abs().max() <= 9 * math.pi


@pytest.mark.parametrize("env_id", IDS)
def test_terminal_step_matches_gymnasium(env_id):
    """A goal-reaching controller, no re-syncing: the terminating step (reward, terminated, the last
    observation in final_obs) is the reference's, and the goal condition holds on that observation."""
    E = 4
    env = make_native(env_id, E, seed=5, dtype=F64)
    refs = [_reference(env_id) for _ in range(E)]
    env.reset()
    S = env.get_state()["state"].numpy()
    for i in range(E):
        _sync(refs[i], S[i], seed=i)
    ended = np.zeros(E, dtype=bool)
    for _ in range(env.max_episode_steps):
        if env_id == "Acrobot-v1":
            acts = np.where(S[:, 2] >= 0, 0, 2)
        elif env_id == "MountainCar-v0":
            acts = np.where(S[:, 1] >= 0, 2, 0)
        else:
            acts = np.where(S[:, 1:] >= 0, 1.2, -1.2)  # clipped to ±1, penalised as ±1.2
        _, rew, term, trunc, info = env.step(torch.as_tensor(acts))
        S = env.get_state()["state"].numpy()
        assert not trunc.any()
        for i in np.flatnonzero(~ended):
            a = acts[i] if env_id == "MountainCarContinuous-v0" else int(acts[i])
            o_ref, r_ref, te_ref, _, _ = refs[i].step(a)
            assert bool(term[i]) == te_ref
            if env_id == "Acrobot-v1":
                refs[i].unwrapped.state = S[i].copy()  # chaotic: stay on the native trajectory
            if not te_ref:
                continue
            ended[i] = True
            f = info["final_obs"][i].numpy()
            np.testing.assert_allclose(f, o_ref, rtol=1e-6, atol=1e-6)
            assert abs(float(rew[i]) - r_ref) <= 1e-12
            if env_id == "Acrobot-v1":
                assert float(rew[i]) == 0.0
                cos12 = f[0] * f[2] - f[1] * f[3]  # cos(θ1 + θ2)
                assert -f[0] - cos12 > 1.0
            elif env_id == "MountainCar-v0":
                assert float(rew[i]) == -1.0 and f[0] >= 0.5 and f[1] >= 0
            else:
                assert float(rew[i]) == pytest.approx(100.0 - 0.1 * 1.2**2, abs=1e-12)
                assert f[0] >= 0.45 and f[1] >= 0
        if ended.all():
            break
    assert ended.all(), "the controller should reach the goal in every env"


@pytest.mark.parametrize("env_id", ["MountainCar-v0", "MountainCarContinuous-v0"])
def test_mountain_car_left_wall_and_goal_velocity(env_id):
    """The left wall stops a car moving left (but not one moving right); `goal_velocity` as gymnasium's keyword."""
    E = 4
    # 2: reaches the goal fast enough; 3: past x >= 0.45 (and 0.5) too slowly for goal_velocity 0.02
    states = torch.tensor([[-1.19, -0.05], [-1.2, 0.01], [0.49, 0.025], [0.48, 0.015]], dtype=F64)
    env = make_native(env_id, E, seed=0, dtype=F64, goal_velocity=0.02)
    env.reset()
    env.set_state({"state": states, "steps": torch.zeros(E, dtype=torch.int32)})
    discrete = env_id == "MountainCar-v0"
    acts = np.array([0, 2, 2, 2]) if discrete else np.array([[-1.0], [1.0], [1.0], [1.0]])
    _, rew, term, _, info = env.step(torch.as_tensor(acts))
    for i in range(E):
        ref = _reference(env_id, goal_velocity=0.02)
        _sync(ref, states[i].numpy(), seed=0)
        o_ref, r_ref, te_ref, _, _ = ref.step(int(acts[i]) if discrete else acts[i])
        f = info["final_obs"][i].numpy()
        np.testing.assert_allclose(f, _ref_state(env_id, ref), rtol=0, atol=STATE_ATOL[env_id])
        assert abs(float(rew[i]) - r_ref) <= 1e-12 and bool(term[i]) == te_ref
    assert info["final_obs"][0].tolist() == [-1.2, 0.0]
    assert info["final_obs"][1, 1] > 0
    assert term.tolist() == [False, False, True, False]


def test_acrobot_angles_by_matmul_and_elementwise_agree_and_float32_follows_float64():
    """The CPU path forms the four angles with one addmm, other devices element-wise (no TF32 matmul): both
    give the same angles; a float32 step stays within float32 rounding of the float64 one."""
    g = torch.Generator().manual_seed(0)
    y = torch.empty(256, 4, dtype=F64)
    y[:, :2].uniform_(-math.pi, math.pi, generator=g)
    y[:, 2].uniform_(-4 * math.pi, 4 * math.pi, generator=g)
    y[:, 3].uniform_(-9 * math.pi, 9 * math.pi, generator=g)
    angle_map, angle_offset = acrobot._constants(F64, y.device)[:2]
    torch.testing.assert_close(acrobot._angles(y, angle_map, angle_offset, by_matmul=True),
                               acrobot._angles(y, angle_map, angle_offset, by_matmul=False), rtol=0, atol=1e-14)
    torque = torch.randint(-1, 2, (256,), generator=g).to(F64)
    next64 = acrobot.acrobot_step(y.float().double(), torque)[0]  # from the same (float32-rounded) states
    next32 = acrobot.acrobot_step(y.float(), torque.float())[0]
    # float32's ε (1.2e-7) on terms of up to ~10³ (θ̇2² at 9π rad/s, times the masses and lengths), over 4 stages:
    # ~5e-4; a wrong constant or sign would be off by 1e-2 or more
    torch.testing.assert_close(next32.double(), next64, rtol=0, atol=1e-3)


def test_acrobot_dynamics_are_differentiable_after_a_rollout_made_their_constants():
    with torch.inference_mode():
        acrobot._dsdt(torch.zeros(2, 4, dtype=torch.float16), torch.zeros(2, dtype=torch.float16))  # a fresh dtype
    y = torch.zeros(2, 4, dtype=torch.float16, requires_grad=True)
    acrobot._dsdt(y, torch.ones(2, dtype=torch.float16)).sum().backward()  # cached constants saved for backward
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_constants_are_gymnasiums():
    a = AcrobotEnv
    assert (acrobot.DT, acrobot.LINK_LENGTH_1, acrobot.LINK_MASS_1, acrobot.LINK_MASS_2) == (
        a.dt, a.LINK_LENGTH_1, a.LINK_MASS_1, a.LINK_MASS_2)
    assert (acrobot.LINK_COM_POS_1, acrobot.LINK_COM_POS_2, acrobot.LINK_MOI) == (
        a.LINK_COM_POS_1, a.LINK_COM_POS_2, a.LINK_MOI)
    assert (acrobot.MAX_VEL_1, acrobot.MAX_VEL_2) == (a.MAX_VEL_1, a.MAX_VEL_2)
    assert a.AVAIL_TORQUE == [-1.0, 0.0, 1.0] and a.torque_noise_max == 0.0 and a.book_or_nips == "book"
    d, c = MountainCarEnv(), Continuous_MountainCarEnv()
    for ref in (d, c):
        assert (mountain_car.MIN_POSITION, mountain_car.MAX_POSITION, mountain_car.MAX_SPEED) == (
            ref.min_position, ref.max_position, ref.max_speed)
    assert (mountain_car.FORCE, mountain_car.GRAVITY) == (d.force, d.gravity)
    assert mountain_car.GOAL_POSITION == d.goal_position
    assert (mountain_car.POWER, mountain_car.GOAL_POSITION_CONTINUOUS) == (c.power, c.goal_position)


def test_reset_distributions():
    E = 8192
    env = make_native("Acrobot-v1", E, seed=0)
    env.reset()
    s = env.state
    assert s.abs().max() <= 0.1 and s.min() < -0.099 and s.max() > 0.099
    assert torch.allclose(s.mean(0), torch.zeros(4), atol=0.003)
    assert torch.allclose(s.std(0), torch.full((4,), 0.2 / math.sqrt(12)), rtol=0.05)
    for env_id in ("MountainCar-v0", "MountainCarContinuous-v0"):
        obs, _ = make_native(env_id, E, seed=0).reset()
        x, v = obs.T
        assert x.min() >= -0.6 and x.max() <= -0.4 and x.min() < -0.599 and x.max() > -0.401
        assert abs(float(x.mean()) + 0.5) < 0.002 and torch.all(v == 0)


def test_discrete_action_formats_and_clamping():
    E = 3
    env = make_native("Acrobot-v1", E, seed=0, dtype=F64)
    env.reset()
    snap = env.get_state()
    want = env.step(torch.tensor([0, 1, 2]))[0]
    caller = torch.tensor([0.0, 1.0, 2.0], dtype=F64)
    for a in (
        torch.tensor([0, 1, 2], dtype=torch.int32),
        torch.tensor([[0], [1], [2]]),
        caller,
        torch.tensor([0.2, 0.9, 2.1]),  # floats round to the nearest action
        torch.tensor([-1, 1, 5]),  # out of range: the nearest valid action
        np.array([0, 1, 2]),
        [0, 1, 2],
    ):
        env.set_state(snap)
        assert torch.equal(env.step(a)[0], want)
    assert caller.tolist() == [0.0, 1.0, 2.0]  # the caller's actions are not modified


@pytest.mark.parametrize("env_id", IDS)
def test_render_is_gymnasiums_drawing(env_id):
    env = make_native(env_id, 2, seed=0, dtype=F64, render_mode="rgb_array")
    env.reset()
    for _ in range(3):
        env.step(torch.full((2, 1), 1.0) if env_id == "MountainCarContinuous-v0" else torch.full((2,), 2))
    ref = _reference(env_id, render_mode="rgb_array")
    _sync(ref, env.state[0].numpy(), seed=0)
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == ref.render().shape
    np.testing.assert_array_equal(frame, ref.render())
    env.close()
    ref.close()


@pytest.mark.parametrize("env_id", IDS)
def test_make_vec_env_native_and_a_short_training_run(env_id):
    for backend in ("native", "auto"):  # auto picks the native env for every registered id
        env = reinforce.make_vec_env(env_id, num_envs=8, seed=0, backend=backend)
        assert isinstance(env, TorchVectorEnv) and env.num_envs == 8 and env.spec.id == env_id
    obs, _ = env.reset()
    assert obs.shape == (8, *env.single_observation_space.shape) and obs.dtype == torch.float32
    policy = reinforce.make_policy(env.single_observation_space, env.single_action_space)
    agent = reinforce.Reinforce(env, policy, steps_per_rollout=32)
    history = agent.learn(2)
    assert len(history) == 2 and agent.env_steps == 2 * 8 * 32
    assert all(math.isfinite(m["train/loss"]) and math.isfinite(m["train/grad_norm"]) for m in history)
