"""Evaluate a run's saved policy: returns and lengths of fresh episodes, as a table or JSON.

The policy is rebuilt from the run's `config.toml` and loaded from its newest checkpoint (or
`policy.pt`). Its observation normaliser's statistics come with the weights and stay frozen: only
training updates them.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reinforce import config as config_mod
from reinforce.checks import require_int
from reinforce.config import Config
from reinforce.envs.plugins import quiet_make, wrap_all
from reinforce.envs.vector import VecEnv, check_env_id, make_vec_env
from reinforce.policies import Policy
from reinforce.run.checkpoint import CHECKPOINT, check_matches_config, load_checkpoint, load_module_state, load_safely
from reinforce.run.build import policy_for
from reinforce.tools.episodes import run_episodes

__all__ = ["EVAL_SEED_OFFSET", "LoadedPolicy", "check_finite_state", "evaluate_run", "evaluation_env", "format_json", "format_table", "load_run_policy",
           "read_run_config", "run_episodes"]

EVAL_SEED_OFFSET = 1000  # default evaluation seed = run seed + this, so episodes differ from training's first


@dataclass
class LoadedPolicy:
    """A run's policy with where it came from."""

    cfg: Config
    policy: Policy
    epochs: int | None  # epochs of training behind the weights, when known
    source: Path


def _folder(run_dir: str | Path) -> tuple[Path, Path | None]:
    """A run folder, or a checkpoint file in one (RUN/best.pt, RUN/checkpoint.prev.pt): (folder, that file or None)."""
    path = Path(run_dir)
    if path.suffix == ".pt" and not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist")
    return (path.parent, path) if path.is_file() else (path, None)


def read_run_config(run_dir: str | Path) -> Config:
    """The config saved in the run folder `run_dir` (or the folder of a checkpoint file in it), the one inside a
    checkpoint file elsewhere (`agent.save` writes its config in), or a FileNotFoundError for anything else."""
    run, checkpoint = _folder(run_dir)
    if (run / "config.toml").is_file():
        return config_mod.load(run)
    if checkpoint is not None:  # a file of its own: a damaged one fails here with load_checkpoint's one line
        return config_mod.from_dict(load_checkpoint(checkpoint)["config"])
    raise FileNotFoundError(f"{str(run)!r} is not a run folder: it has no config.toml (nor is it a checkpoint file)")


