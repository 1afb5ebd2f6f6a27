"""REINFORCE's update: weight each log π(a_t|s_t) of a (T, E) rollout by a return or advantage, step Adam once.

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

One update, in order: `with_targets(batch)` computes Ψ and V's targets once; the loss, the policy
step, the value fit, the normaliser update. Options are validated by `ReinforceOptions`; timing and
the loop over epochs belong to the run layer (`reinforce.run`).
"""
from __future__ import annotations

import dataclasses
from typing import Any

import torch

from reinforce import autoregressive as ar
from reinforce.config import ReinforceOptions
from reinforce.envs.vector import VecEnv
from reinforce.hotpath import HotPath, log_prob_and_entropy
from reinforce.metrics import Metrics, rollout_metrics, to_numbers
from reinforce.policies import Policy, check_policy_fits
from reinforce.policy_base import in_row_slices, rows_per_slice
from reinforce.reduce import LOCAL, Reducer, leave_one_env_out_mean, normalize
from reinforce.returns import bootstrapped_returns, episode_starts, gae, total_returns
from reinforce.rollout import Batch, RolloutCollector
from reinforce.optim import exact_lr, load_keeping_kernel, make_adam, portable_state
from reinforce.value import ValueFunction


def make_options(options: ReinforceOptions | None = None, **overrides: Any) -> ReinforceOptions:
    """`options` (a ReinforceOptions or a Config; only the algorithm's fields are kept) with `overrides`."""
    if options is not None and not hasattr(options, "options"):
        raise TypeError(f"options must be a ReinforceOptions or a Config, got {type(options).__name__} {options!r}; "
                        "give settings as keywords, e.g. Reinforce(env, policy, lr=0.1)")
    base = ReinforceOptions() if options is None else options.options
    return base.replace(**overrides) if overrides else base


