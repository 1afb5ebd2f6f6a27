"""Rollout collection: T steps in each of E envs into preallocated (T, E, ...) tensors.

The collector owns the env's current observation and each env's running episode return, so episodes
are scored whole even when they span the end of one rollout and the start of the next
(`reset_each_epoch=False`). Nothing leaves the device during the loop: episode ends are recorded as
(T, E) masks and turned into lists of returns once, after the loop.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import torch

from reinforce import autoregressive as ar
from reinforce.policies import Policy
from reinforce.envs.vector import VecEnv
from reinforce.spaces import action_spec


class EnvStepError(ValueError):
    """The environment's own `step` raised (a bug or a bad state in the env, not in the learner)."""


@dataclass
class Batch:
    """One rollout. T = steps per env, E = envs."""

    obs: torch.Tensor  # (T, E, D) float32 vectors or (T, E, *shape) uint8/bool images (reinforce.observations): s_t
    # the policy's raw samples: (T, E) int64 Discrete, (T, E, K) int64 MultiDiscrete, (T, E, n) float32 0/1
    # MultiBinary, (T, E, prod(shape)) float32 Box (flat, unclipped)
    actions: torch.Tensor
    rewards: torch.Tensor  # (T, E) float32: r_t
    terminated: torch.Tensor  # (T, E) bool: true end after step t
    truncated: torch.Tensor  # (T, E) bool: time limit after step t
    last_obs: torch.Tensor  # (E, obs_dim): s_T, where the rollout stops (for bootstrapping)
    episode_returns: torch.Tensor  # (n,) undiscounted returns of the episodes that ended in this rollout
    episode_lengths: torch.Tensor  # (n,) their lengths in steps
    final_obs: torch.Tensor | None = None  # (T, E, obs_dim): last obs of episodes ending at t, if kept
    # (T, E, n) bool: the actions allowed at s_t (info["action_mask"]; n = sum(nvec) for MultiDiscrete), None
    # when the env gives no masks
    action_mask: torch.Tensor | None = None
    # (T, E, act_dim) float32: the correlated exploration noise ξ_t (times the collector's noise_gain) the
    # Gaussian's mean was shifted by (noise_steps > 0), an input of π(a_t | s_t, ξ_t); None without it
    noise: torch.Tensor | None = None
    # Autoregressive exploration (reinforce.autoregressive), None without it: what row 0's conditional law reads
    # from before the rollout, the obs s_{-1} (E, ...), the pre-squash action u_{-1} (E, A), and (E,) bool
    # whether s_0 starts an episode (then neither is read); later rows take them from the row above
    prev_obs: torch.Tensor | None = None
    prev_u: torch.Tensor | None = None
    prev_fresh: torch.Tensor | None = None
    # Filled by the algorithm once per update (`PolicyGradient.with_targets`), then read by the loss and the value fit:
    weights: torch.Tensor | None = None  # (T, E) Ψ_t, the weight of log π(a_t|s_t)
    value_targets: torch.Tensor | None = None  # (T, E) what V(s_t) is fitted to, with a value function

    @property
    def dones(self) -> torch.Tensor:
        """(T, E) bool: the episode ended after step t, for either reason."""
        return self.terminated | self.truncated

    @property
    def num_steps(self) -> int:
        return self.rewards.numel()

    def keep_episodes(self, return_TE: torch.Tensor, length_TE: torch.Tensor) -> None:
        """Fill `episode_returns` / `episode_lengths` from the running return and length after each step (T, E),
        read where an episode ended (a boolean index: the host sync `RolloutCollector.rollout` leaves out)."""
        self.episode_returns, self.episode_lengths = return_TE[self.dones], length_TE[self.dones]

    def row_slices(self, rows: int) -> Iterator[tuple[float, Batch]]:
        """The loss's inputs (obs, actions, weights, noise, action masks) in slices of `rows` rows of the flattened
        T·E rows, each as a (1, rows) batch with its share of all rows: the loss of the whole batch, a mean over
        rows, is the share-weighted sum of the slices' losses. The other fields are left whole (not sliced)."""
        n = self.weights.numel()
        flat = {name: getattr(self, name).flatten(0, 1) for name in ("obs", "actions", "weights", "noise", "action_mask")
                if getattr(self, name) is not None}
        for start in range(0, n, rows):
            part = {name: rows_N[start : start + rows].unsqueeze(0) for name, rows_N in flat.items()}
            yield part["weights"].numel() / n, replace(self, **part)

    @staticmethod
    def concat(batches: list[Batch]) -> Batch:
        """Several batches of the same T as one batch of their envs side by side (env axis, in order)."""
        first = batches[0]
        final = None if first.final_obs is None else torch.cat([b.final_obs for b in batches], dim=1)
        mask = None
        if any(b.action_mask is not None for b in batches):  # a batch without masks allowed every action
            n = next(b.action_mask for b in batches if b.action_mask is not None).shape[-1]
            mask = torch.cat([b.action_mask if b.action_mask is not None
                              else b.rewards.new_ones((*b.rewards.shape, n), dtype=torch.bool) for b in batches], dim=1)
        return Batch(
            obs=torch.cat([b.obs for b in batches], dim=1),
            actions=torch.cat([b.actions for b in batches], dim=1),
            rewards=torch.cat([b.rewards for b in batches], dim=1),
            terminated=torch.cat([b.terminated for b in batches], dim=1),
            truncated=torch.cat([b.truncated for b in batches], dim=1),
            last_obs=torch.cat([b.last_obs for b in batches], dim=0),
            episode_returns=torch.cat([b.episode_returns for b in batches]),
            episode_lengths=torch.cat([b.episode_lengths for b in batches]),
            final_obs=final,
            action_mask=mask,
            noise=None if first.noise is None else torch.cat([b.noise for b in batches], dim=1),
            **{k: None if getattr(first, k) is None else torch.cat([getattr(b, k) for b in batches])
               for k in ("prev_obs", "prev_u", "prev_fresh")},
        )


