"""Evaluate a run's saved policy: returns and lengths of fresh episodes, as a table or JSON.

The policy is rebuilt from the run's `config.toml` and loaded from its newest checkpoint (or
`policy.pt`). Its observation normaliser's statistics come with the weights and stay frozen: only
training updates them.
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from reinforce import config as config_mod
from reinforce.run.checkpoint import CHECKPOINT, check_matches_config, load_checkpoint, load_module_state, load_safely
from reinforce.config import Config
from reinforce.policies import Policy
from reinforce.envs.vector import make_vec_env

EVAL_SEED_OFFSET = 1000  # default evaluation seed = run seed + this, so episodes differ from training's first


def quiet_make(env_id: str, **kwargs: Any) -> gym.Env:
    """`gym.make` without the "CartPole-v0 is out of date" notice: v0 is the article's env, on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return gym.make(env_id, **kwargs)


@dataclass
class LoadedPolicy:
    cfg: Config
    policy: Policy
    epochs: int | None  # epochs of training behind the weights, when known
    source: Path


def load_run_policy(run_dir: str | Path, device: str | torch.device = "cpu") -> LoadedPolicy:
    """The policy of the run in `run_dir`, in eval mode, from checkpoint.pt or else policy.pt."""
    run = Path(run_dir)
    if not (run / "config.toml").is_file():
        raise FileNotFoundError(f"{str(run)!r} is not a run folder: it has no config.toml")
    cfg = config_mod.load(run)
    import reinforce.envs  # noqa: F401  (registers reinforce/* ids)
    from reinforce.envs.vector import check_env_id

    spec = check_env_id(cfg.env_id)
    probe = quiet_make(spec.id)  # only for the spaces
    try:
        from reinforce.run.trainer import policy_for

        policy = policy_for(cfg, probe.observation_space, probe.action_space)
    finally:
        probe.close()
    epochs = None
    if (run / CHECKPOINT).exists():
        source = run / CHECKPOINT
        payload = load_checkpoint(source)
        check_matches_config(payload, cfg, source)
        state, epochs = payload["agent"]["policy"], int(payload["agent"]["epoch"])
    elif (run / "policy.pt").exists():
        source = run / "policy.pt"
        state = load_safely(source)
        if not isinstance(state, dict):
            raise ValueError(f"{str(source)!r} is not a policy state_dict")
    else:
        raise FileNotFoundError(f"{str(run)!r} has no checkpoint.pt or policy.pt to evaluate")
    load_module_state(policy, state, "policy", source)
    return LoadedPolicy(cfg, policy.to(device).eval(), epochs, source)


def run_episodes(
    policy: Policy,
    env: Any,
    episodes: int,
    deterministic: bool = False,
    seed: int | None = None,
    max_steps: int = 100_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths (both shape (episodes,)) of `episodes` episodes in the vector env `env`.

    Each sub-env runs a fixed quota of episodes and only those count: taking the first N to end
    would favour short episodes. `max_steps`: steps with no episode ending anywhere before giving up
    (envs without a time limit).
    """
    E = env.num_envs
    quota = [episodes // E + (1 if i < episodes % E else 0) for i in range(E)]
    finished = [0] * E
    ret = torch.zeros(E, dtype=torch.float64, device=env.device)
    length = torch.zeros(E, dtype=torch.long, device=env.device)
    returns, lengths = [], []
    obs, _ = env.reset(seed=seed)
    steps_without_end = 0
    while any(f < q for f, q in zip(finished, quota)):
        if steps_without_end == max_steps:
            raise ValueError(f"no episode ended within {max_steps} steps: does the env have a time limit?")
        steps_without_end += 1
        action = policy.act(obs, deterministic=deterministic)
        obs, reward, terminated, truncated, _ = env.step(action)
        ret += reward
        length += 1
        ended = (terminated | truncated).nonzero().flatten().tolist()
        for i in ended:
            if finished[i] < quota[i]:
                returns.append(ret[i].item())
                lengths.append(int(length[i].item()))
                finished[i] += 1
        if ended:
            steps_without_end = 0
            ret[ended] = 0.0
            length[ended] = 0
    return np.asarray(returns, dtype=np.float64), np.asarray(lengths, dtype=np.int64)


def _stats(values: np.ndarray) -> dict[str, float]:
    return {
        "mean": float(values.mean()),
        "std": float(values.std()),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def evaluate_run(
    run_dir: str | Path,
    episodes: int = 100,
    deterministic: bool = False,
    seed: int | None = None,
    num_envs: int | None = None,
    device: str = "cpu",
    backend: str | None = None,
) -> dict[str, Any]:
    """Statistics of `episodes` episodes of the run's policy: a JSON-ready dict.

    `backend` overrides the run's vector-env backend, e.g. to check a policy trained on EnvPool
    or a native env against Gymnasium's own implementation (`"sync"`).
    """
    if isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1:
        raise ValueError(f"episodes must be an integer >= 1, got {episodes!r}")
    loaded = load_run_policy(run_dir, device)
    cfg = loaded.cfg
    seed = cfg.seed + EVAL_SEED_OFFSET if seed is None else seed
    num_envs = num_envs or min(episodes, 16)
    backend = cfg.backend if backend is None else backend
    env = make_vec_env(cfg.env_id, num_envs, seed=seed, backend=backend, device=device)
    try:
        with torch.random.fork_rng(devices=[]):  # seed action sampling without disturbing the caller's RNG
            torch.manual_seed(seed)
            returns, lengths = run_episodes(loaded.policy, env, episodes, deterministic, seed)
    finally:
        env.close()
    return {
        "run": str(run_dir),
        "env_id": cfg.env_id,
        "backend": backend,
        "policy": str(loaded.source),
        "trained_epochs": loaded.epochs,
        "episodes": episodes,
        "deterministic": deterministic,
        "seed": seed,
        "return": _stats(returns),
        "length": _stats(lengths.astype(np.float64)),
    }


def format_table(result: dict[str, Any]) -> str:
    """A small text table of `evaluate_run`'s result."""
    mode = "deterministic (mode)" if result["deterministic"] else "stochastic"
    trained = f" after {result['trained_epochs']} epochs" if result["trained_epochs"] is not None else ""
    lines = [
        f"{result['run']}: {result['env_id']}, {result['episodes']} episodes, {mode} policy{trained}, seed {result['seed']}",
        f"{'':8}{'mean':>10}{'std':>10}{'min':>10}{'max':>10}",
    ]
    for name in ("return", "length"):
        s = result[name]
        lines.append(f"{name:8}" + "".join(f"{s[k]:>10.2f}" for k in ("mean", "std", "min", "max")))
    return "\n".join(lines)


def format_json(result: dict[str, Any]) -> str:
    def clean(value: Any) -> Any:  # JSON has no NaN
        return None if isinstance(value, float) and not math.isfinite(value) else value

    return json.dumps(
        {k: ({kk: clean(vv) for kk, vv in v.items()} if isinstance(v, dict) else clean(v)) for k, v in result.items()},
        indent=2,
    )
