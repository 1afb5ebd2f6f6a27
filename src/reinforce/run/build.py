"""From a Config to the objects of a run: the vector env, the policy and the agent, seeded."""
from __future__ import annotations

import gymnasium as gym
import torch

from reinforce.config import Config
from reinforce.dist import runtime
from reinforce.dist.reducer import JobReducer
from reinforce.encoders import make_encoder
from reinforce.envs.plugins import missing_package_is_one_line, quiet_make, wrap_all
from reinforce.envs.vector import VecEnv, check_device, check_env_id, make_vec_env
from reinforce.observations import observation_spec
from reinforce.policies import Policy, make_policy
from reinforce.reduce import LOCAL
from reinforce.run.agent import Reinforce


def policy_for(cfg: Config, observation_space: gym.Space, action_space: gym.Space) -> Policy:
    """The (untrained) policy `cfg` describes for these spaces."""
    return make_policy(
        observation_space,
        action_space,
        hidden_sizes=cfg.hidden_sizes,
        activation=cfg.activation,
        log_std_init=cfg.log_std_init,
        squash=cfg.squash,
        normalize_observations=cfg.normalize_observations,
        head_init_gain=cfg.head_init_gain,
        encoder=cfg.encoder,
        noise_steps=cfg.correlated_noise_steps,
        noise_log_scale_init=cfg.correlated_noise_log_scale,
        ar_steps=cfg.autoregressive_noise_steps,
        state_dependent_std=cfg.state_dependent_std,
        mirror_obs_signs=cfg.mirror_obs_signs,
    )


def sees_images(cfg: Config) -> bool:
    """Whether `cfg`'s env (with its wrappers) gives images to an encoder: there the any-env defaults' observation
    normaliser has no part (the encoder scales pixels to [0, 1]), so a run's config should not claim it."""
    spec = check_env_id(cfg.env_id)
    with missing_package_is_one_line(spec):  # an env whose package is missing says which extra to install
        probe = wrap_all(quiet_make(spec.id), cfg.wrappers)
    try:
        return make_encoder(observation_spec(probe.observation_space), cfg.encoder) is not None
    finally:
        probe.close()


def build(cfg: Config, rank: int = 0, world_size: int = 1) -> tuple[VecEnv, Policy, Reinforce]:
    """Env, policy and agent for `cfg`, seeded so that the same config gives the same run.

    With world_size > 1 (under torchrun) this is rank `rank`'s part: its envs and torch's sampling
    stream are seeded seed + rank·E (by `make_vec_env`) and the agent reduces over the job, starting
    from rank 0's initial weights.
    """
    check_device(cfg.device)
    if cfg.num_threads is not None and not cfg.device.startswith("cuda"):
        torch.set_num_threads(1 if cfg.num_threads == "auto" else cfg.num_threads)  # auto: timed in fit (run/threads.py)
    torch.manual_seed(cfg.seed)
    env_seed = runtime.rank_seed(cfg.seed, rank, cfg.num_envs)
    env = make_vec_env(cfg.env_id, cfg.num_envs, seed=env_seed, backend=cfg.backend, device=cfg.device,
                       wrappers=cfg.wrappers)
    try:
        policy = policy_for(cfg, env.single_observation_space, env.single_action_space)
        reducer = JobReducer() if world_size > 1 else LOCAL
        agent = Reinforce(env, policy, cfg.options, reducer=reducer, seed=env_seed, config=cfg)
    except BaseException:
        env.close()
        raise
    agent.schedule_epochs = cfg.epochs
    return env, policy, agent