class RolloutCollector:
    """Steps `policy` in `env` for `steps` steps per env and returns a `Batch`.

    `seed` seeds the first reset (sub-env i gets seed + i); later resets continue each env's stream.
    """

    def __init__(
        self,
        env: VecEnv,
        policy: Policy,
        steps: int,
        seed: int | None = None,
        reset_each_epoch: bool = True,
        keep_final_obs: bool = False,
    ):
        self.env, self.policy, self.steps = env, policy, int(steps)
        # a ~ π(·|s) of an (E, ...) batch without masks or noise: the policy's own, or a compiled one (reinforce.hotpath)
        self.sample = policy.sample
        self.reset_each_epoch = reset_each_epoch
        self.keep_final_obs = keep_final_obs
        self.device = torch.device(env.device)
        self.obs_E: torch.Tensor | None = None
        self.mask_E: torch.Tensor | None = None  # (E, n) bool: the actions allowed at obs_E, None without masks
        self.noise_E: torch.Tensor | None = None  # (E, act_dim): the last ξ of a policy with correlated noise
        # what ξ is multiplied by before the policy reads it (a decay schedule fills it): a 0-dim device tensor,
        # so a captured rollout (run/graphed.py) reads the current value on every replay
        self.noise_gain = torch.ones((), device=self.device)
        self.ar_state: ar.ARState | None = None  # autoregressive exploration's memory; None: every env fresh
        self._seed = seed
        num_envs = env.num_envs
        self.running_return_E = torch.zeros(num_envs, device=self.device)
        self.running_length_E = torch.zeros(num_envs, dtype=torch.long, device=self.device)

    def reset(self) -> None:
        """Reset every env; the first call uses the env's seed, later ones continue its RNG stream."""
        self.obs_E, info = self.env.reset(seed=self._seed)
        self.mask_E = info.get("action_mask") if isinstance(info, dict) else None
        self._seed = None
        self.noise_E = None  # the next step draws ξ afresh from its stationary law
        self.ar_state = None
        self.running_return_E.zero_()
        self.running_length_E.zero_()

    def state_dict(self) -> dict:
        """Current observations (E, ...) and action masks (E, n) or None, the last correlated noise (E, act_dim)
        or None, autoregressive exploration's memory or None, running episode return and length (E,), pending
        reset seed."""
        return {  # copies: collecting updates the running tensors in place
            "obs": None if self.obs_E is None else self.obs_E.clone(),
            "action_mask": None if self.mask_E is None else self.mask_E.clone(),
            "noise": None if self.noise_E is None else self.noise_E.clone(),
            "ar": None if self.ar_state is None else self.ar_state.state_dict(),
            "running_return": self.running_return_E.clone(),
            "running_length": self.running_length_E.clone(),
            "seed": self._seed,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where `state_dict()` was taken (the env's own state is restored separately)."""
        self.obs_E = None if state["obs"] is None else state["obs"].to(self.device)
        mask = state.get("action_mask")  # absent from states saved before masks existed
        self.mask_E = None if mask is None else mask.to(self.device, torch.bool)
        noise = state.get("noise")  # absent from states saved before correlated noise existed
        self.noise_E = None if noise is None else noise.to(self.device)
        ar_state = state.get("ar")  # absent from states saved before autoregressive exploration existed
        self.ar_state = None if ar_state is None else ar.ARState.from_state_dict(ar_state, self.device)
        self.running_return_E.copy_(state["running_return"])
        self.running_length_E.copy_(state["running_length"])
        self._seed = state["seed"]

    def restart(self, seed: int | None) -> None:
        """Drop the running episodes: the next rollout resets the envs, with `seed` (None: continue their RNG)."""
        self.obs_E = self.mask_E = self.noise_E = self.ar_state = None
        self.running_return_E.zero_()
        self.running_length_E.zero_()
        self._seed = seed

    @torch.no_grad()
    def collect(self) -> Batch:
        """The next rollout, with the returns and lengths of the episodes that ended in it."""
        batch, return_TE, length_TE = self.rollout()
        batch.keep_episodes(return_TE, length_TE)
        return batch

    @torch.no_grad()
    def rollout(self) -> tuple[Batch, torch.Tensor, torch.Tensor]:
        """The next rollout without a host sync: the Batch (its episode lists left empty), and each env's
        running episode return and length after step t, (T, E), read where `batch.dones`."""
        if self.obs_E is None or self.reset_each_epoch:
            self.reset()
        T, E = self.steps, self.env.num_envs
        obs_E, mask_E = self.obs_E, self.mask_E
        # (T, E, n) bool, allocated with the first mask the env gives (rows before it: every action allowed)
        mask_TE = None if mask_E is None else torch.empty((T, E, mask_E.shape[-1]), dtype=torch.bool, device=self.device)
        # in the env's own dtype: uint8 images stay a quarter of float32's size
        obs_TE = torch.empty((T, E, *obs_E.shape[1:]), dtype=obs_E.dtype, device=self.device)
        # What the policy samples, flat per row (the env gets its own shape through env_actions)
        spec = action_spec(self.env.single_action_space)
        dtype = torch.long if spec.kind in ("discrete", "multi_discrete") else torch.float32
        actions_TE = torch.empty((T, E, *spec.sample_shape), dtype=dtype, device=self.device)
        rewards_TE = torch.empty((T, E), device=self.device)
        terminated_TE = torch.empty((T, E), dtype=torch.bool, device=self.device)
        truncated_TE = torch.empty((T, E), dtype=torch.bool, device=self.device)
        # Running return and length *after* step t; read at the rows where an episode ended.
        ret_TE = torch.empty((T, E), device=self.device)
        len_TE = torch.empty((T, E), dtype=torch.long, device=self.device)
        final_TE = torch.zeros_like(obs_TE) if self.keep_final_obs else None
        noisy = getattr(self.policy, "noise_steps", 0.0) > 0  # a duck-typed policy may not say
        noise_TE = torch.empty((T, E, *spec.sample_shape), device=self.device) if noisy else None
        autoregressive = ar.is_autoregressive(self.policy)
        if autoregressive:  # the conditional law's inputs from before row 0, kept in the batch for the loss
            if self.ar_state is None:
                self.ar_state = ar.ARState.after_reset(obs_E, spec.sample_shape[0])
            before = self.ar_state
            prev_u_E, fresh_E = before.prev_u_E, before.fresh_E
            prev_mean_E = ar.mean(self.policy, before.prev_obs_E)

        # Buffers above are normal tensors (autograd may read them later); the loop itself runs in
        # inference mode, which skips version counting on every temporary.
        # Row views made once: `view_T[t].copy_(x)` costs half of `buffer_TE[t] = x` at tens of envs
        obs_T, actions_T, rewards_T = obs_TE.unbind(0), actions_TE.unbind(0), rewards_TE.unbind(0)
        terminated_T, truncated_T = terminated_TE.unbind(0), truncated_TE.unbind(0)
        ret_T, len_T = ret_TE.unbind(0), len_TE.unbind(0)
        final_T = None if final_TE is None else final_TE.unbind(0)
        with torch.inference_mode():
            if not obs_E.is_inference():  # fresh from reset: as an inference tensor like every later obs, so a
                obs_E = obs_E.clone()  # compiled sample (reinforce.hotpath) keeps one graph, not one per kind
            for t in range(T):
                if autoregressive:  # u_t = μ(s_t) + ρ·(u_{t-1} − μ(s_{t-1})) + fresh noise, within an episode
                    mean_E, log_std_E = self.policy.mean_and_log_std(obs_E)
                    action_E = ar.conditional(self.policy, mean_E, prev_mean_E, prev_u_E, fresh_E, log_std_E).sample()
                    prev_mean_E, prev_u_E = mean_E, ar.pre_squash(self.policy, action_E)
                elif noisy:  # ξ moves on its own (never reset with the episodes): an input of π like s_t
                    self.noise_E = self.policy.next_noise(self.noise_E, E)
                    torch.mul(self.noise_E, self.noise_gain, out=noise_TE[t])
                    action_E = self.policy.pi(obs_E, noise=noise_TE[t]).sample()
                elif mask_E is None:  # no masks: the policy's plain sample, nothing else to do
                    action_E = self.sample(obs_E)
                else:
                    if mask_TE is None:  # a normal tensor like the other buffers: the loss reads it
                        with torch.inference_mode(False):
                            mask_TE = torch.ones((T, E, mask_E.shape[-1]), dtype=torch.bool, device=self.device)
                    mask_TE[t] = mask_E
                    action_E = self.policy.sample(obs_E, mask_E)
                try:
                    next_obs_E, reward_E, term_E, trunc_E, info = self.env.step(action_E)
                except EnvStepError:
                    raise
                except Exception as err:  # the env's own code failed: say so in one line, where and how
                    name = getattr(getattr(self.env, "spec", None), "id", None) or type(self.env).__name__
                    raise EnvStepError(f"{name}'s step raised {type(err).__name__} at rollout step {t}: {err}") from err
                obs_T[t].copy_(obs_E)
                actions_T[t].copy_(action_E)
                rewards_T[t].copy_(reward_E)
                terminated_T[t].copy_(term_E)
                truncated_T[t].copy_(trunc_E)
                done_E = term_E | trunc_E
                fresh_E = done_E  # (read by the autoregressive branch only) s_{t+1} starts an episode
                ret_T[t].copy_(self.running_return_E.add_(reward_E))
                len_T[t].copy_(self.running_length_E.add_(1))
                self.running_return_E.masked_fill_(done_E, 0.0)
                self.running_length_E.masked_fill_(done_E, 0)
                if final_T is not None:
                    final_T[t].copy_(info.get("final_obs", next_obs_E))
                obs_E = next_obs_E
                next_mask_E = info.get("action_mask")
                # a step without masks after some: every action allowed
                mask_E = torch.ones_like(mask_E) if next_mask_E is None and mask_E is not None else next_mask_E

        self.obs_E, self.mask_E = obs_E, mask_E
        if autoregressive:
            # copies made outside inference mode: the next batch hands them to the loss's autograd
            self.ar_state = ar.ARState(obs_TE[-1].clone(), prev_u_E.clone(), fresh_E.clone())
        no_episodes = ret_TE.new_empty(0)
        batch = Batch(
            obs=obs_TE,
            actions=actions_TE,
            rewards=rewards_TE,
            terminated=terminated_TE,
            truncated=truncated_TE,
            last_obs=obs_E.clone(),
            episode_returns=no_episodes,
            episode_lengths=no_episodes.long(),
            final_obs=final_TE,
            action_mask=mask_TE,
            noise=noise_TE,
            prev_obs=before.prev_obs_E if autoregressive else None,
            prev_u=before.prev_u_E if autoregressive else None,
            prev_fresh=before.fresh_E if autoregressive else None,
        )
        return batch, ret_TE, len_TE
