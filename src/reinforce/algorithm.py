"""REINFORCE: collect a (T, E) rollout, weight each log π(a_t|s_t) by its return G_t, step Adam once.

The loss is `mean over the T·E rows of -log π(a_t|s_t)·G_t`. Its gradient is therefore
-(1/(T·E)) Σ_t ∇log π(a_t|s_t)·G_t: the policy-gradient estimate scaled by the positive constant
1/(T·E). With one episode of horizon H per env per rollout (T = H) its expectation is -∇J(θ)/H.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch

from reinforce.policies import Policy
from reinforce.returns import bootstrapped_returns
from reinforce.rollout import Batch, RolloutCollector
from reinforce.vector import VecEnv

Metrics = dict[str, float]


def check_hyperparameters(lr: float, gamma: float, steps_per_rollout: int) -> None:
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not (isinstance(gamma, (int, float)) and 0.0 <= gamma <= 1.0):
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    if isinstance(steps_per_rollout, bool) or not isinstance(steps_per_rollout, int) or steps_per_rollout < 1:
        raise ValueError(f"steps_per_rollout must be an integer >= 1, got {steps_per_rollout!r}")


class Reinforce:
    """The article's algorithm: one policy update per epoch from a fixed-length rollout in E envs.

    `collect()` and `update(batch)` are separate so a batch can be inspected, reused in tests or
    fed from elsewhere; `learn(epochs)` is the loop that strings them together.
    """

    def __init__(
        self,
        env: VecEnv,
        policy: Policy,
        lr: float = 1e-2,
        gamma: float = 0.99,
        steps_per_rollout: int = 1000,
        reset_each_epoch: bool = True,
    ):
        check_hyperparameters(lr, gamma, steps_per_rollout)
        self.env = env
        self.device = torch.device(env.device)
        self.policy = policy.to(self.device)
        self.gamma = float(gamma)
        self.steps_per_rollout = steps_per_rollout
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=lr)
        self.collector = RolloutCollector(env, self.policy, steps_per_rollout, reset_each_epoch=reset_each_epoch)
        self.epoch = 0  # updates done so far
        self.env_steps = 0  # transitions collected so far, all envs together
        self.wall_s = 0.0  # seconds spent in collect + update so far
        self._epoch_started: float | None = None

    # -- the three steps -------------------------------------------------------------------------
    def collect(self) -> Batch:
        """Run the policy for T steps in every env: tensors shaped (T, E, ...)."""
        self._epoch_started = time.perf_counter()
        return self.collector.collect()

    def returns(self, batch: Batch) -> torch.Tensor:
        """(T, E) reward-to-go G_t, cut at terminations, truncations and the rollout's end."""
        return bootstrapped_returns(batch.rewards, batch.terminated, batch.truncated, self.gamma)

    def loss(self, batch: Batch) -> torch.Tensor:
        """Scalar mean(-log π(a_t|s_t)·G_t) over all T·E rows; differentiable w.r.t. the policy."""
        return self._loss_and_entropy(batch)[0]

    def _loss_and_entropy(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        returns_N = self.returns(batch).reshape(-1)
        obs_N = batch.obs.reshape(returns_N.shape[0], -1)
        actions_N = batch.actions.reshape(returns_N.shape[0], *batch.actions.shape[2:])
        dist = self.policy.pi(obs_N)  # one batched forward for the whole rollout
        logp_N = dist.log_prob(actions_N)
        return -(logp_N * returns_N).mean(), dist.entropy().mean()

    def update(self, batch: Batch) -> Metrics:
        """One optimiser step on `batch`; returns the epoch's metrics (names are stable, see README)."""
        loss, entropy = self._loss_and_entropy(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the loss became {loss.item()} at epoch {self.epoch}: check the env's rewards and "
                "observations for NaN/inf, or lower the learning rate"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return self._metrics(batch, loss.item(), entropy.item())

    def learn(self, epochs: int, callback: Callable[[Metrics], bool | None] | None = None) -> list[Metrics]:
        """The article's loop: `epochs` × (collect, update). `callback(metrics)` returning False stops early."""
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
        history = []
        for _ in range(epochs):
            metrics = self.update(self.collect())
            history.append(metrics)
            if callback is not None and callback(metrics) is False:
                break
        return history

    # -- bookkeeping -----------------------------------------------------------------------------
    def _metrics(self, batch: Batch, loss: float, entropy: float) -> Metrics:
        now = time.perf_counter()
        elapsed = now - (self._epoch_started if self._epoch_started is not None else now)
        self._epoch_started = None
        self.wall_s += elapsed
        self.env_steps += batch.num_steps
        episodes = int(batch.episode_returns.numel())
        dones = int(batch.dones.sum().item())
        metrics = {
            "epoch": self.epoch,
            "time/env_steps": self.env_steps,
            "time/wall_s": self.wall_s,
            "time/steps_per_s": batch.num_steps / elapsed if elapsed > 0 else float("nan"),
            "rollout/ep_return_mean": batch.episode_returns.mean().item() if episodes else float("nan"),
            "rollout/ep_len_mean": batch.episode_lengths.float().mean().item() if episodes else float("nan"),
            "rollout/episodes": episodes,
            # The article's figure: all reward in the rollout over the number of episode ends.
            "rollout/article_avg_reward": batch.rewards.sum().item() / max(dones, 1),
            "train/loss": loss,
            "train/entropy": entropy,
        }
        self.epoch += 1
        return metrics


METRIC_NAMES = (
    "epoch",
    "time/env_steps",
    "time/wall_s",
    "time/steps_per_s",
    "rollout/ep_return_mean",
    "rollout/ep_len_mean",
    "rollout/episodes",
    "rollout/article_avg_reward",
    "train/loss",
    "train/entropy",
)