def _saved_policy(run: Path, cfg: Config, chosen: Path | None = None) -> tuple[dict, int | None, Path]:
    """The policy state_dict of the run (of `chosen`, a file in it, when given; else checkpoint.pt, else
    policy.pt), the epochs behind it (None if unknown) and the file it came from."""
    source = chosen or next((run / name for name in (CHECKPOINT, "policy.pt") if (run / name).exists()), None)
    if source is None:
        raise FileNotFoundError(f"{str(run)!r} has no checkpoint.pt or policy.pt to evaluate")
    if source.name == "policy.pt":  # the plain weights
        state = load_safely(source)
        if not isinstance(state, dict):
            raise ValueError(f"{str(source)!r} is not a policy state_dict")
        return check_finite_state(state, source), None, source
    payload = load_checkpoint(source)
    check_matches_config(payload, cfg, source)
    epoch = payload["agent"]["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"epoch {epoch!r} in {str(source)!r} is not a valid epoch count")
    return check_finite_state(payload["agent"]["policy"], source), epoch, source


def check_finite_state(state: dict, source: str | Path) -> dict:
    """`state` if all its floating-point tensors (weights, normaliser statistics) are finite, else a
    ValueError naming the file and the first tensor with a NaN or inf: such a policy's actions are
    meaningless, yet its episodes would still produce a normal-looking mean return."""
    for name, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise ValueError(
                f"the policy in {str(source)!r} is broken: tensor {name!r} holds {bad} NaN or infinite value"
                f"{'s' if bad != 1 else ''} (training diverged; evaluate an earlier checkpoint or retrain, "
                "e.g. with a lower lr)"
            )
    return state


def load_run_policy(run_dir: str | Path, device: str | torch.device = "cpu", env: VecEnv | None = None) -> LoadedPolicy:
    """The policy of the run in `run_dir`, in eval mode on `device`, from checkpoint.pt or else policy.pt (or from
    the checkpoint file `run_dir` names, e.g. RUN/best.pt).

    The network is shaped by `env`'s single observation and action spaces: pass the env it will run
    in. Without one, a throwaway Gymnasium env of the run's id supplies the spaces.
    """
    run, checkpoint = _folder(run_dir)
    cfg = read_run_config(run_dir)
    state, epochs, source = _saved_policy(run, cfg, checkpoint)  # a missing or bad file fails before any network is built
    if env is not None:
        policy = policy_for(cfg, env.single_observation_space, env.single_action_space)
    else:
        probe = wrap_all(quiet_make(check_env_id(cfg.env_id).id), cfg.wrappers)
        try:
            policy = policy_for(cfg, probe.observation_space, probe.action_space)
        finally:
            probe.close()
    load_module_state(policy, state, "policy", source)
    return LoadedPolicy(cfg, policy.to(device).eval(), epochs, source)


def evaluation_env(cfg: Config | None, num_envs: int, seed: int, device: str | torch.device, env_id: str | None = None,
                   backend: str | None = None) -> VecEnv:
    """A fresh env to score `cfg`'s policy in: `cfg`'s id with its backend and wrappers (`backend` overrides it), or
    `env_id`'s plain env when that names another id (or there is no cfg: an agent whose env no Config rebuilds)."""
    same = cfg is not None and (env_id is None or check_env_id(env_id).id == cfg.env_id)
    return make_vec_env(env_id or cfg.env_id, num_envs, seed=seed, backend=(backend or cfg.backend) if same else "auto",
                        device=str(device), wrappers=cfg.wrappers if same else ())


def summary_stats(values: np.ndarray) -> dict[str, float]:
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
    env_id: str | None = None,
    env: VecEnv | None = None,
) -> dict[str, Any]:
    """Statistics of `episodes` episodes of the run's policy: a JSON-ready dict.

    `num_envs` defaults to min(episodes, 16). `backend` overrides the run's vector-env backend, e.g.
    to check a policy trained on EnvPool or a native env against Gymnasium's own implementation ("sync").
    `env_id` evaluates on another registered id (without the run's wrappers); `env`, a VecEnv of the caller's,
    runs the episodes instead of a new env (reset, left open).
    """
    require_int("episodes", episodes, 1)
    cfg = read_run_config(run_dir)
    seed = cfg.seed + EVAL_SEED_OFFSET if seed is None else require_int("seed", seed, 0)
    num_envs = min(episodes, 16) if num_envs is None else require_int("num_envs", num_envs, 1)
    with torch.random.fork_rng(devices=[]):  # building and sampling leave the caller's torch RNG as it was
        own_env = env is None
        if own_env:
            env = evaluation_env(cfg, num_envs, seed, device, env_id, backend)
        try:
            loaded = load_run_policy(run_dir, env.device, env=env)
            torch.manual_seed(seed)  # the sampled actions depend on the seed only
            returns, lengths = run_episodes(loaded.policy, env, episodes, deterministic, seed)
        finally:
            if own_env:
                env.close()
    return {
        "run": str(run_dir),
        "env_id": getattr(getattr(env, "spec", None), "id", None) or env_id or cfg.env_id,
        "backend": env.made_with["backend"] if own_env else "given",
        "policy": str(loaded.source),
        "trained_epochs": loaded.epochs,
        "episodes": episodes,
        "deterministic": deterministic,
        "seed": seed,
        "return": summary_stats(returns),
        "length": summary_stats(lengths.astype(np.float64)),
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
