"""reinforce: REINFORCE (vanilla policy gradient) on PyTorch and Gymnasium.

    import reinforce
    env = reinforce.make_vec_env("CartPole-v0", num_envs=32, seed=0)
    policy = reinforce.make_policy(env.single_observation_space, env.single_action_space)
    agent = reinforce.Reinforce(env, policy, lr=0.1, gamma=0.99, steps_per_rollout=1000)
    history = agent.learn(epochs=100, progress=True)

    run = reinforce.train("cartpole", seed=1)        # a run folder, as `reinforce train` writes it
    agent = reinforce.load(run)
    reinforce.evaluate(agent, episodes=100)

Names are imported on first use, so `import reinforce` (and `reinforce --help`) does not load torch.
"""
import importlib

from reinforce import envs as _envs  # noqa: F401  (registers the reinforce/* env ids; imports no torch)
from typing import Any

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "train": "reinforce.api",
    "load": "reinforce.api",
    "evaluate": "reinforce.api",
    "Reinforce": "reinforce.run.agent",
    "Callback": "reinforce.run.callbacks",
    "StopOnReward": "reinforce.run.callbacks",
    "CheckpointCallback": "reinforce.run.callbacks",
    "EvalCallback": "reinforce.tools.eval_callback",
    "WandbCallback": "reinforce.tools.wandb_logger",
    "PolicyGradient": "reinforce.algorithm",
    "Config": "reinforce.config",
    "ReinforceOptions": "reinforce.config",
    "PRESETS": "reinforce.presets",
    "preset": "reinforce.presets",
    "Policy": "reinforce.policies",
    "CategoricalPolicy": "reinforce.policies",
    "DiagonalGaussianPolicy": "reinforce.policies",
    "MultiCategoricalPolicy": "reinforce.policies",
    "BernoulliPolicy": "reinforce.policies",
    "make_policy": "reinforce.policies",
    "bootstrapped_returns": "reinforce.returns",
    "discounted_returns": "reinforce.returns",
    "gae": "reinforce.returns",
    "Batch": "reinforce.rollout",
    "make_vec_env": "reinforce.envs.vector",
    "from_env": "reinforce.envs.vector",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'reinforce' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # the next lookup is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
