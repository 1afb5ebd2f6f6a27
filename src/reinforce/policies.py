"""Stochastic policies: a module maps a batch of observations to a `torch.distributions` object.

Shapes: observations are (..., obs_dim) float32; actions are (...,) int64 (categorical), (..., K) int64
(multi-categorical), (..., n) float32 0/1 (Bernoulli) or (..., act_dim) float32 (Gaussian, act_dim the
flattened Box). `pi(obs).log_prob(action)` is (...,) for all, so the loss code never cares which kind
it holds. `action_kind` names the kind (reinforce.spaces.ACTION_KINDS); `make_policy` picks the class
from the action space. The base class is in reinforce.policy_base, the Gaussian in reinforce.gaussian
(both re-exported here); the distributions themselves live in reinforce.distributions.
"""
from __future__ import annotations

import warnings
from typing import Any
from collections.abc import Sequence

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from reinforce.checks import require_int
from reinforce.distributions import BernoulliDist, CategoricalDist, MultiCategoricalDist
from reinforce.encoders import ImageEncoder, make_encoder
from reinforce.gaussian import DiagonalGaussianPolicy
from reinforce.observations import observation_spec
from reinforce.policy_base import ACTIVATIONS, MLP, Linear, Policy, logit_difference, mlp
from reinforce.spaces import ActionSpec, action_spec

__all__ = ["ACTIVATIONS", "BernoulliPolicy", "CategoricalPolicy", "DiagonalGaussianPolicy", "MultiCategoricalPolicy",
           "Policy", "check_policy_fits", "make_policy", "mlp"]


# From this many rows a two-action policy makes z = l₁ − l₀ directly (policy_base.logit_difference); a rollout
# step of 16-64 envs through a 64-64 MLP took ~4 µs longer that way, 256 rows ~30 µs less.
DIFFERENCE_ROWS = 256


