"""A training run on disk: build env, policy and agent from a Config, train, checkpoint, resume.

Run folder:

    config.toml             the resolved config (`reinforce train --config RUN/config.toml` repeats the run)
    metrics.csv             one row per epoch (METRIC_NAMES first, then any extra metrics)
    events.out.tfevents.*   the same metrics for TensorBoard, and the config as text
    checkpoint.pt           the full training state every `checkpoint_every` epochs and at the end
    checkpoint.prev.pt      the checkpoint before it
    policy.pt               the final policy's state_dict (loadable with weights_only)
    curve.png               the learning curve

SIGINT/SIGTERM finish the current epoch, write a checkpoint and return normally; `resume(run)`
continues from the checkpoint (exactly, for envs whose state can be saved: see `reinforce.run.envstate`).
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import torch

from reinforce import config as config_mod
from reinforce.dist import distributed as rd
from reinforce.algorithm import Metrics, Reinforce
from reinforce.run.checkpoint import (
    CHECKPOINT,
    PREVIOUS,
    CheckpointError,
    CheckpointWriteError,
    check_matches_config,
    checkpoint_epoch,
    load_checkpoint,
    restore_training_state,
    save_atomic,
    save_checkpoint,
    training_state,
)
from reinforce.config import Config
from reinforce.run.logger import RunLogger, event_files, truncate_metrics
from reinforce.policies import Policy, make_policy
from reinforce.run.signals import GracefulStop
from reinforce.envs.vector import VecEnv, make_vec_env

DEFAULT_CHECKPOINT_EVERY = 10
# What a run writes; `--force` removes these (and only these) before a fresh start.
RUN_FILES = ("metrics.csv", "curve.png", "policy.pt", CHECKPOINT, PREVIOUS, f"{CHECKPOINT}.tmp", f"{PREVIOUS}.tmp", "policy.pt.tmp")


def policy_for(cfg: Config, observation_space, action_space) -> Policy:
    """The policy `cfg` describes for these spaces (untrained)."""
    return make_policy(
        observation_space,
        action_space,
        hidden_sizes=cfg.hidden_sizes,
        activation=cfg.activation,
        log_std_init=cfg.log_std_init,
        squash=cfg.squash,
        normalize_observations=cfg.normalize_observations,
    )


def build(cfg: Config, rank: int = 0, world_size: int = 1) -> tuple[VecEnv, Policy, Reinforce]:
    """Env, policy and agent for `cfg`, seeded so that the same config gives the same run.

    With world_size > 1 (under torchrun) this is rank `rank`'s part: its envs are seeded
    seed + rank·E and the agent is a DistributedReinforce (rank 0's initial weights everywhere).
    """
    if cfg.num_threads is not None and not cfg.device.startswith("cuda"):
        torch.set_num_threads(cfg.num_threads)
    torch.manual_seed(cfg.seed)
    env_seed = rd.rank_seed(cfg.seed, rank, cfg.num_envs)
    env = make_vec_env(cfg.env_id, cfg.num_envs, seed=env_seed, backend=cfg.backend, device=cfg.device)
    policy = policy_for(cfg, env.single_observation_space, env.single_action_space)
    distributed = {"sampling_seed": env_seed} if world_size > 1 else {}
    agent = (rd.DistributedReinforce if world_size > 1 else Reinforce)(
        env,
        policy,
        **distributed,
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


def _progress(total: int, initial: int, quiet: bool):
    if quiet:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="epoch", dynamic_ncols=True, leave=True)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def _clear_run_files(out: Path) -> None:
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)
    for path in event_files(out):
        path.unlink()


def train(
    cfg: Config,
    out_dir: str | Path,
    quiet: bool = False,
    force: bool = False,
    plot: bool = True,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    tensorboard: bool = True,
) -> list[Metrics]:
    """Train `cfg` from scratch into the run folder `out_dir`; returns the per-epoch metrics.

    Refuses a non-empty `out_dir` unless `force` (which removes the files of an earlier run there).
    """
    _check_every(checkpoint_every)
    out = Path(out_dir)
    rank, world, _ = rd.init_from_env(cfg.device)
    if rd.restart_count() > 0 and (out / "config.toml").is_file():
        # torchrun --max-restarts started this job again after a failure: continue from the checkpoint.
        return resume(out, quiet, plot, checkpoint_every, tensorboard=tensorboard)

    def prepare() -> None:  # rank 0 only; an error stops every rank
        if out.exists() and any(out.iterdir()) and not force:
            raise FileExistsError(
                f"run folder {str(out)!r} already exists and is not empty; pass --resume {out} to continue it "
                "or --force to overwrite it"
            )
        out.mkdir(parents=True, exist_ok=True)
        _clear_run_files(out)
        config_mod.save(cfg, out / "config.toml")

    rd.broadcast_from_main(prepare)
    env, _, agent = build(cfg, rank, world)
    return _Session(cfg, out, env, agent, quiet, checkpoint_every, tensorboard, last_checkpoint=None).run(plot)


def resume(
    run_dir: str | Path,
    quiet: bool = False,
    plot: bool = True,
    checkpoint_every: int | None = None,
    epochs: int | None = None,
    tensorboard: bool = True,
) -> list[Metrics]:
    """Continue the run in `run_dir` from its checkpoint; returns the metrics of the new epochs.

    `epochs` raises (or lowers) the run's total; by default the checkpoint's `checkpoint_every` is
    kept. A folder with a config.toml but no checkpoint yet starts from epoch 0.
    """
    out = Path(run_dir)
    rank, world, _ = rd.init_from_env()
    main = rd.is_main_process()

    def load() -> tuple[Config, dict | None, int]:  # rank 0 only: the run folder is on its disk
        if not (out / "config.toml").is_file():
            raise FileNotFoundError(f"{str(out)!r} is not a run folder: it has no config.toml")
        cfg = config_mod.load(out)
        payload = _load_for_resume(out)
        every = checkpoint_every
        if payload is not None:
            check_matches_config(payload, cfg, out / CHECKPOINT)
            every = every or int(payload["trainer"]["checkpoint_every"])
        every = every or DEFAULT_CHECKPOINT_EVERY
        _check_every(every)
        if epochs is not None and epochs != cfg.epochs:
            cfg = cfg.replace(epochs=epochs)
            config_mod.save(cfg, out / "config.toml")
        if payload is None:
            _clear_run_files(out)  # a start from scratch: drop rows and events of an earlier attempt
        else:
            truncate_metrics(out / "metrics.csv", int(payload["agent"]["epoch"]))
        return cfg, payload, every

    cfg, payload, checkpoint_every = rd.broadcast_from_main(load)
    env, _, agent = build(cfg, rank, world)
    level = "none"
    if payload is not None:
        mine, same_world = rd.payload_for_rank(payload, rank, world)
        level = restore_training_state(mine, agent, out / CHECKPOINT)
        if world > 1 and (not same_world or level == "none"):
            rd.reseed_rank_after_restore(agent, cfg.seed, rank)
        if not same_world and main and not quiet:
            print(
                f"reinforce: note: the checkpoint was written by {payload.get('world_size', 1)} processes, this run has "
                f"{world}: weights and optimiser carry over, the envs restart, and the batch is now {world}×{cfg.num_envs} envs",
                file=sys.stderr,
            )
    elif not quiet and main:
        print(f"reinforce: no checkpoint in {out} yet: starting it from epoch 0", file=sys.stderr)
    if agent.epoch >= cfg.epochs:
        env.close()
        if main:
            print(f"{str(out)!r} is already complete ({agent.epoch} of {cfg.epochs} epochs); pass --epochs N to train longer")
        return []
    if payload is not None and level == "none" and not quiet and main:
        print(
            f"reinforce: note: the state of {cfg.env_id}'s {cfg.backend} envs could not be restored; the run goes on "
            "with freshly reset envs, so it will not match an uninterrupted run exactly",
            file=sys.stderr,
        )
    session = _Session(cfg, out, env, agent, quiet, checkpoint_every, tensorboard, last_checkpoint=agent.epoch if payload else None)
    return session.run(plot)


def epochs_done(epochs: int) -> str:
    """How far a checkpoint got, in the 0-based epoch numbers of metrics.csv."""
    return f"end of epoch {epochs - 1}" if epochs > 0 else "before the first epoch"


def _check_every(checkpoint_every: int) -> None:
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) or checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be an integer >= 1, got {checkpoint_every!r}")


def _load_for_resume(out: Path) -> dict | None:
    """The run's checkpoint; None if it never wrote one. A bad file is an error, never skipped."""
    path, previous = out / CHECKPOINT, out / PREVIOUS
    if not path.exists():
        if previous.exists():
            raise CheckpointError(
                f"{str(out)!r} has no {CHECKPOINT} but has {PREVIOUS}: rename it to {CHECKPOINT} to resume from it"
            )
        return None
    try:
        return load_checkpoint(path)
    except CheckpointError as err:
        epochs = checkpoint_epoch(previous) if previous.exists() else None
        hint = (
            f"; {PREVIOUS} ({epochs_done(epochs)}) is intact: move the bad file aside and rename it to {CHECKPOINT} "
            "to resume from there"
            if epochs is not None
            else ""
        )
        raise CheckpointError(f"{err}{hint}") from None


def _nproc_flag() -> str:
    """" --nproc N" for the resume hint of a distributed run (resuming with N keeps it exact)."""
    return f" --nproc {rd.get_world_size()}" if rd.is_distributed() else ""


class _Session:
    """One stretch of training in a run folder, from the agent's current epoch to `cfg.epochs`."""

    def __init__(
        self,
        cfg: Config,
        out: Path,
        env: VecEnv,
        agent: Reinforce,
        quiet: bool,
        checkpoint_every: int,
        tensorboard: bool,
        last_checkpoint: int | None,
    ):
        self.cfg, self.out, self.env, self.agent = cfg, out, env, agent
        self.main = rd.is_main_process()  # rank 0 (or the only process) writes, prints and plots
        self.quiet, self.checkpoint_every, self.tensorboard = quiet or not self.main, checkpoint_every, tensorboard
        self.last_checkpoint: int | None = last_checkpoint  # epochs done in the newest checkpoint on disk

    def checkpoint(self) -> None:
        """Every rank calls this (a collective when distributed); rank 0 writes the file."""
        state = training_state(self.cfg, self.agent, self.checkpoint_every)
        if rd.is_distributed():
            state = {**state, "ranks": rd.gather_rank_states(state), "world_size": rd.get_world_size()}
        rd.broadcast_from_main(lambda: save_checkpoint(self.out, state))  # a failed write stops every rank
        self.last_checkpoint = self.agent.epoch

    def _where_to_resume(self) -> str:
        if self.last_checkpoint is None:
            return f"no checkpoint was written yet (one every {self.checkpoint_every} epochs)"
        return (
            f"the last good checkpoint ({epochs_done(self.last_checkpoint)}) is {self.out / CHECKPOINT}; "
            f"continue with: reinforce train --resume {self.out}{_nproc_flag()}"
        )

    def run(self, plot: bool) -> list[Metrics]:
        cfg, agent = self.cfg, self.agent
        start = agent.epoch
        logger = RunLogger(self.out, config_mod.to_toml(cfg), start, self.tensorboard) if self.main else None
        bar = _progress(cfg.epochs, start, self.quiet)
        stop = GracefulStop()
        stopping = False

        def on_epoch(metrics: Metrics) -> bool:
            nonlocal stopping
            if logger is not None:
                logger.write(metrics)
            if bar is not None:
                bar.set_postfix_str(
                    f"return {_fmt(metrics['rollout/ep_return_mean'])}  {metrics['time/steps_per_s']:,.0f} steps/s"
                )
                bar.update(1)
            # A signal may reach some ranks only: all stop after the same epoch (one tiny all-reduce).
            stopping = rd.any_rank(stop.requested is not None)
            if agent.epoch % self.checkpoint_every == 0 and agent.epoch < cfg.epochs and not stopping:
                if logger is not None:
                    logger.flush()
                self.checkpoint()
            return not stopping

        try:
            with stop:
                try:
                    history = agent.learn(cfg.epochs - start, callback=on_epoch)
                except FloatingPointError as err:
                    raise FloatingPointError(f"{err}. Training stopped; {self._where_to_resume()}") from None
                except CheckpointWriteError as err:
                    raise CheckpointWriteError(
                        err.errno, f"{err.strerror}. Training stopped after {agent.epoch} epochs; {self._where_to_resume()}"
                    ) from None
            if logger is not None:
                logger.flush()
            if self.last_checkpoint != agent.epoch:
                try:
                    self.checkpoint()
                except CheckpointWriteError as err:
                    raise CheckpointWriteError(err.errno, f"{err.strerror}; {self._where_to_resume()}") from None
            rd.broadcast_from_main(lambda: save_atomic(agent.policy.state_dict(), self.out / "policy.pt"))
        finally:
            if logger is not None:
                logger.close()
            if bar is not None:
                bar.close()
            self.env.close()
        if plot and self.main and (self.out / "metrics.csv").exists():
            from reinforce.tools.plotting import plot_runs

            plot_runs([self.out], self.out / "curve.png")
        if self.main:
            self._report(history, stop.requested or ("a signal to another rank" if stopping else None))
        return history

    def _report(self, history: list[Metrics], stopped_by: str | None) -> None:
        cfg, agent = self.cfg, self.agent
        last = history[-1] if history else None
        done = f"{agent.epoch} epochs" if agent.epoch >= cfg.epochs else f"stopped after {agent.epoch} of {cfg.epochs} epochs"
        print(
            f"{cfg.env_id}: {done}, {agent.env_steps:,} env steps in {agent.wall_s:.1f} s"
            + (f", final mean return {_fmt(last['rollout/ep_return_mean'])}" if last else "")
            + f" -> {self.out}"
        )
        if stopped_by is not None and agent.epoch < cfg.epochs:
            print(
                f"reinforce: stopped by {stopped_by}; checkpoint saved. Resume with: reinforce train --resume {self.out}{_nproc_flag()}",
                file=sys.stderr,
                flush=True,
            )
