"""The same training code on every vector-env backend: native, Gymnasium sync, EnvPool (if installed).

- one short CartPole-v1 run per backend logs the same metric keys and sane values;
- the EnvPool backend is converted to our SAME_STEP contract (reset obs in the same step, the last
  one in info["final_obs"], every row a real transition) — checked against its own NEXT_STEP output;
- the article's CartPole preset learns alike on native and on Gymnasium sync (a short budget, fixed
  seeds): both get well past a random policy by the same epoch.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reinforce.metrics import METRIC_NAMES
from reinforce.presets import preset
from reinforce.config import Config
from reinforce.rollout import RolloutCollector
from reinforce.run.build import build
from reinforce.envs.vector import make_vec_env


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Small batches on a shared 2-core machine: a second intra-op thread only adds contention."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _backends():
    out = ["native", "sync"]
    try:
        import envpool  # noqa: F401
    except ImportError:
        out.append(pytest.param("envpool", marks=pytest.mark.skip(reason="envpool not installed")))
    else:
        out.append("envpool")
    return out


def _build(backend: str, **changes) -> tuple:
    cfg = Config(env_id="CartPole-v1", num_envs=16, steps_per_rollout=64, epochs=3, lr=0.05, hidden_sizes=(), seed=0)
    return build(cfg.replace(backend=backend, **changes))


@pytest.mark.parametrize("backend", _backends())
def test_same_training_code_runs_on_every_backend(backend):
    env, policy, agent = _build(backend)
    try:
        history = agent.learn(3)
    finally:
        env.close()
    assert len(history) == 3
    for m in history:
        assert set(METRIC_NAMES) <= set(m)
        assert m["time/env_steps"] == 64 * 16 * (m["epoch"] + 1)
        assert math.isfinite(m["train/loss"]) and m["train/entropy"] > 0
        assert m["rollout/episodes"] > 0 and 8 <= m["rollout/ep_return_mean"] <= 500
        assert m["rollout/ep_len_mean"] == m["rollout/ep_return_mean"]  # CartPole: reward 1 per step


@pytest.mark.parametrize("backend", _backends())
def test_rollout_rows_follow_the_same_step_contract(backend):
    """Under SAME_STEP every row is a real transition: a done row is followed by a reset observation,
    and each finished episode's length is exactly its rows, from the row after the env's previous end
    (or row 0) to its own end, so per env the lengths add up to the rows up to its last end."""
    env = make_vec_env("CartPole-v1", num_envs=8, seed=3, backend=backend)
    batch = RolloutCollector(env, _UniformPolicy(), steps=200).collect()
    env.close()
    assert batch.rewards.eq(1).all()  # no zero-reward "reset rows" (NEXT_STEP would have them)
    ends = batch.dones.nonzero()
    assert len(ends) > 10
    for t, e in ends.tolist():
        if t + 1 < 200:
            assert batch.obs[t + 1, e].abs().max() <= 0.05  # the reset observation follows
    # episode_lengths come in the order of the done rows (row-major over (T, E)), as `ends`
    lengths = batch.episode_lengths.tolist()
    assert len(lengths) == len(ends) and min(lengths) >= 8
    previous_end = [-1] * 8  # row of each env's previous end; its episodes' lengths then sum to its last end + 1
    for (t, e), length in zip(ends.tolist(), lengths):
        assert length == t - previous_end[e], (t, e, length)
        previous_end[e] = t


class _UniformPolicy(torch.nn.Module):
    def sample(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.randint(0, 2, obs.shape[:1])


def test_envpool_converted_to_same_step():
    envpool = pytest.importorskip("envpool")
    E = 6
    ours = make_vec_env("CartPole-v1", num_envs=E, seed=11, backend="envpool")
    raw = envpool.make("CartPole-v1", env_type="gymnasium", num_envs=E, seed=11)  # NEXT_STEP original
    obs, _ = ours.reset()
    raw_obs, _ = raw.reset()
    np.testing.assert_array_equal(obs.numpy(), raw_obs)  # same seeds: env i gets seed + i
    # Until the first episode end both step identically; our final_obs is EnvPool's obs.
    for _ in range(50):
        a = np.ones(E, dtype=np.int32)
        obs, rew, term, trunc, info = ours.step(torch.as_tensor(a))
        r_obs, r_rew, r_term, r_trunc, _ = raw.step(a)
        np.testing.assert_array_equal(info["final_obs"].numpy(), r_obs)
        np.testing.assert_array_equal(term.numpy(), r_term)
        np.testing.assert_array_equal(rew.numpy(), r_rew)
        if r_term.any():
            break
    assert r_term.any()
    # ... and where EnvPool would now spend a step resetting (reward 0, action ignored), ours has
    # already returned the reset observation in the same step.
    done = term.numpy()
    assert (np.abs(obs.numpy()[done]) <= 0.05).all()
    _, r_rew, *_ = raw.step(np.ones(E, dtype=np.int32))
    assert (r_rew[done] == 0).all()
    checked = 0
    rng = np.random.default_rng(0)
    for _ in range(120):
        obs, rew, term, trunc, info = ours.step(torch.as_tensor(rng.integers(0, 2, E)))
        done = (term | trunc).numpy()
        final = info["final_obs"].numpy()
        np.testing.assert_array_equal(final[~done], obs.numpy()[~done])
        assert (rew.numpy() == 1).all()  # every row a real transition
        if done.any():
            assert (np.abs(obs.numpy()[done]) <= 0.05).all()
            assert not np.allclose(final[done], obs.numpy()[done])
            checked += int(done.sum())
    assert checked > 5


def test_envpool_truncation_and_seeding():
    pytest.importorskip("envpool")
    env = make_vec_env("Pendulum-v1", num_envs=3, seed=0, backend="envpool")
    env.reset(seed=0)
    for t in range(200):
        obs, rew, term, trunc, info = env.step(torch.zeros(3, 1))
        assert not term.any()
        assert trunc.all() == (t == 199)
    assert not torch.equal(obs, info["final_obs"])
    a = make_vec_env("CartPole-v1", num_envs=4, seed=5, backend="envpool").reset(seed=5)[0]
    b = make_vec_env("CartPole-v1", num_envs=4, seed=5, backend="envpool").reset(seed=5)[0]
    c = make_vec_env("CartPole-v1", num_envs=4, seed=0, backend="envpool").reset(seed=5)[0]  # reseeded
    assert torch.equal(a, b) and torch.equal(a, c)
    with pytest.raises(ValueError, match="EnvPool has no env"):
        make_vec_env("reinforce/CartPoleSwingUp-v0", num_envs=2, backend="envpool")


@pytest.mark.slow
def test_article_preset_learns_alike_on_native_and_gymnasium():
    """The article's CartPole experiment (linear policy, lr 0.1, γ 0.99) on a short budget — 32
    envs, T = 200 (one v0 episode fits), 15 epochs, 2 seeds: on native and on Gymnasium sync the
    mean return at least doubles from its first epoch and passes 45 (a random policy: ~22), and
    the two backends' means over epochs 10-14 agree within seed noise (measured: 71 vs 80)."""
    late = {}
    for backend in ("native", "sync"):
        for seed in (0, 1):
            cfg = preset("cartpole").replace(seed=seed, steps_per_rollout=200, epochs=15, backend=backend)
            env, _, agent = build(cfg)
            history = agent.learn(cfg.epochs)
            env.close()
            curve = [m["rollout/ep_return_mean"] for m in history]
            late[(backend, seed)] = float(np.mean(curve[10:]))
            assert curve[0] < 60 and late[(backend, seed)] > 1.5 * curve[0], (backend, seed, curve)
    native = np.mean([late[("native", s)] for s in (0, 1)])
    gym_sync = np.mean([late[("sync", s)] for s in (0, 1)])
    assert native > 45 and gym_sync > 45, late
    assert max(native, gym_sync) / min(native, gym_sync) < 1.5, late