class PolicyGradient:
    """The article's algorithm: one policy update per epoch from a fixed-length rollout in E envs.

    `collect()` and `update(batch)` are separate so a batch can be inspected, reused in tests or fed
    from elsewhere. `reducer` makes the batch-wide statistics and the gradient job-wide (torchrun);
    `seed` seeds the envs' first reset (default: the env's own `seed`).
    """

    def __init__(
        self,
        env: VecEnv,
        policy: Policy,
        options: ReinforceOptions | None = None,
        *,
        reducer: Reducer = LOCAL,
        seed: int | None = None,
        **overrides: Any,
    ):
        self.options = opts = make_options(options, **overrides)
        if not hasattr(env, "single_action_space") or not isinstance(policy, torch.nn.Module):
            raise TypeError(f"Reinforce(env, policy) takes a vector env (reinforce.make_vec_env, from_env) and a policy "
                            f"module (reinforce.make_policy), got {type(env).__name__} and {type(policy).__name__}")
        check_policy_fits(policy, env)
        self.env, self.reducer = env, reducer
        self.device = torch.device(env.device)
        self.policy = policy.to(self.device)
        self.optimizer = make_adam(self.policy.parameters(), lr=opts.lr)
        self.value_fn: ValueFunction | None = None
        if opts.baseline in ("value", "gae"):
            self.value_fn = ValueFunction(self.policy.obs_dim, opts.value_hidden_sizes, encoder=self._value_encoder()).to(self.device)
            self.value_optimizer = make_adam(self.value_fn.parameters(), lr=opts.value_lr)
        self.collector = RolloutCollector(
            env,
            self.policy,
            opts.steps_per_rollout,
            seed=env.seed if seed is None else seed,
            reset_each_epoch=opts.reset_each_epoch,
            keep_final_obs=self.value_fn is not None,
        )
        self.compile_hot_path(False)
        self.select_final_values = self.device.type != "cpu"  # see _values; a graphed epoch sets it on CPU too
        n_params = sum(p.numel() for m in self.modules() for p in m.parameters())
        fingerprint = torch.tensor([opts.steps_per_rollout, env.num_envs, n_params])
        reducer.broadcast_modules(self.modules(), fingerprint)
        self.epoch = 0  # updates done so far
        self.env_steps = 0  # transitions collected so far, all envs (of all processes) together
        self.schedule_epochs: int | None = None  # the linear lr schedule's horizon, fixed by the first learn()

    def _value_encoder(self) -> torch.nn.Module | None:
        """V's encoder: a fresh copy of the policy's image encoder (None for vectors), or with share_encoder the
        policy's own layers below its output (Policy.shared_torso)."""
        if not self.options.share_encoder:
            return self.policy.fresh_encoder()
        torso = self.policy.shared_torso() if hasattr(self.policy, "shared_torso") else None
        if torso is None:
            raise ValueError("share_encoder=true needs policy layers to share: an image encoder or hidden layers "
                             "(hidden_sizes); this policy is linear: set share_encoder=false or give it hidden_sizes")
        return torso

    def compile_hot_path(self, compiled: bool = True) -> None:
        """Run the rollout's sample, the loss's log-probabilities and the value fit through `torch.compile`
        (reinforce.hotpath; seconds of compilation on the first epoch), or eagerly again with False."""
        self.hot = HotPath(self.policy, self._value_of if self.value_fn is not None else None,
                           entropy_grad=self.options.entropy_coef != 0, compiled=compiled, value_fn=self.value_fn)
        self.collector.sample = self.hot.sample

    def modules(self) -> list[torch.nn.Module]:
        """The learned modules: the policy (with its normaliser) and the value function, if any."""
        return [self.policy] + ([self.value_fn] if self.value_fn is not None else [])

    # -- the steps of an epoch -------------------------------------------------------------------
    def collect(self) -> Batch:
        """Run the policy for T steps in every env: tensors shaped (T, E, ...)."""
        self.apply_noise_gain()
        return self.collector.collect()

    def apply_noise_gain(self) -> None:
        """Fade the correlated exploration for the coming rollout by 1 decaying linearly to 0 over
        `correlated_noise_decay_steps`: the exogenous ξ's scale (the batch stores the scaled noise: the loss sees
        its scale) or the autoregressive ρ (the policy's `ar_fade`, read by this epoch's rollout and loss alike)."""
        decay = self.options.correlated_noise_decay_steps
        if decay:  # filled in place: a captured rollout (run/graphed.py) reads it on every replay
            self.collector.noise_gain.fill_(max(0.0, 1.0 - self.env_steps / decay))
        if ar.is_autoregressive(self.policy):  # also without a decay: a policy faded by another agent starts whole
            self.policy.ar_fade = max(0.0, 1.0 - self.env_steps / decay) if decay else 1.0

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """V(s) of raw observations (..., obs_dim), read as the policy reads them (normalised when it normalises).
        Under the policy's mirror (`mirror_obs_signs`) V is made even, the mean of V at s and at its image. Where
        the value fit goes by hand (CPU, vectors), a long batch goes in its slices of rows: the same values."""
        rows = self.hot.value_slice_rows(obs.shape[-1], obs.numel() // obs.shape[-1], 2 if self._mirrored() else 1)
        if not rows:
            return self._value_of(self._value_inputs(obs))
        values_N = in_row_slices(lambda part: self._value_of(self._value_inputs(part)), obs.reshape(-1, obs.shape[-1]), rows)
        return values_N.view(obs.shape[:-1])

    def _mirrored(self) -> bool:
        """V is made even: the policy has a mirror (a policy of the user's own may not) and `mirror_value` is on."""
        return self.options.mirror_value and getattr(self.policy, "obs_mirror", None) is not None

    def _value_inputs(self, obs: torch.Tensor) -> torch.Tensor:
        """What `value_fn` reads for raw `obs`: normalised, stacked with the mirror image (2, ...) under a mirror."""
        return self.policy.normalize(self.policy.both_sides(obs) if self._mirrored() else obs)

    def _value_of(self, inputs: torch.Tensor) -> torch.Tensor:
        values = self.value_fn(inputs)
        return values.mean(0) if self._mirrored() else values

    @torch.no_grad()
    def _values(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """V before this batch's fit at every obs (T, E), at s_T (E,), and at the final obs of the
        episodes that ended at t (T, E; 0 where none did)."""
        if batch.final_obs is None:
            raise ValueError("a value baseline needs batch.final_obs: collect with keep_final_obs=True")
        values_TE = self.value(batch.obs)
        last_E = self.value(batch.last_obs)
        # Only rows where an episode ended need V(final obs); elsewhere it is never read. It is computed for all
        # rows and selected (no host sync: a CUDA graph can hold it), or on CPU at the ended rows alone (nonzero).
        if self.select_final_values:
            return values_TE, last_E, torch.where(batch.dones, self.value(batch.final_obs), torch.zeros_like(values_TE))
        final_TE, ended = torch.zeros_like(values_TE), batch.dones.nonzero(as_tuple=True)
        if ended[0].numel():
            final_TE[ended] = self.value(batch.final_obs[ended])
        return values_TE, last_E, final_TE

    def returns(self, batch: Batch) -> torch.Tensor:
        """(T, E) discounted reward-to-go; bootstrapped with γ·V at truncations and the rollout end
        when a value function is present, else cut there (the article)."""
        gamma = self.options.gamma
        if self.value_fn is None:
            return bootstrapped_returns(batch.rewards, batch.terminated, batch.truncated, gamma)
        _, last_E, final_TE = self._values(batch)
        return bootstrapped_returns(batch.rewards, batch.terminated, batch.truncated, gamma, final_TE, last_E)

    @torch.no_grad()
    def with_targets(self, batch: Batch) -> Batch:
        """`batch` with `weights` (Ψ_t, see the module docstring) and, with a value function, `value_targets`."""
        o = self.options
        value_targets = None
        if o.baseline == "gae":
            values_TE, last_E, final_TE = self._values(batch)
            next_values_TE = torch.where(batch.dones, final_TE, torch.cat([values_TE[1:], last_E[None]]))
            weights, value_targets = gae(
                batch.rewards, values_TE, next_values_TE, batch.terminated, batch.truncated, o.gamma, o.gae_lambda
            )
        else:
            weights = self.returns(batch)
            value_targets = weights if self.value_fn is not None else None
            if o.returns == "total":
                weights = total_returns(weights, episode_starts(batch.dones))
            if o.baseline == "value":
                weights = weights - self._values(batch)[0]
            elif o.baseline == "mean":
                weights = weights - leave_one_env_out_mean(weights, self.reducer)
        if o.normalize_advantages:
            weights = normalize(weights, self.reducer)
        return dataclasses.replace(batch, weights=weights, value_targets=value_targets)

    def advantages(self, batch: Batch) -> torch.Tensor:
        """(T, E) weights Ψ_t of the log-probabilities."""
        return self.with_targets(batch).weights

    def loss(self, batch: Batch) -> torch.Tensor:
        """Scalar mean(-log π(a_t|s_t)·Ψ_t) - entropy_coef·mean entropy, over all T·E rows."""
        return self._loss_and_entropy(batch if batch.weights is not None else self.with_targets(batch))[0]

    def _loss_and_entropy(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        weights_N = batch.weights.reshape(-1)
        n = weights_N.shape[0]
        obs_N = batch.obs.flatten(0, 1)  # (T·E, ...): vectors or images alike
        actions_N = batch.actions.reshape(n, *batch.actions.shape[2:])
        if batch.prev_obs is None and batch.noise is None and batch.action_mask is None:
            # one batched forward for the whole rollout (compiled with Config.compile)
            logp_N, entropy_N = self.hot.logp_entropy(obs_N, actions_N)
        else:
            if batch.prev_obs is not None:  # π(a_t | s_t, s_{t-1}, a_{t-1}): autoregressive exploration
                dist = ar.batch_pi(self.policy, batch.obs, batch.actions, batch.dones, batch.prev_obs, batch.prev_u,
                                   batch.prev_fresh)
            elif batch.noise is not None:  # π(a_t | s_t, ξ_t): the correlated noise the rollout drew
                dist = self.policy.pi(obs_N, noise=batch.noise.reshape(n, -1))
            else:  # the actions allowed at each s_t, (N, n)
                dist = self.policy.pi(obs_N, batch.action_mask.reshape(n, -1))
            logp_N, entropy_N = log_prob_and_entropy(dist, actions_N, self.hot.entropy_grad)
        policy_loss, entropy = -(logp_N * weights_N).mean(), entropy_N.mean()
        if self.options.entropy_coef == 0:
            return policy_loss, entropy
        return policy_loss - self.options.entropy_coef * entropy, entropy

    def update(self, batch: Batch) -> Metrics:
        """One policy step on `batch` (then the value fit and normaliser update); the epoch's metrics as numbers."""
        return to_numbers(self.step(batch))

    def step(self, batch: Batch) -> dict[str, torch.Tensor | int]:
        """`update` with the metrics left as tensors on the device (one host sync: the loss check)."""
        self._apply_lr_schedule()
        self.optimizer.zero_grad(set_to_none=True)
        batch, loss, entropy = self.targets_and_loss(batch, backward=True)
        if not torch.isfinite(loss):  # the gradients of a non-finite loss are dropped, never applied
            self.optimizer.zero_grad(set_to_none=True)
            raise FloatingPointError(self._diagnose_nonfinite(batch, loss))
        learned = self.descend(batch)
        episodes = (batch.episode_returns.double().sum(), batch.episode_lengths.double().sum(),
                    batch.episode_returns.new_full((), batch.episode_returns.numel(), dtype=torch.float64))
        return self.finish_epoch(batch, episodes, {**learned, "train/loss": loss.detach(), "train/entropy": entropy.detach()})

    def targets_and_loss(self, batch: Batch, backward: bool = False) -> tuple[Batch, torch.Tensor, torch.Tensor]:
        """The batch with its weights (and value targets), the loss and the mean entropy: no host sync. With
        `backward` the loss's gradients are added to the policy's `.grad` too and the loss comes back detached."""
        batch = self.with_targets(batch)
        loss, entropy = self._loss_with_grads(batch) if backward else self._loss_and_entropy(batch)
        return batch, loss, entropy

    def _loss_with_grads(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss and entropy (detached), backward done. Eager on CPU a long batch of vector observations goes in
        slices of rows that stay in cache (policy_base.rows_per_slice): the same sums, added in another order (a
        compiled loss would compile again for the last slice's shape)."""
        vectors = (self.device.type == "cpu" and not self.hot.compiled and batch.prev_obs is None
                   and batch.obs.dim() == 3)
        rows = rows_per_slice(self.policy, batch.obs.shape[-1], batch.weights.numel()) if vectors else 0
        if not rows:
            loss, entropy = self._loss_and_entropy(batch)
            loss.backward()
            return loss.detach(), entropy.detach()
        loss = entropy = torch.zeros((), device=self.device)
        for share, part in batch.row_slices(rows):
            part_loss, part_entropy = self._loss_and_entropy(part)
            (part_loss * share).backward()
            loss, entropy = loss + part_loss.detach() * share, entropy + part_entropy.detach() * share
        return loss, entropy

    def descend(self, batch: Batch, loss: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """The policy step on `loss` (None: its gradients are in `.grad` already), the value fit, the normaliser
        update (no host sync); returns the gradient norm and the value loss as device tensors."""
        if loss is not None:
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
        self.reducer.average_gradients(self.policy.parameters(), "policy")
        max_norm = self.options.max_grad_norm if self.options.max_grad_norm is not None else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), max_norm)
        self.optimizer.step()
        learned = {"train/grad_norm": grad_norm.detach()}
        if self.value_fn is not None:
            learned["train/value_loss"] = self.fit_value(batch)
        if self.policy.obs_normalizer is not None:
            # After the step: the rollout and its loss both used the same (frozen) statistics.
            self.policy.obs_normalizer.update(batch.obs, self.reducer)
        return learned

    def finish_epoch(self, batch: Batch, episodes: tuple[torch.Tensor, ...], train: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | int]:
        """The epoch's metrics (tensors) from the batch, the (return sum, length sum, count) of its finished
        episodes and the update's `train/` tensors; advances the epoch and step counters."""
        lr = exact_lr(self.optimizer.param_groups[0]["lr"], self._lr_set())
        metrics = {
            "epoch": self.epoch,
            "time/env_steps": self.env_steps + batch.num_steps * self.reducer.world_size,
            # episodes: this process's (return sum, length sum, count) of finished episodes, float64
            **rollout_metrics(self.reducer.sum(torch.stack([*episodes, batch.rewards.sum(dtype=torch.float64),
                                                            batch.dones.sum(dtype=torch.float64)]))),
            "train/loss": self._job_mean(train["train/loss"]),
            "train/entropy": self._job_mean(train["train/entropy"]),
            "train/lr": torch.tensor(lr),
            "train/grad_norm": train["train/grad_norm"],
            **({"train/value_loss": self._job_mean(train["train/value_loss"])} if "train/value_loss" in train else {}),
        }
        self.epoch += 1
        self.env_steps = metrics["time/env_steps"]
        return metrics

    def fit_value(self, batch: Batch) -> torch.Tensor:
        """`value_iters` full-batch Adam steps of V toward the batch's value targets; returns the last MSE."""
        if batch.value_targets is None:
            batch = self.with_targets(batch)
        inputs_N = self._value_inputs(batch.obs.flatten(0, 1))  # normalised (and mirrored) once for every fit
        targets_N = batch.value_targets.reshape(-1)
        for _ in range(self.options.value_iters):
            self.value_optimizer.zero_grad(set_to_none=True)
            value_loss = self.hot.value_loss_and_grads(inputs_N, targets_N)
            self.reducer.average_gradients(self.value_fn.parameters(), "value function")
            self.value_optimizer.step()
        return value_loss.detach()

    # -- metrics ---------------------------------------------------------------------------------
    def _job_mean(self, value: torch.Tensor) -> torch.Tensor:
        return self.reducer.sum(value.double()) / self.reducer.world_size

    def _diagnose_nonfinite(self, batch: Batch, loss: torch.Tensor) -> str:
        for name, tensor in (("observations", batch.obs), ("rewards", batch.rewards), ("final observations", batch.final_obs)):
            if tensor is not None and not torch.isfinite(tensor).all():
                rows = (~torch.isfinite(tensor.reshape(tensor.shape[0], -1))).any(-1).nonzero().flatten()
                return (
                    f"the env returned NaN or inf {name} at epoch {self.epoch} (rollout steps "
                    f"{rows[:5].tolist()}{'...' if len(rows) > 5 else ''}); nothing was learned from this batch"
                )
        return f"the loss became {loss.item()} at epoch {self.epoch}: lower the learning rate (or clip gradients with max_grad_norm)"

    # -- state -----------------------------------------------------------------------------------
    def lr_now(self) -> float | None:
        """The policy's learning rate for the coming update under the schedule; None when it stays as set."""
        if self.options.lr_schedule == "linear" and self.schedule_epochs:
            return self.options.lr * max(0.0, 1.0 - self.epoch / self.schedule_epochs)
        return None

    def _lr_set(self) -> float:
        """The learning rate the schedule sets now (the options' when it sets none)."""
        scheduled = self.lr_now()
        return self.options.lr if scheduled is None else scheduled

    def _apply_lr_schedule(self) -> None:
        lr = self.lr_now()
        if lr is None:
            return
        for group in self.optimizer.param_groups:
            if isinstance(group["lr"], torch.Tensor):  # a captured update's device lr (run/graphed.py): filled in place
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr

    def state_dict(self) -> dict:
        """Everything the learner needs to continue exactly: weights, optimisers, counters."""
        state = {
            "policy": self.policy.state_dict(),
            "optimizer": portable_state(self.optimizer.state_dict(), self._lr_set()),
            "epoch": self.epoch,
            "env_steps": self.env_steps,
            "schedule_epochs": self.schedule_epochs,
        }
        if self.value_fn is not None:
            state["value_fn"] = self.value_fn.state_dict()
            state["value_optimizer"] = portable_state(self.value_optimizer.state_dict(), self.options.value_lr)
        return state

    def load_state_dict(self, state: dict) -> None:
        self.policy.load_state_dict(state["policy"])
        load_keeping_kernel(self.optimizer, state["optimizer"])
        if self.value_fn is not None:
            self.value_fn.load_state_dict(state["value_fn"])
            load_keeping_kernel(self.value_optimizer, state["value_optimizer"])
        self.epoch, self.env_steps = int(state["epoch"]), int(state["env_steps"])
        self.schedule_epochs = state["schedule_epochs"]
