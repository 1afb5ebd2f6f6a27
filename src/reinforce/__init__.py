"""reinforce: REINFORCE (vanilla policy gradient) on PyTorch and Gymnasium.

    import reinforce
    env = reinforce.make_vec_env("CartPole-v0", num_envs=32, seed=0)
    policy = reinforce.make_policy(env.single_observation_space, env.single_action_space)
    agent = reinforce.Reinforce(env, policy, lr=0.1, gamma=0.99, steps_per_rollout=1000)
    history = agent.learn(epochs=100)
"""
from reinforce import envs as _envs  # noqa: F401  (registers the reinforce/* env ids)
from reinforce.algorithm import Reinforce
from reinforce.config import PRESETS, Config
from reinforce.policies import CategoricalPolicy, DiagonalGaussianPolicy, Policy, make_policy
from reinforce.returns import bootstrapped_returns, discounted_returns
from reinforce.rollout import Batch
from reinforce.envs.vector import make_vec_env

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "CategoricalPolicy",
    "Config",
    "DiagonalGaussianPolicy",
    "PRESETS",
    "Policy",
    "Reinforce",
    "bootstrapped_returns",
    "discounted_returns",
    "make_policy",
    "make_vec_env",
]
