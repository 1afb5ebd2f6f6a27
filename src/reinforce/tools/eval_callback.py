"""Evaluation during training, as SB3's `EvalCallback`: every few epochs, fresh episodes of the current
policy on an env of its own, logged as `eval/…` metrics, the best policy so far kept.

    agent.learn(200, callback=EvalCallback(every=10, episodes=20, best_path="runs/x/best.pt"))
    reinforce train --preset cartpole --eval-every 10 --eval-episodes 20     # -> RUN/best.pt

The evaluation env is separate from the training envs and reset with the same seed at every
evaluation, so the scores of different epochs are on the same episodes' starts. The observation
normaliser is frozen there (only training updates it), and the torch RNG is forked, so evaluating
changes nothing in the training run: its metrics.csv and weights are those of a run without it.

Under torchrun, rank 0 evaluates while the other ranks wait at the epoch's next collective, which
gives up after REINFORCE_DIST_TIMEOUT_S (300 s by default): an evaluation that may take longer (many
or long episodes on a slow env) needs that variable raised, or fewer `--eval-episodes`.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from reinforce.checks import require_int
from reinforce.dist import runtime
from reinforce.envs.vector import VecEnv
from reinforce.metrics import Metrics
from reinforce.policies import check_policy_fits
from reinforce.run.callbacks import Callback
from reinforce.run.folder import write_text_atomic
from reinforce.tools.episodes import run_episodes
from reinforce.tools.evaluate import EVAL_SEED_OFFSET, evaluation_env

EVAL_KEYS = ("eval/return_mean", "eval/return_std", "eval/length_mean")


class EvalCallback(Callback):
    """Every `every` epochs, `episodes` fresh episodes; their mean and std return and mean length are added to the epoch's metrics
    (None on other epochs). With `best_path`, the agent is saved there (`agent.save`, atomic) whenever
    the mean return beats the best so far, with `<best_path>.json` holding that score; a resumed run
    reads the score back, so a better earlier policy is not overwritten.

    `seed` defaults to the run's seed + 1000, `num_envs` to min(episodes, 16); `deterministic` acts
    with the distribution's mode. `history` holds (epoch, mean return) of every evaluation. `env`, a VecEnv of
    yours (reinforce.make_vec_env, from_env), is the evaluation env instead of one built like the agent's (the way
    for an agent whose env a Config cannot rebuild); it is reset at each evaluation and left open.
    """

    def __init__(
        self,
        every: int,
        episodes: int = 10,
        deterministic: bool = False,
        best_path: str | Path | None = None,
        seed: int | None = None,
        num_envs: int | None = None,
        env: VecEnv | None = None,
    ):
        self.every = require_int("every", every, 1)
        self.episodes = require_int("episodes", episodes, 1)
        self.deterministic = bool(deterministic)
        self.best_path = None if best_path is None else Path(best_path)
        self.seed = None if seed is None else require_int("seed", seed, 0)
        self.num_envs = min(self.episodes, 16) if num_envs is None else require_int("num_envs", num_envs, 1)
        self.best = -math.inf
        self.history: list[tuple[int, float]] = []
        self.agent: Any = None
        self.given_env = env
        self.env: VecEnv | None = None

    def on_training_start(self, agent: Any) -> None:
        self.agent = agent
        cfg = None
        if self.given_env is None or self.best_path is not None:  # to build the env, or to save the best policy
            try:
                cfg = agent.describe()
            except ValueError as err:  # an agent that cannot be saved says so now, not at its first better score
                if self.best_path is None:
                    raise
                raise ValueError(f"EvalCallback(best_path=...) keeps the best policy with agent.save, but {err}") from None
        if self.seed is None:
            self.seed = EVAL_SEED_OFFSET + (0 if self.given_env is not None else cfg.seed)
        if self.given_env is not None:
            check_policy_fits(agent.policy, self.given_env)
            self.env = self.given_env
        else:
            if not runtime.is_main_process():
                return
            with torch.random.fork_rng(devices=[]):  # building an env may draw from torch's RNG
                self.env = evaluation_env(cfg, self.num_envs, self.seed, agent.device)
        if self.best_path is not None and self._score_file().is_file():
            self.best = float(json.loads(self._score_file().read_text())["return_mean"])

    def on_epoch_end(self, metrics: Metrics) -> None:
        # under torchrun only rank 0 evaluates (and logs, and saves): the policy is the same on every rank
        if (int(metrics["epoch"]) + 1) % self.every != 0 or not runtime.is_main_process():
            metrics.update(dict.fromkeys(EVAL_KEYS))
            return
        returns, lengths = self.evaluate()
        mean = float(returns.mean())
        metrics.update({"eval/return_mean": mean, "eval/return_std": float(returns.std()),
                        "eval/length_mean": float(lengths.mean())})
        self.history.append((int(metrics["epoch"]), mean))
        if self.best_path is not None and mean > self.best:
            self.best = mean
            self.agent.save(self.best_path)
            score = {"epoch": int(metrics["epoch"]), "env_steps": int(metrics["time/env_steps"]), "return_mean": mean,
                     "episodes": self.episodes, "deterministic": self.deterministic, "seed": self.seed}
            write_text_atomic(self._score_file(), json.dumps(score, indent=1))  # never a torn score beside best.pt

    def evaluate(self) -> tuple[Any, Any]:
        """Returns (float64) and lengths (int64) of `episodes` fresh episodes of the current policy, (episodes,)."""
        assert self.env is not None, "on_training_start builds the evaluation env"
        policy = self.agent.policy
        was_training = policy.training
        policy.eval()
        try:
            # manual_seed reseeds CUDA too: fork that device's generator as well, or training's sampling would change
            devices = [self.agent.device] if self.agent.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                torch.manual_seed(self.seed)  # the same sampled actions for the same weights
                return run_episodes(policy, self.env, self.episodes, self.deterministic, self.seed)
        finally:
            policy.train(was_training)

    def on_training_end(self) -> None:
        if self.env is not None and self.env is not self.given_env:  # the caller's env stays open
            self.env.close()
        self.env = None

    def _score_file(self) -> Path:
        assert self.best_path is not None
        return self.best_path.with_name(self.best_path.name + ".json")