class CategoricalPolicy(Policy):
    """Softmax over `n_actions` logits; `hidden_sizes=()` is the article's linear policy.

    pi(obs, mask=None) -> CategoricalDist over actions (...,) int64 (masked actions: probability 0);
    sample(obs) -> actions (...,); act(obs, deterministic=False) -> a sample, or the argmax.
    Parameters: `logits.*` (the MLP). With `mirror_obs_signs` the mirror reverses the actions' order (CartPole's
    left/right, Acrobot's −1/0/+1 torque): logits(m·s) = logits(s) reversed, for any weights. (On a state the
    mirror leaves unchanged the outer actions tie, and the deterministic argmax takes the first.)
    """

    def __init__(self, obs_dim: int, n_actions: int, hidden_sizes: Sequence[int] = (), activation: str = "tanh",
                 encoder: ImageEncoder | None = None, mirror_obs_signs: Sequence[int] = ()):
        """`logits` = mlp(obs_dim (or the encoder's features) -> n_actions) with `hidden_sizes` and `activation`."""
        super().__init__()
        self.obs_dim, self.n_actions = require_int("obs_dim", obs_dim, 1), require_int("n_actions", n_actions, 1)
        self.logits = mlp(self._set_encoder(obs_dim, encoder), self.n_actions, hidden_sizes, activation)
        self._set_mirror(mirror_obs_signs)

    action_kind = "discrete"
    rows_independent = True

    def pi(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> CategoricalDist:
        # (below DIFFERENCE_ROWS rows the selects making w₁ − w₀ and b₁ − b₀ cost more than they save)
        head = self._difference_head() if mask is None and obs.numel() >= DIFFERENCE_ROWS * self.obs_dim else None
        if head is not None:  # two actions: only z = l₁ − l₀ matters (policy_base.logit_difference)
            if self.obs_mirror is None:
                return CategoricalDist.of_difference(logit_difference(self.logits.hidden(self.features(obs)), *head))
            z_2 = logit_difference(self.logits.hidden(self.features(self.both_sides(obs))), *head)
            return CategoricalDist.of_difference((z_2[0] - z_2[1]) / 2)  # the mirror swaps l₀ and l₁: z → −z
        if self.obs_mirror is None:
            return CategoricalDist(self.logits(self.features(obs)), mask)
        logits_2 = self.logits(self.features(self.both_sides(obs)))
        return CategoricalDist((logits_2[0] + logits_2[1].flip(-1)) / 2, mask)

    def _difference_head(self) -> tuple[torch.Tensor, torch.Tensor | None] | None:
        """The last layer's (weight, bias) when π is a two-action softmax from a plain Linear (nn.Linear's own
        forward) in our MLP, neither with hooks, else None: both logits are then made as the modules say."""
        head = self.logits
        if self.n_actions != 2 or not isinstance(head, MLP) or head._forward_hooks or head._forward_pre_hooks:
            return None
        last = next(reversed(head._modules.values()))
        if type(last).forward not in (nn.Linear.forward, Linear.forward) or last._forward_hooks or last._forward_pre_hooks:
            return None
        return last.weight, last.bias

    def fits(self, spec: ActionSpec) -> bool:
        return spec.kind == self.action_kind and spec.nvec == (self.n_actions,)


class MultiCategoricalPolicy(Policy):
    """Independent categoricals over K sub-actions with nvec[k] choices each (a MultiDiscrete space).

    One MLP gives the concatenated logits (..., sum(nvec)); pi(obs) -> MultiCategoricalDist over actions
    (..., K) int64; act(obs, deterministic=True) -> the per-sub-action argmax. Parameters: `logits.*`.
    """

    action_kind = "multi_discrete"
    rows_independent = True

    def __init__(self, obs_dim: int, nvec: Sequence[int], hidden_sizes: Sequence[int] = (), activation: str = "tanh",
                 encoder: ImageEncoder | None = None):
        """`logits` = mlp(obs_dim (or the encoder's features) -> sum(nvec)) with `hidden_sizes` and `activation`."""
        super().__init__()
        self.obs_dim, self.nvec = require_int("obs_dim", obs_dim, 1), tuple(int(n) for n in nvec)
        if not self.nvec or min(self.nvec) < 1:
            raise ValueError(f"nvec must be a non-empty list of positive counts, got {nvec}")
        self.logits = mlp(self._set_encoder(obs_dim, encoder), sum(self.nvec), hidden_sizes, activation)

    def pi(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> MultiCategoricalDist:
        return MultiCategoricalDist(self.logits(self.features(obs)), self.nvec, mask)

    def fits(self, spec: ActionSpec) -> bool:
        return spec.kind == self.action_kind and spec.nvec == self.nvec


class BernoulliPolicy(Policy):
    """Independent Bernoullis over n bits (a MultiBinary space), P(bit = 1) = sigmoid(logit).

    pi(obs) -> BernoulliDist over actions (..., n) float32 0/1; act(obs, deterministic=True) -> the bits
    whose logit is > 0. Parameters: `logits.*` (the MLP, obs_dim -> n).
    """

    action_kind = "multi_binary"
    rows_independent = True

    def __init__(self, obs_dim: int, n: int, hidden_sizes: Sequence[int] = (), activation: str = "tanh",
                 encoder: ImageEncoder | None = None):
        super().__init__()
        self.obs_dim, self.n = require_int("obs_dim", obs_dim, 1), require_int("n", n, 1)
        self.logits = mlp(self._set_encoder(obs_dim, encoder), self.n, hidden_sizes, activation)

    def pi(self, obs: torch.Tensor, mask: torch.Tensor | None = None) -> BernoulliDist:
        if mask is not None:
            self._no_mask(mask)
        return BernoulliDist(self.logits(self.features(obs)))

    def fits(self, spec: ActionSpec) -> bool:
        return spec.kind == self.action_kind and spec.outputs == self.n


def make_policy(
    observation_space: gym.Space,
    action_space: gym.Space,
    hidden_sizes: Sequence[int] | None = None,
    activation: str | None = None,
    log_std_init: float = 0.0,
    squash: bool = False,
    normalize_observations: bool = False,
    head_init_gain: float | None = None,
    encoder: str = "auto",
    noise_steps: float = 0.0,
    noise_log_scale_init: float = -1.0,
    ar_steps: float = 0.0,
    state_dependent_std: bool = False,
    mirror_obs_signs: Sequence[int] = (),
) -> Policy:
    """Pick the policy the action space needs (reinforce.spaces.action_spec): Discrete -> categorical,
    MultiDiscrete -> multi-categorical, MultiBinary -> Bernoulli, Box (any shape, flattened) -> diagonal Gaussian;
    and the encoder the observation space needs (reinforce.encoders: none for vectors, a CNN for images).

    Defaults follow the article: linear logits (tanh between layers when given), 64-64 ReLU Gaussian mean.
    After a CNN the head is linear unless `hidden_sizes` says otherwise.
    """
    obs_spec, spec = observation_spec(observation_space), action_spec(action_space)
    obs_dim, enc = obs_spec.flat_dim, make_encoder(obs_spec, encoder)
    if enc is not None and normalize_observations:
        # the defaults for any env normalise; for images the encoder's fixed scaling is the normalisation
        warnings.warn("normalize_observations applies to vector observations: images are scaled to [0, 1] by the "
                      "encoder instead", stacklevel=2)
        normalize_observations = False
    for name, value in (("correlated_noise_steps", noise_steps), ("autoregressive_noise_steps", ar_steps),
                        ("state_dependent_std", state_dependent_std)):
        if value and spec.kind != "box":
            raise ValueError(f"{name} applies to Box actions (a Gaussian policy), not to {spec.kind!r} ones; "
                             "leave it off for this env")
    if len(mirror_obs_signs) and spec.kind not in ("box", "discrete"):
        raise ValueError(f"mirror_obs_signs applies to Box actions (negated) and Discrete ones (order reversed), not to "
                         f"{spec.kind!r} ones; leave it off for this env")
    logit_kwargs = {"hidden_sizes": tuple(hidden_sizes or ()), "activation": activation or "tanh", "encoder": enc}
    if spec.kind == "discrete":
        policy: Policy = CategoricalPolicy(obs_dim, spec.outputs, **logit_kwargs, mirror_obs_signs=mirror_obs_signs)
    elif spec.kind == "multi_discrete":
        policy = MultiCategoricalPolicy(obs_dim, spec.nvec, **logit_kwargs)
    elif spec.kind == "multi_binary":
        policy = BernoulliPolicy(obs_dim, spec.outputs, **logit_kwargs)
    else:
        policy = DiagonalGaussianPolicy(
            obs_dim,
            spec.outputs,
            hidden_sizes=((64, 64) if enc is None else ()) if hidden_sizes is None else tuple(hidden_sizes),
            activation=activation or "relu",
            log_std_init=log_std_init,
            squash=squash,
            # flattened in the same (C) order as the actions the env gets reshaped from
            action_low=torch.as_tensor(action_space.low, dtype=torch.float32).reshape(-1) if squash else None,
            action_high=torch.as_tensor(action_space.high, dtype=torch.float32).reshape(-1) if squash else None,
            encoder=enc,
            noise_steps=noise_steps,
            noise_log_scale_init=noise_log_scale_init,
            ar_steps=ar_steps,
            state_dependent_std=state_dependent_std,
            mirror_obs_signs=mirror_obs_signs,
        )
        if len(mirror_obs_signs) and not np.allclose(action_space.low, -action_space.high):
            # unsquashed actions are clipped to the bounds on the way to the env: odd only when they are symmetric
            raise ValueError(f"mirror_obs_signs negates the action, which needs symmetric action bounds (low = -high); "
                             f"got low {action_space.low.tolist()} and high {action_space.high.tolist()}")
    if head_init_gain is not None:
        policy.init_output_layer(head_init_gain)
    if normalize_observations:
        policy.enable_obs_normalization(obs_dim)
    return policy


def check_policy_fits(policy: Policy, env: Any) -> None:
    """A clear ValueError when the policy's input size or action kind and size are not those of `env` (a VecEnv)."""
    obs_dim = observation_spec(env.single_observation_space).flat_dim
    spec = action_spec(env.single_action_space)
    hint = "build it with reinforce.make_policy(env.single_observation_space, env.single_action_space)"
    kind = getattr(policy, "action_kind", None)
    if kind is not None and kind != spec.kind:
        raise ValueError(f"the env's actions are {spec.kind} ({env.single_action_space}) but the policy's are {kind}; {hint}")
    fits = getattr(policy, "fits", None)  # a duck-typed policy may not say: trust it
    if getattr(policy, "obs_dim", obs_dim) != obs_dim or (fits is not None and not fits(spec)):
        words = {"n_actions": "actions", "nvec": "choices per sub-action", "n": "bits", "act_dim": "action dimensions"}
        gives = next((f"{getattr(policy, a)} {w}" for a, w in words.items() if hasattr(policy, a)), "actions")
        env_outputs = list(spec.nvec) if spec.kind == "multi_discrete" else spec.outputs
        raise ValueError(
            f"the policy takes {getattr(policy, 'obs_dim', '?')} observation values and gives {gives}, "
            f"but the env has {obs_dim} and {env_outputs}; {hint}"
        )
