"""Vector envs and rollouts: which rows count under SAME_STEP autoreset, clipping, clear errors."""
import numpy as np
import pytest
import torch

from reinforce.policies import CategoricalPolicy, DiagonalGaussianPolicy
from reinforce.rollout import RolloutCollector
from reinforce.envs.vector import make_vec_env


def collect_countdown(steps, reset_each_epoch=True, rollouts=1, **env_kwargs):
    env = make_vec_env("tests/Countdown-v0", num_envs=2, seed=0, backend="sync", env_kwargs=env_kwargs)
    collector = RolloutCollector(env, CategoricalPolicy(2, 2), steps, reset_each_epoch=reset_each_epoch)
    return [collector.collect() for _ in range(rollouts)]


def test_every_row_is_a_real_transition_and_episode_ends_are_exact():
    (batch,) = collect_countdown(steps=9, lengths=(3, 5))
    step_index = batch.obs[..., 0]
    # s_t's in-episode step index is 0 right after a reset: the reset obs, never a terminal one, follows a done
    want_index = torch.tensor([0, 1, 2, 0, 1, 2, 3, 4, 0], dtype=torch.float32)
    torch.testing.assert_close(step_index[:, 0], want_index)
    # reward of a row is its 1-based step index: no zero-reward "reset rows" exist
    torch.testing.assert_close(batch.rewards[:, 0], want_index + 1)
    assert batch.terminated[:, 0].nonzero().flatten().tolist() == [2, 7]
    assert not batch.truncated.any()
    # episodes 3 and 5 long finished; the third (cut by the rollout end) is not counted
    assert batch.episode_lengths.tolist() == [3, 3, 5, 5]
    assert batch.episode_returns.tolist() == [6.0, 6.0, 15.0, 15.0]
    assert batch.last_obs[0].tolist() == [1.0, 2.0]  # one step into episode #2


def test_truncation_is_kept_apart_from_termination():
    (batch,) = collect_countdown(steps=8, lengths=(5,), truncate_at=4)
    assert batch.truncated[:, 0].nonzero().flatten().tolist() == [3, 7]
    assert not batch.terminated.any()


def test_episode_spanning_two_rollouts_is_scored_whole_without_reset_each_epoch():
    first, second = collect_countdown(steps=4, reset_each_epoch=False, rollouts=2, lengths=(3, 5))
    assert first.episode_lengths.tolist() == [3, 3]
    # the 5-step episode began at row 3 of the first rollout and ends at row 3 of the second
    assert second.episode_lengths.tolist() == [5, 5]
    assert second.episode_returns.tolist() == [15.0, 15.0]


def test_box_actions_are_clipped_only_on_the_way_to_the_env(monkeypatch):
    env = make_vec_env("Pendulum-v1", num_envs=3, seed=0, backend="sync")
    sent = []
    original = env.env.step

    def spy(actions):
        sent.append(np.array(actions))
        return original(actions)

    monkeypatch.setattr(env.env, "step", spy)
    policy = DiagonalGaussianPolicy(3, 1, hidden_sizes=(), log_std_init=2.0)  # σ ≈ 7.4: most samples exceed ±2
    batch = RolloutCollector(env, policy, steps=20).collect()
    stored = batch.actions.reshape(-1)
    assert stored.abs().max() > 2.0  # the raw samples are what we keep ...
    clipped = np.concatenate(sent).reshape(-1)
    np.testing.assert_allclose(clipped, np.clip(stored.numpy(), -2, 2))  # ... and the env saw them clipped
    logp = policy.pi(batch.obs.reshape(-1, 3)).log_prob(batch.actions.reshape(-1, 1))
    logp_clipped = policy.pi(batch.obs.reshape(-1, 3)).log_prob(torch.as_tensor(clipped).reshape(-1, 1))
    assert not torch.allclose(logp, logp_clipped)  # so scoring the clipped action would differ


def test_observations_are_float32_tensors_and_seeding_reproduces():
    a = make_vec_env("CartPole-v1", num_envs=4, seed=3, backend="sync")
    b = make_vec_env("CartPole-v1", num_envs=4, seed=3, backend="sync")
    obs_a, _ = a.reset(seed=3)
    obs_b, _ = b.reset(seed=3)
    assert obs_a.dtype == torch.float32 and obs_a.shape == (4, 4)
    assert torch.equal(obs_a, obs_b)
    assert len(set(map(tuple, obs_a.tolist()))) == 4  # sub-envs get different seeds


def test_unknown_env_id_suggests_close_names():
    with pytest.raises(ValueError, match="unknown environment id 'CartPol-v1'.*CartPole-v1"):
        make_vec_env("CartPol-v1", 2)


@pytest.mark.parametrize("num_envs", [0, -1, 2.5])
def test_num_envs_must_be_positive_integer(num_envs):
    with pytest.raises(ValueError, match="num_envs"):
        make_vec_env("CartPole-v1", num_envs)


def test_discrete_observations_arrive_one_hot():
    env = make_vec_env("FrozenLake-v1", 2, seed=0)
    obs, _ = env.reset()
    assert obs.shape == (2, 16) and obs.dtype == torch.float32
    assert torch.equal(obs, torch.nn.functional.one_hot(torch.tensor([0, 0]), 16).float())  # both start in cell 0
    env.close()


def test_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        make_vec_env("CartPole-v1", 2, backend="ray")


def test_collector_state_round_trip_continues_the_same_episodes():
    """state_dict/load_state_dict plus the env's own state reproduce the next rollout exactly."""
    def make():
        env = make_vec_env("CartPole-v1", 3, seed=5, backend="native")
        return env, RolloutCollector(env, CategoricalPolicy(4, 2), steps=30, reset_each_epoch=False)

    torch.manual_seed(0)
    env, collector = make()
    collector.collect()
    saved, env_state, rng = collector.state_dict(), env.get_state(), torch.get_rng_state()
    expected = collector.collect()
    assert collector.running_length_E.sum() > 0  # episodes run across the rollout boundary

    other_env, other = make()
    other.policy.load_state_dict(collector.policy.state_dict())
    other.load_state_dict(saved)
    other_env.set_state(env_state)
    torch.set_rng_state(rng)
    again = other.collect()
    assert torch.equal(again.obs, expected.obs) and torch.equal(again.actions, expected.actions)
    assert torch.equal(again.episode_lengths, expected.episode_lengths)

    other.restart(seed=11)  # dropping the running episodes: the next rollout resets with that seed
    assert other.obs_E is None and other.running_length_E.sum() == 0
    first = other.collect()
    assert torch.equal(first.obs[0], make_vec_env("CartPole-v1", 3, seed=11, backend="native").reset(seed=11)[0])
