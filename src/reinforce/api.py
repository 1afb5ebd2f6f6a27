"""The public functions of the library: train a config into a run folder, load an agent back, evaluate one."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from reinforce import config as config_mod
from reinforce.config import Config
from reinforce.presets import PRESETS, preset
from reinforce.run.agent import Reinforce
from reinforce.run.build import build
from reinforce.run.callbacks import as_callbacks
from reinforce.run.checkpoint import check_matches_config, load_checkpoint, load_module_state, load_safely, restore_training_state
from reinforce.run.folder import CHECKPOINT, CONFIG, POLICY, fresh_folder
from reinforce.run.trainer import DEFAULT_CHECKPOINT_EVERY
from reinforce.run.trainer import train as train_run
from reinforce.tools.evaluate import EVAL_SEED_OFFSET, evaluate_run, evaluation_env, run_episodes, summary_stats
from reinforce.checks import require_int
from reinforce.envs.vector import VecEnv
from reinforce.policies import check_policy_fits


def resolve(config_or_preset: Config | str | Path, **overrides: Any) -> Config:
    """A Config from a Config, a preset name or a TOML file / run folder, with `overrides` applied."""
    if isinstance(config_or_preset, Config):
        cfg = config_or_preset
    elif isinstance(config_or_preset, str) and config_or_preset in PRESETS:
        cfg = preset(config_or_preset)
    elif Path(config_or_preset).exists():
        cfg = config_mod.load(config_or_preset)
    else:
        raise ValueError(f"{config_or_preset!r} is neither a preset ({', '.join(sorted(PRESETS))}) nor a config file")
    return cfg.replace(**overrides) if overrides else cfg


def train(
    config_or_preset: Config | str | Path = "cartpole",
    out: str | Path | None = None,
    *,
    quiet: bool = True,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    tensorboard: bool = True,
    stop_at: float | None = None,
    callback: Any = None,
    **overrides: Any,
) -> Path:
    """Train a preset name, a Config or a TOML file (with `overrides`, e.g. `seed=1`) into a run folder
    and return its path. Without `out`, the folder is runs/<preset or env>-seed<seed>, or a fresh
    sibling (`...-2`) when that one already holds a run; an explicit `out` must be empty. `stop_at`
    ends the run once the last >= 20 finished episodes average that return. `callback`: as for
    `Reinforce.learn` (a Callback, a function of the metrics or a list), e.g. an `EvalCallback`."""
    cfg = resolve(config_or_preset, **overrides)
    if out is None:
        name = config_or_preset if isinstance(config_or_preset, str) and config_or_preset in PRESETS else cfg.env_id.split("/")[-1]
        out = fresh_folder(Path("runs") / f"{name}-seed{cfg.seed}")
    train_run(cfg, out, quiet=quiet, checkpoint_every=checkpoint_every, tensorboard=tensorboard, stop_at=stop_at,
              callbacks=as_callbacks(callback))
    return Path(out)


def load(path: str | Path, device: str | None = None, num_envs: int | None = None) -> Reinforce:
    """The agent saved at `path`: a run folder (its newest checkpoint, else policy.pt) or a file from
    `agent.save`. `device` and `num_envs` override the saved ones (the env's state then starts afresh)."""
    path = Path(path)
    changes = {k: v for k, v in (("device", device), ("num_envs", num_envs)) if v is not None}
    if path.is_dir():
        if not (path / CONFIG).is_file():
            raise FileNotFoundError(f"{str(path)!r} is not a run folder: it has no config.toml")
        cfg = config_mod.load(path)
        source = path / CHECKPOINT if (path / CHECKPOINT).exists() else path / POLICY
        if not source.exists():
            raise FileNotFoundError(f"{str(path)!r} has no {CHECKPOINT} or {POLICY} to load")
    else:
        source = path
        cfg = config_mod.from_dict(load_checkpoint(path)["config"])
    saved_cfg = cfg
    cfg = cfg.replace(**changes) if changes else cfg
    _, _, agent = build(cfg)
    if source.name == POLICY:
        load_module_state(agent.policy, load_safely(source), "policy", source)
        return agent
    payload = load_checkpoint(source)
    check_matches_config(payload, saved_cfg, source)
    if changes:  # other envs than the saved ones: their state cannot carry over
        payload = {**payload, "env": None, "collector": None}
    restore_training_state(payload, agent, source)
    return agent


def evaluate(
    agent_or_path: Reinforce | str | Path,
    env_id: str | None = None,
    episodes: int = 100,
    deterministic: bool = False,
    seed: int | None = None,
    num_envs: int | None = None,
    env: VecEnv | None = None,
) -> dict[str, float]:
    """Mean, std, min and max of the return and length of `episodes` fresh episodes of a policy: an agent, a run
    folder or a file from `agent.save`. The episodes run in a new env of the agent's (run's) own id, wrappers and
    backend, or of `env_id` when given; or in `env`, a VecEnv of yours (make_vec_env, from_env: the way to evaluate
    an agent whose env was given as an object), which is reset and left open."""
    episodes = require_int("episodes", episodes, 1)
    if not isinstance(agent_or_path, Reinforce):
        result = evaluate_run(agent_or_path, episodes, deterministic, seed, num_envs, env_id=env_id, env=env)
        return _flat(result["return"], result["length"])
    agent = agent_or_path
    own_env = env is None
    if own_env:
        try:
            cfg: Config | None = agent.describe()
        except ValueError:  # an env given as an object, or a policy of the user's own: env_id says which env
            if env_id is None:
                raise
            cfg = None
        seed = (0 if cfg is None else cfg.seed) + EVAL_SEED_OFFSET if seed is None else seed
        env = evaluation_env(cfg, num_envs or min(episodes, 16), seed, agent.device, env_id)
    seed = EVAL_SEED_OFFSET if seed is None else seed
    try:
        check_policy_fits(agent.policy, env)  # another env's spaces: one line, not a shape error from the network
        returns, lengths = run_episodes(agent.policy, env, episodes, deterministic, seed)
    finally:
        if own_env:
            env.close()
    return _flat(summary_stats(returns), summary_stats(lengths.astype(float)))


def _flat(returns: dict[str, float], lengths: dict[str, float]) -> dict[str, float]:
    return {**{f"return_{k}": v for k, v in returns.items()}, **{f"length_{k}": v for k, v in lengths.items()}}


__all__ = ["train", "load", "evaluate", "resolve"]
