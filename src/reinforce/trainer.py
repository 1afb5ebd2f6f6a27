"""A training run on disk: build env, policy and agent from a Config, train, and leave a run folder.

Run folder: `config.toml` (the resolved config), `metrics.csv` (one row per epoch), `curve.png`
(the learning curve) and `policy.pt` (the final policy's state_dict, loadable with weights_only).
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import torch

from reinforce import config as config_mod
from reinforce.algorithm import METRIC_NAMES, Metrics, Reinforce
from reinforce.config import Config
from reinforce.policies import Policy, make_policy
from reinforce.vector import VecEnv, make_vec_env


def build(cfg: Config) -> tuple[VecEnv, Policy, Reinforce]:
    """Env, policy and agent for `cfg`, seeded so that the same config gives the same run."""
    torch.manual_seed(cfg.seed)
    env = make_vec_env(cfg.env_id, cfg.num_envs, seed=cfg.seed, backend=cfg.backend, device=cfg.device)
    policy = make_policy(
        env.single_observation_space,
        env.single_action_space,
        hidden_sizes=cfg.hidden_sizes,
        activation=cfg.activation,
        log_std_init=cfg.log_std_init,
        squash=cfg.squash,
        normalize_observations=cfg.normalize_observations,
    )
    agent = Reinforce(
        env,
        policy,
        lr=cfg.lr,
        gamma=cfg.gamma,
        steps_per_rollout=cfg.steps_per_rollout,
        reset_each_epoch=cfg.reset_each_epoch,
        returns=cfg.returns,
        baseline=cfg.baseline,
        gae_lambda=cfg.gae_lambda,
        normalize_advantages=cfg.normalize_advantages,
        entropy_coef=cfg.entropy_coef,
        max_grad_norm=cfg.max_grad_norm,
        lr_schedule=cfg.lr_schedule,
        schedule_epochs=cfg.epochs,
        value_lr=cfg.value_lr,
        value_hidden_sizes=cfg.value_hidden_sizes,
        value_iters=cfg.value_iters,
    )
    return env, policy, agent


class MetricsWriter:
    """Appends one CSV row per epoch and flushes it, so a crash keeps every finished epoch."""

    def __init__(self, path: Path):
        self.path = path
        new = not path.exists()
        self._file = path.open("a", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=list(METRIC_NAMES))
        if new:
            self._writer.writeheader()

    def write(self, metrics: Metrics) -> None:
        self._writer.writerow({k: metrics[k] for k in METRIC_NAMES})
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def reward_threshold(env_id: str) -> float | None:
    import gymnasium as gym

    try:
        return gym.spec(env_id).reward_threshold
    except gym.error.Error:
        return None


def _progress(total: int, quiet: bool):
    if quiet:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="epoch", dynamic_ncols=True, leave=True)


def _fmt(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def train(cfg: Config, out_dir: str | Path, quiet: bool = False, force: bool = False, plot: bool = True) -> list[Metrics]:
    """Train `cfg` and write the run folder `out_dir`. Returns the per-epoch metrics."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(f"run folder {str(out)!r} already exists and is not empty; pass --force to overwrite")
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("metrics.csv", "curve.png", "policy.pt"):
        (out / stale).unlink(missing_ok=True)
    config_mod.save(cfg, out / "config.toml")

    env, policy, agent = build(cfg)
    writer = MetricsWriter(out / "metrics.csv")
    bar = _progress(cfg.epochs, quiet)

    def on_epoch(metrics: Metrics) -> None:
        writer.write(metrics)
        if bar is not None:
            bar.set_postfix_str(
                f"return {_fmt(metrics['rollout/ep_return_mean'])}  {metrics['time/steps_per_s']:,.0f} steps/s"
            )
            bar.update(1)

    try:
        history = agent.learn(cfg.epochs, callback=on_epoch)
    finally:
        writer.close()
        if bar is not None:
            bar.close()
        env.close()
    _save_weights(policy, out / "policy.pt")
    if plot:
        from reinforce.plotting import plot_runs

        plot_runs([out], out / "curve.png")
    last = history[-1] if history else None
    summary = (
        f"{cfg.env_id}: {len(history)} epochs, {agent.env_steps:,} env steps in {agent.wall_s:.1f} s"
        + (f", final mean return {_fmt(last['rollout/ep_return_mean'])}" if last else "")
        + f" -> {out}"
    )
    print(summary)
    return history


def _save_weights(policy: Policy, path: Path) -> None:
    """Atomic write: a crash mid-save never leaves a half-written file under the final name."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(policy.state_dict(), tmp)
    os.replace(tmp, path)
