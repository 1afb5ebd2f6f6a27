"""The one episode runner of the tools: whole episodes of a policy in a vector env, for evaluate and record.

The env follows the `reinforce.envs.vector.VecEnv` protocol with SAME_STEP autoreset: the step that
ends an episode already returns the next episode's first observation, so the loop never resets by hand.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from reinforce.checks import require_int
from reinforce.envs.vector import VecEnv
from reinforce.policies import Policy

# on_step(obs, reward, terminated, truncated, info): what env.step returned, shapes (E, obs_dim), (E,), (E,), (E,).
StepHook = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict], Any]


def episode_quota(episodes: int, num_envs: int) -> list[int]:
    """Episodes each sub-env must finish, (E,): as equal as possible, the first ones take the remainder."""
    return [episodes // num_envs + (1 if i < episodes % num_envs else 0) for i in range(num_envs)]


def run_episodes(
    policy: Policy,
    env: VecEnv,
    episodes: int,
    deterministic: bool = False,
    seed: int | None = None,
    max_steps: int = 100_000,
    on_step: StepHook | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns (float64) and lengths (int64, steps) of `episodes` episodes, both shape (episodes,).

    Resets `env` with `seed` first. Sub-env i runs a fixed quota of episodes (`episode_quota`) and only
    those count, in the order they end: taking the first N to end anywhere would favour short episodes.
    `max_steps`: steps in a row with no episode ending anywhere before giving up (an env without a time
    limit). `on_step`, if given, sees every step's results right after `env.step`. When the env gives
    action masks (info["action_mask"], at reset and after each step) the policy acts among the allowed actions.
    """
    require_int("episodes", episodes, 1)
    require_int("max_steps", max_steps, 1)
    num_envs, device = env.num_envs, env.device
    quota = episode_quota(episodes, num_envs)
    finished = [0] * num_envs
    ret = torch.zeros(num_envs, dtype=torch.float64, device=device)  # running return per sub-env
    length = torch.zeros(num_envs, dtype=torch.long, device=device)
    returns = torch.empty(episodes, dtype=torch.float64, device=device)  # filled in order of ending
    lengths = torch.empty(episodes, dtype=torch.long, device=device)
    count = 0
    obs, info = env.reset(seed=seed)
    mask = info.get("action_mask") if isinstance(info, dict) else None
    steps_without_end = 0
    while count < episodes:
        if steps_without_end == max_steps:
            raise ValueError(f"no episode ended within {max_steps} steps: does the env have a time limit?")
        steps_without_end += 1
        if mask is None:
            action = policy.act(obs, deterministic=deterministic)
        else:
            action = policy.act(obs, deterministic=deterministic, mask=mask)
        obs, reward, terminated, truncated, info = env.step(action)
        mask = info.get("action_mask")
        if on_step is not None:
            on_step(obs, reward, terminated, truncated, info)
        ret += reward
        length += 1
        ended_t = (terminated | truncated).nonzero().flatten()  # the one host sync per step: its size
        if ended_t.numel() == 0:
            continue
        steps_without_end = 0
        counted = []
        for i in ended_t.tolist():
            if finished[i] < quota[i]:
                finished[i] += 1
                counted.append(i)
        if counted:
            index = torch.tensor(counted, device=device)
            returns[count : count + len(counted)] = ret[index]
            lengths[count : count + len(counted)] = length[index]
            count += len(counted)
        ret[ended_t] = 0.0
        length[ended_t] = 0
    return returns.cpu().numpy(), lengths.cpu().numpy()
