"""The tools' one episode runner (`reinforce.tools.episodes.run_episodes`): counts, quota fairness, exact numbers, hook."""
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from reinforce.envs.vector import GymnasiumVecEnv
from reinforce.tools.episodes import episode_quota, run_episodes
from toy_envs import CountdownEnv


class ZeroPolicy:
    """Action 0 for every observation: the countdown env ignores actions."""

    def act(self, obs, deterministic=False):
        return torch.zeros(obs.shape[0], dtype=torch.long, device=obs.device)


class RiggedVecEnv:
    """Torch-only VecEnv: sub-env i's episodes all last `lengths[i]` steps, reward 1 per step (SAME_STEP reset)."""

    def __init__(self, lengths):
        self.lengths = torch.tensor(lengths)
        self.num_envs, self.device = len(lengths), torch.device("cpu")
        self.t = torch.zeros(self.num_envs, dtype=torch.long)
        self.seeds = []

    def reset(self, *, seed=None):
        self.seeds.append(seed)
        self.t.zero_()
        return torch.zeros(self.num_envs, 1), {}

    def step(self, actions):
        self.t += 1
        terminated = self.t >= self.lengths
        self.t[terminated] = 0
        no = torch.zeros(self.num_envs, dtype=torch.bool)
        return self.t.float().unsqueeze(1), torch.ones(self.num_envs), terminated, no, {}


def countdown_env(*per_env_kwargs):
    envs = SyncVectorEnv([lambda kw=kw: CountdownEnv(**kw) for kw in per_env_kwargs], autoreset_mode=AutoresetMode.SAME_STEP)
    return GymnasiumVecEnv(envs)


def test_each_sub_env_runs_its_quota_so_short_episodes_are_not_favoured():
    env = RiggedVecEnv([2, 10])  # sub-env 0 ends 5 episodes before sub-env 1 ends its first
    returns, lengths = run_episodes(ZeroPolicy(), env, 4)
    assert sorted(lengths.tolist()) == [2, 2, 10, 10]  # the first 4 to end would all be 2s
    assert returns.mean() == 6.0 and returns.dtype == np.float64 and lengths.dtype == np.int64


@pytest.mark.parametrize("episodes, num_envs", [(1, 1), (1, 3), (5, 2), (7, 3), (16, 16), (9, 4)])
def test_episode_count_equals_the_request(episodes, num_envs):
    assert sum(episode_quota(episodes, num_envs)) == episodes
    returns, lengths = run_episodes(ZeroPolicy(), RiggedVecEnv(list(range(1, num_envs + 1))), episodes)
    assert returns.shape == lengths.shape == (episodes,)


def test_returns_and_lengths_match_a_hand_computed_countdown():
    # Each sub-env alternates episodes of 3 and 5 steps; reward i at step i, so returns 6 and 15.
    # Quota (3, 2): env 0 ends at steps 3, 8, 11; env 1 at 3, 8. Episodes come in the order they end.
    env = countdown_env({"lengths": (3, 5)}, {"lengths": (3, 5)})
    returns, lengths = run_episodes(ZeroPolicy(), env, 5)
    assert lengths.tolist() == [3, 3, 5, 5, 3]
    assert returns.tolist() == [6.0, 6.0, 15.0, 15.0, 6.0]


def test_truncation_ends_an_episode_too():
    env = countdown_env({"lengths": (50,), "truncate_at": 4})
    returns, lengths = run_episodes(ZeroPolicy(), env, 2)
    assert lengths.tolist() == [4, 4] and returns.tolist() == [10.0, 10.0]


def test_on_step_sees_every_step():
    env = countdown_env({"lengths": (3, 5)}, {"lengths": (3, 5)})
    seen = []
    run_episodes(ZeroPolicy(), env, 5, on_step=lambda obs, reward, terminated, truncated, info: seen.append(reward.clone()))
    assert len(seen) == 11  # the last episode (env 0's third) ends at step 11
    rewards = torch.stack(seen)  # (steps, E)
    assert rewards[:, 0].tolist() == [1, 2, 3, 1, 2, 3, 4, 5, 1, 2, 3]
    assert rewards[:, 0].sum() == 6 + 15 + 6


def test_seed_reaches_the_reset_and_bad_arguments_are_refused():
    env = RiggedVecEnv([2])
    run_episodes(ZeroPolicy(), env, 1, seed=7)
    assert env.seeds == [7]
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match="episodes must be"):
            run_episodes(ZeroPolicy(), env, bad)
    with pytest.raises(ValueError, match="no episode ended within 10 steps"):
        run_episodes(ZeroPolicy(), RiggedVecEnv([1000]), 1, max_steps=10)
