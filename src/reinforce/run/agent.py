"""`Reinforce`: the algorithm with what a user of it needs around it — learn, predict, save, load."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reinforce.algorithm import PolicyGradient
from reinforce.checks import require_int
from reinforce.config import Config
from reinforce.envs.vector import VecEnv
from reinforce.export import export_policy
from reinforce.metrics import Metrics
from reinforce.observations import batch_one, batch_size, encode_batch, is_single, mask_of, observation_spec
from reinforce.policies import (
    ACTIVATIONS,
    BernoulliPolicy,
    CategoricalPolicy,
    DiagonalGaussianPolicy,
    MultiCategoricalPolicy,
    Policy,
)
from reinforce.run.checkpoint import save_atomic, training_state
from reinforce.spaces import action_spec
from reinforce.run.graphed import GraphedEpoch
from reinforce.run.logger import RunLogger, logged_epochs
from reinforce.run.callbacks import as_callbacks
from reinforce.run.loop import fit, progress_bar


class Reinforce(PolicyGradient):
    """REINFORCE on a vector env: `learn` trains, `predict` acts, `save` / `reinforce.load` persist.

        env = reinforce.make_vec_env("CartPole-v0", num_envs=32, seed=0)
        agent = reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), lr=0.1, steps_per_rollout=1000)
        agent.learn(epochs=100, progress=True)

    Options come as keywords (`lr=0.1, baseline="gae"`, see `ReinforceOptions`) or as an `options`
    object (a `ReinforceOptions` or a `Config`); `collect()`, `loss(batch)` and `update(batch)` are
    the steps of one epoch.
    """

    def __init__(self, env: VecEnv, policy: Policy, options: Any = None, *, config: Config | None = None, **kwargs: Any):
        super().__init__(env, policy, options, **kwargs)
        self.config = config  # the run's Config when built from one (`reinforce.train`, `build`)
        self.wall_s = 0.0  # seconds spent collecting and updating so far
        self.num_threads_chosen: int | None = None  # num_threads="auto": the count its timing chose (run/threads.py)
        self.cuda_graph = "auto" if config is None else config.cuda_graph  # auto / on / off (run/graphed.py)
        self.graphed: GraphedEpoch | None = None  # made by the first learn() that graphs its epochs
        if config is not None and config.compile:
            self.compile_hot_path()

    def learn(
        self,
        epochs: int | None = None,
        total_steps: int | None = None,
        progress: bool = False,
        log_dir: str | Path | None = None,
        callback: Any = None,
    ) -> list[Metrics]:
        """Train for `epochs` updates (default: the options' `epochs`), or for at least `total_steps`
        env steps. `progress` shows a bar; `log_dir` gets metrics.csv and TensorBoard events;
        `callback` is a `reinforce.Callback`, a function `f(metrics)`, or a list of them;
        an `on_update_end` / `f` returning False stops after that epoch. Returns each epoch's metrics.
        A linear lr schedule reaches 0 at the end of the first learn(); a later one that trains past that end
        stretches the line to its own end."""
        callbacks = as_callbacks(callback)
        if total_steps is not None:
            if epochs is not None:
                raise ValueError("give either epochs or total_steps, not both")
            per_epoch = self.collector.steps * self.env.num_envs * self.reducer.world_size
            epochs = math.ceil(require_int("total_steps", total_steps, 0) / per_epoch)
        epochs = require_int("epochs", self.options.epochs if epochs is None else epochs, 0)
        if self.schedule_epochs is None or self.epoch + epochs > self.schedule_epochs:
            # The linear lr schedule runs to the end of the first learn(); one that trains past it stretches the
            # line to the new end (as SB3's learn(reset_num_timesteps=False) does) instead of training at lr 0.
            self.schedule_epochs = self.epoch + epochs
        logger = None
        if log_dir is not None:
            Path(log_dir).mkdir(parents=True, exist_ok=True)
            logged = logged_epochs(Path(log_dir) / "metrics.csv")
            if logged != self.epoch:  # another run's log: appending would mix two runs in one file
                raise ValueError(f"{Path(log_dir) / 'metrics.csv'} already holds {logged} epochs of a run this agent (at "
                                 f"epoch {self.epoch}) does not continue; give a fresh log_dir")
            logger = RunLogger(Path(log_dir), "", self.env_steps)
        bar = progress_bar(self.epoch + epochs, self.epoch) if progress else None
        try:
            return fit(self, epochs, callbacks=callbacks, logs=[logger] if logger else [], bar=bar)
        finally:
            if logger is not None:
                logger.close()
            if bar is not None:
                bar.close()

    @torch.no_grad()
    def predict(self, obs: Any, deterministic: bool = False, action_mask: Any = None) -> Any:
        """Actions for one observation or a batch of N (a leading axis; Dict observations batch each entry):
        numpy in, numpy out (torch in, torch out), each in the env's action shape ((), (K,), (n,) or the
        Box's shape; the batch's N in front). Observations are encoded as in training
        (reinforce.observations: one-hot, Dict and Tuple flattened, images kept in their dtype); a Dict
        observation's "action_mask" entry is used as the mask. Uses the observation normaliser as it
        stands (frozen: only `update` changes it); `deterministic` takes the distribution's mode. Box
        actions are clipped to the Box's bounds, as the env receives them (a squashed policy's are
        inside already). `action_mask` (n,) or (N, n), bool or 0/1 (info["action_mask"]; sum(nvec) long
        for MultiDiscrete): only allowed actions are returned; Discrete and MultiDiscrete action spaces only."""
        space = self.env.single_observation_space
        spec = observation_spec(space)
        as_numpy = not isinstance(obs, torch.Tensor)
        out_device = None if as_numpy else obs.device
        if not as_numpy:  # one encoding and one shape check for both: a tensor goes the numpy way (one-hot, ...)
            obs = obs.detach().cpu().numpy()
        single = is_single(space, obs)
        batch = batch_one(space, obs) if single else obs
        n = 1 if single else batch_size(batch)
        if action_mask is None and spec.mask_key is not None:
            action_mask = mask_of(spec, batch)
        x = torch.as_tensor(encode_batch(space, spec, batch, n, check=True), device=self.device)  # a caller's input
        if action_mask is None:
            action = self.policy.act(x, deterministic=deterministic)
        else:
            mask = torch.as_tensor(np.asarray(action_mask) if not isinstance(action_mask, torch.Tensor) else action_mask,
                                   device=self.device).bool()
            action = self.policy.act(x, deterministic=deterministic, mask=self._checked_mask(mask, x.shape[0]))
        act_space = self.env.single_action_space
        action = action.reshape(x.shape[0], *act_space.shape)  # flat samples -> the env's shape
        if self.policy.action_kind == "box" and np.isfinite(act_space.low).all() and np.isfinite(act_space.high).all():
            low, high = (torch.as_tensor(b, device=action.device) for b in (act_space.low, act_space.high))
            action = torch.clamp(action, low, high)
        action = action[0] if single else action
        return action.cpu().numpy() if as_numpy else action.to(out_device)

    def _checked_mask(self, mask: torch.Tensor, n: int) -> torch.Tensor:
        """`mask` as (n, width) for n observations, or a ValueError when it has another size or allows no action
        somewhere (an all-False row would otherwise still yield a masked action)."""
        spec = action_spec(self.env.single_action_space)
        if spec.kind not in ("discrete", "multi_discrete"):
            raise ValueError(f"action_mask applies to Discrete and MultiDiscrete action spaces, not {self.env.single_action_space}")
        if mask.numel() != n * spec.outputs:
            raise ValueError(f"action_mask holds {mask.numel()} values for {n} observation(s); it needs {spec.outputs} "
                             f"per observation (one per {'action' if spec.kind == 'discrete' else 'choice of each sub-action'})")
        mask = mask.reshape(n, spec.outputs)
        allowed = torch.stack([part.any(-1) for part in mask.split(list(spec.nvec), dim=-1)], -1)  # (n, sub-actions)
        if not bool(allowed.all()):
            row, sub = (int(i) for i in (~allowed).nonzero()[0])
            where = f"observation {row}" + (f", sub-action {sub}" if spec.kind == "multi_discrete" else "")
            raise ValueError(f"action_mask allows no action for {where}: at least one must be True")
        return mask

    def export(self, path: str | Path, format: str = "onnx") -> Path:
        """Write the policy (with its frozen observation normaliser) as ONNX or TorchScript: obs (N, *obs_shape)
        -> (deterministic action, distribution parameters); see reinforce.export. Returns the path."""
        return export_policy(self.policy, self.env.single_observation_space, self.env.single_action_space, path, format)

    def state_dict(self) -> dict:
        chosen = {} if self.num_threads_chosen is None else {"num_threads": self.num_threads_chosen}
        return {**super().state_dict(), "wall_s": self.wall_s, **chosen}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.wall_s = float(state.get("wall_s", 0.0))
        if isinstance(state.get("num_threads"), int) and self.device.type == "cpu":
            self.num_threads_chosen = state["num_threads"]  # a resumed run keeps the count, not a new timing
            torch.set_num_threads(self.num_threads_chosen)

    def describe(self) -> Config:
        """The Config that rebuilds this agent: its own when built from one, else read off the env and policy."""
        if self.config is not None:
            return dataclasses.replace(self.config, **{f.name: getattr(self.options, f.name) for f in dataclasses.fields(self.options)})
        spec = getattr(self.env, "spec", None)
        if spec is None or not getattr(spec, "id", None):
            raise ValueError("this agent's env was given as an object, not made from a registered id, so a Config cannot "
                             "rebuild it: make it with reinforce.make_vec_env(env_id) to save the agent, and evaluate "
                             "with reinforce.evaluate(agent, env=...) or env_id=...")
        made = getattr(self.env, "made_with", None) or {}  # how make_vec_env built it
        if made.get("env_kwargs"):
            raise ValueError(f"this agent's env was made with env_kwargs ({', '.join(sorted(made['env_kwargs']))}), which a "
                             "Config does not hold, so it cannot be rebuilt: register an id with them (gymnasium.register(id, "
                             "entry_point, kwargs=...)) to save the agent, and evaluate with reinforce.evaluate(agent, env=...)")
        return Config(
            **dataclasses.asdict(self.options),
            env_id=spec.id,
            num_envs=self.env.num_envs,
            seed=int(self.env.seed or 0),
            device=str(self.device),
            backend=made.get("backend", "auto"),
            wrappers=tuple(made.get("wrappers", ())),
            **_policy_settings(self.policy),
        )

    def save(self, path: str | Path) -> Path:
        """Write this agent (config, weights, optimisers, counters, env and RNG state) to one file that
        `reinforce.load(path)` reads back. The write is atomic."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_atomic(training_state(self.describe(), self, checkpoint_every=1), path)
        return path


