"""REINFORCE: collect a (T, E) rollout, weight each log π(a_t|s_t) by a return or advantage, step Adam once.

The loss is `mean over the T·E rows of -log π(a_t|s_t)·Ψ_t` (minus an optional entropy bonus),
where Ψ_t is the weight the options choose:

| returns / baseline | Ψ_t |
| --- | --- |
| reward_to_go, none (default) | G_t, cut at terminations, truncations and the rollout's end (the article) |
| total, none | G_0 of the episode segment the step belongs to (the article's first form) |
| *, mean | G - b, b = mean of the *other* envs' weights in the batch (leave-one-env-out: unbiased) |
| *, value | G - V(s_t), G bootstrapped with γ·V at truncations and at the rollout end |
| gae | GAE(λ) from V; λ = 1 is G - V (unbiased), λ < 1 is biased by design |

V is the value function *before* this batch's fit, so the baseline cannot see the batch's actions;
it is refitted after the policy step. The gradient is the policy-gradient estimate scaled by
1/(T·E): with one episode of horizon H per env per rollout its expectation is -∇J(θ)/H.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch

from reinforce.config import BASELINES, LR_SCHEDULES, RETURN_FORMS
from reinforce.policies import Policy
from reinforce.returns import bootstrapped_returns, episode_starts, gae_advantages, total_returns
from reinforce.rollout import Batch, RolloutCollector
from reinforce.value import ValueFunction
from reinforce.envs.vector import VecEnv

Metrics = dict[str, float]


def check_hyperparameters(lr: float, gamma: float, steps_per_rollout: int) -> None:
    if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if not (isinstance(gamma, (int, float)) and 0.0 <= gamma <= 1.0):
        raise ValueError(f"gamma must be in [0, 1], got {gamma!r}")
    if isinstance(steps_per_rollout, bool) or not isinstance(steps_per_rollout, int) or steps_per_rollout < 1:
        raise ValueError(f"steps_per_rollout must be an integer >= 1, got {steps_per_rollout!r}")


def _check_choice(name: str, value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


class Reinforce:
    """The article's algorithm, one policy update per epoch from a fixed-length rollout in E envs.

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
        returns: str = "reward_to_go",
        baseline: str = "none",
        gae_lambda: float = 0.95,
        normalize_advantages: bool = False,
        entropy_coef: float = 0.0,
        max_grad_norm: float | None = None,
        lr_schedule: str = "constant",
        schedule_epochs: int | None = None,
        value_lr: float = 1e-3,
        value_hidden_sizes: Sequence[int] = (64, 64),
        value_iters: int = 10,
    ):
        check_hyperparameters(lr, gamma, steps_per_rollout)
        _check_choice("returns", returns, RETURN_FORMS)
        _check_choice("baseline", baseline, BASELINES)
        _check_choice("lr_schedule", lr_schedule, LR_SCHEDULES)
        if not 0.0 <= gae_lambda <= 1.0:
            raise ValueError(f"gae_lambda must be in [0, 1], got {gae_lambda!r}")
        if baseline == "gae" and returns == "total":
            raise ValueError("baseline 'gae' replaces the return; use returns='reward_to_go' with it")
        if entropy_coef < 0 or (max_grad_norm is not None and max_grad_norm <= 0):
            raise ValueError(f"entropy_coef must be >= 0 and max_grad_norm > 0, got {entropy_coef}, {max_grad_norm}")
        self.env = env
        self.device = torch.device(env.device)
        self.policy = policy.to(self.device)
        self.gamma, self.gae_lambda = float(gamma), float(gae_lambda)
        self.steps_per_rollout = steps_per_rollout
        self.return_form, self.baseline = returns, baseline
        self.normalize_advantages = normalize_advantages
        self.entropy_coef, self.max_grad_norm = float(entropy_coef), max_grad_norm
        self.lr, self.lr_schedule, self.schedule_epochs = float(lr), lr_schedule, schedule_epochs
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=lr)
        self.value_fn: ValueFunction | None = None
        self._values_memo: tuple[Batch, tuple[torch.Tensor, ...]] | None = None
        if baseline in ("value", "gae"):
            obs_dim = self.policy.obs_dim
            self.value_fn = ValueFunction(obs_dim, value_hidden_sizes, self.policy.obs_normalizer).to(self.device)
            self.value_optimizer = torch.optim.Adam(self.value_fn.parameters(), lr=value_lr)
            self.value_iters = int(value_iters)
        self.collector = RolloutCollector(
            env, self.policy, steps_per_rollout, reset_each_epoch=reset_each_epoch, keep_final_obs=self.value_fn is not None
        )
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
        """(T, E) discounted reward-to-go; bootstrapped with γ·V at truncations and the rollout end
        when a value function is present, else cut there (the article)."""
        if self.value_fn is None:
            return bootstrapped_returns(batch.rewards, batch.terminated, batch.truncated, self.gamma)
        _, last_values, final_values = self._values(batch)
        return bootstrapped_returns(
            batch.rewards, batch.terminated, batch.truncated, self.gamma, final_values, last_values
        )

    def _values(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """V before this batch's fit at every obs (T, E), at s_T (E,), and at the final obs of the
        episodes that ended at t (T, E; 0 where none did). Computed once per update."""
        if self._values_memo is not None and self._values_memo[0] is batch:
            return self._values_memo[1]
        if batch.final_obs is None:
            raise ValueError("a value baseline needs batch.final_obs: collect with keep_final_obs=True")
        with torch.no_grad():
            values = self.value_fn(batch.obs)
            last_values = self.value_fn(batch.last_obs)
            ended = batch.dones
            final_values = torch.zeros_like(values)
            final_values[ended] = self.value_fn(batch.final_obs[ended])  # only rows that ended need V
        return values, last_values, final_values

    def advantages(self, batch: Batch) -> torch.Tensor:
        """(T, E) weights Ψ_t of the log-probabilities (see the module docstring)."""
        weights = self._raw_advantages(batch)
        return self._normalize(weights) if self.normalize_advantages else weights

    # The two batch-wide statistics of the weights; data-parallel training takes them job-wide.
    def _mean_baseline(self, weights_TE: torch.Tensor) -> torch.Tensor:
        return leave_one_env_out_mean(weights_TE)

    def _normalize(self, weights: torch.Tensor) -> torch.Tensor:
        if weights.numel() <= 1:
            return weights
        return (weights - weights.mean()) / (weights.std() + 1e-8)

    def _raw_advantages(self, batch: Batch) -> torch.Tensor:
        if self.baseline == "gae":
            values, last_values, final_values = self._values(batch)
            next_values = torch.where(batch.dones, final_values, torch.cat([values[1:], last_values[None]]))
            weights = gae_advantages(
                batch.rewards, values, next_values, batch.terminated, batch.truncated, self.gamma, self.gae_lambda
            )
        else:
            weights = self.returns(batch)
            if self.return_form == "total":
                weights = total_returns(weights, episode_starts(batch.dones))
            if self.baseline == "value":
                weights = weights - self._values(batch)[0]
            elif self.baseline == "mean":
                weights = weights - self._mean_baseline(weights)
        return weights

    def loss(self, batch: Batch) -> torch.Tensor:
        """Scalar mean(-log π(a_t|s_t)·Ψ_t) - entropy_coef·mean entropy, over all T·E rows."""
        return self._loss_and_entropy(batch)[0]

    def _loss_and_entropy(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        weights_N = self.advantages(batch).reshape(-1)
        n = weights_N.shape[0]
        obs_N = batch.obs.reshape(n, -1)
        actions_N = batch.actions.reshape(n, *batch.actions.shape[2:])
        dist = self.policy.pi(obs_N)  # one batched forward for the whole rollout
        logp_N = dist.log_prob(actions_N)
        entropy = self.policy.entropy(dist).mean()
        return -(logp_N * weights_N).mean() - self.entropy_coef * entropy, entropy

    def update(self, batch: Batch) -> Metrics:
        """One policy step on `batch` (then the value fit and normaliser update); returns the epoch's metrics."""
        self._check_finite(batch)
        self._apply_lr_schedule()
        if self.value_fn is not None:  # V is evaluated once; the loss and the value targets share it
            self._values_memo = (batch, self._values(batch))
        try:
            return self._update(batch)
        finally:
            self._values_memo = None

    def _update(self, batch: Batch) -> Metrics:
        loss, entropy = self._loss_and_entropy(batch)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the loss became {loss.item()} at epoch {self.epoch}: lower the learning rate "
                "(or clip gradients with max_grad_norm)"
            )
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.reduce_gradients()
        grad_norm = torch.nn.utils.clip_grad_norm_(
            self.policy.parameters(), self.max_grad_norm if self.max_grad_norm is not None else float("inf")
        )
        self.optimizer.step()
        extra = {"train/grad_norm": grad_norm.item()}
        if self.value_fn is not None:
            extra["train/value_loss"] = self.fit_value(batch)
        if self.policy.obs_normalizer is not None:
            # After the step: the rollout and its loss both used the same (frozen) statistics.
            self.policy.obs_normalizer.update(batch.obs)
        return self._metrics(batch, loss.item(), entropy.item(), extra)

    def fit_value(self, batch: Batch) -> float:
        """`value_iters` full-batch Adam steps of V toward the (bootstrapped) returns; returns the last MSE."""
        if self.baseline == "gae":
            targets = self._raw_advantages(batch) + self._values(batch)[0]  # λ-returns
        else:
            targets = self.returns(batch)
        obs_N, targets_N = batch.obs.reshape(targets.numel(), -1), targets.reshape(-1)
        for _ in range(self.value_iters):
            value_loss = (self.value_fn(obs_N) - targets_N).pow(2).mean()
            self.value_optimizer.zero_grad(set_to_none=True)
            value_loss.backward()
            self.reduce_value_gradients()
            self.value_optimizer.step()
        return value_loss.item()

    def reduce_gradients(self) -> None:
        """Hook between backward and the optimiser step (data-parallel training averages here)."""

    def reduce_value_gradients(self) -> None:
        """The same hook for the value function's fitting steps."""

    def learn(self, epochs: int, callback: Callable[[Metrics], bool | None] | None = None) -> list[Metrics]:
        """The article's loop: `epochs` × (collect, update). `callback(metrics)` returning False stops early."""
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
        if self.schedule_epochs is None:
            self.schedule_epochs = self.epoch + epochs
        history = []
        for _ in range(epochs):
            metrics = self.update(self.collect())
            history.append(metrics)
            if callback is not None and callback(metrics) is False:
                break
        return history

    # -- state -----------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Everything the learner needs to continue exactly: weights, optimisers, counters."""
        state = {
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "env_steps": self.env_steps,
            "wall_s": self.wall_s,
            "schedule_epochs": self.schedule_epochs,
        }
        if self.value_fn is not None:
            state["value_fn"] = self.value_fn.state_dict()
            state["value_optimizer"] = self.value_optimizer.state_dict()
        return state

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.value_fn is not None:
            self.value_fn.load_state_dict(state["value_fn"])
            self.value_optimizer.load_state_dict(state["value_optimizer"])
        self.epoch, self.env_steps = int(state["epoch"]), int(state["env_steps"])
        self.wall_s, self.schedule_epochs = float(state["wall_s"]), state["schedule_epochs"]

    # -- bookkeeping -----------------------------------------------------------------------------
    def _apply_lr_schedule(self) -> None:
        if self.lr_schedule == "linear" and self.schedule_epochs:
            fraction = max(0.0, 1.0 - self.epoch / self.schedule_epochs)
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr * fraction

    def _check_finite(self, batch: Batch) -> None:
        for name, tensor in (("observations", batch.obs), ("rewards", batch.rewards)):
            if not torch.isfinite(tensor).all():
                rows = (~torch.isfinite(tensor.reshape(tensor.shape[0], -1))).any(-1).nonzero().flatten()
                raise FloatingPointError(
                    f"the env returned NaN or inf {name} at epoch {self.epoch} (rollout steps "
                    f"{rows[:5].tolist()}{'...' if len(rows) > 5 else ''}); nothing was learned from this batch"
                )

    def _metrics(self, batch: Batch, loss: float, entropy: float, extra: Metrics) -> Metrics:
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
            "train/lr": self.optimizer.param_groups[0]["lr"],
            **extra,
        }
        self.epoch += 1
        return metrics


def leave_one_env_out_mean(weights_TE: torch.Tensor) -> torch.Tensor:
    """(T, E) -> (1, E): for env e, the mean weight of all *other* envs' rows in the batch.

    Envs are independent, so this baseline cannot depend on env e's actions: the estimator stays
    unbiased (a plain batch mean would include the row's own return, an O(1/N) bias). With one env
    there is no other env and the plain batch mean is used.
    """
    T, E = weights_TE.shape
    if E == 1:
        return weights_TE.mean().expand(1, 1)
    per_env = weights_TE.sum(0, keepdim=True)
    return (per_env.sum() - per_env) / (T * (E - 1))


# Logged every epoch by every run (options add train/value_loss etc. after these).
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
    "train/lr",
    "train/grad_norm",
)