def _policy_settings(policy: Policy) -> dict[str, Any]:
    """The Config keys that rebuild `policy`: hidden sizes and activation read from its layers.

    The kind of policy is not a key: `make_policy` picks it again from the action space.
    """
    if not isinstance(policy, (CategoricalPolicy, MultiCategoricalPolicy, BernoulliPolicy, DiagonalGaussianPolicy)):
        raise ValueError(f"a {type(policy).__name__} cannot be described by a Config; save its state_dict instead")
    net = policy.mu if isinstance(policy, DiagonalGaussianPolicy) else policy.logits
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    names = {cls: name for name, cls in ACTIVATIONS.items()}
    acts = [names[type(m)] for m in net if type(m) in names]
    settings: dict[str, Any] = {
        "hidden_sizes": tuple(m.out_features for m in linears[:-1]),
        "activation": acts[0] if acts else None,
        "normalize_observations": policy.obs_normalizer is not None,
        "encoder": "auto" if policy.encoder is None else policy.encoder.arch,
        "mirror_obs_signs": () if policy.obs_mirror is None else tuple(int(x) for x in policy.obs_mirror.tolist()),
    }
    if isinstance(policy, DiagonalGaussianPolicy):
        settings.update(squash=policy.squash, log_std_init=float(policy.log_std.detach().mean()),
                        correlated_noise_steps=policy.noise_steps, autoregressive_noise_steps=policy.ar_steps,
                        state_dependent_std=policy.std_head is not None)
        if policy.noise_steps > 0:
            settings["correlated_noise_log_scale"] = float(policy.noise_log_scale.detach().mean())
    return settings
