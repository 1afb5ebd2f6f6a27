"""A training run on disk: train a Config into a run folder, checkpoint it, resume it, load it back.

Run folder:

    config.toml             the resolved config (`reinforce train --config RUN/config.toml` repeats the run)
    metrics.csv             one row per epoch (METRIC_NAMES first, then any extra metrics)
    events.out.tfevents.*   the same metrics for TensorBoard, and the config as text
    checkpoint.pt           the full training state every `checkpoint_every` epochs and at the end
    checkpoint.prev.pt      the checkpoint before it
    policy.pt               the final policy's state_dict (loadable with weights_only)

Nothing is written before the env and the policy are built, so a start that fails (an unknown env, a
missing package) leaves no folder behind. SIGINT/SIGTERM finish the current epoch, write a checkpoint
and return normally; `resume(run)` continues from it (exactly where the env's state can be saved).
"""
from __future__ import annotations

import csv
import sys
from collections.abc import Sequence
from pathlib import Path

from reinforce import config as config_mod
from reinforce.checks import require_int
from reinforce.config import Config
from reinforce.dist import runtime
from reinforce.metrics import Metrics
from reinforce.run.agent import Reinforce
from reinforce.run.build import build
from reinforce.run.callbacks import Callback, FunctionCallback, StopOnReward
from reinforce.run.checkpoint import (
    CheckpointError,
    check_matches_config,
    checkpoint_epoch,
    gather_rank_states,
    load_checkpoint,
    payload_for_rank,
    restore_training_state,
    save_atomic,
    save_checkpoint,
    training_state,
)
from reinforce.run.folder import CHECKPOINT, CONFIG, METRICS, POLICY, PREVIOUS, RunWriteError, clear_run_files, clear_stale_tmp, is_prepared
from reinforce.run.logger import RunLogger, truncate_metrics
from reinforce.run.loop import describe, fit, progress_bar
from reinforce.run.signals import GracefulStop

DEFAULT_CHECKPOINT_EVERY = 10


def train(
    cfg: Config,
    out_dir: str | Path,
    quiet: bool = False,
    force: bool = False,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    tensorboard: bool = True,
    stop_at: float | None = None,
    callbacks: Sequence[Callback] = (),
) -> list[Metrics]:
    """Train `cfg` from scratch into the run folder `out_dir`; returns the per-epoch metrics.

    Refuses a non-empty `out_dir` unless `force` (which removes the files of an earlier run there).
    `stop_at`: end early once an epoch's finished episodes average at least this return (the run is
    complete then: checkpoint, policy.pt; `--resume --epochs N` can still go on). `callbacks` run in
    the loop beside the run's own (e.g. an `EvalCallback`, whose `eval/…` metrics are logged).
    """
    require_int("checkpoint_every", checkpoint_every, 1)
    out = Path(out_dir)
    rank, world, _ = runtime.init_from_env(cfg.device)
    if runtime.restart_count() > 0 and (out / CONFIG).is_file():
        # torchrun --max-restarts started this job again after a failure: continue from the checkpoint.
        return resume(out, quiet, checkpoint_every, tensorboard=tensorboard, stop_at=stop_at, callbacks=callbacks)
    runtime.broadcast_from_main(lambda: check_free(out, force))
    if stop_at is not None:  # config.toml records the return the run stops at: a resume or a repeat stops there too
        cfg = cfg.replace(stop_at_return=stop_at)
    env, _, agent = build(cfg, rank, world)

    def prepare() -> None:  # rank 0 only, once the env and policy exist; an error stops every rank
        try:
            out.mkdir(parents=True, exist_ok=True)
            clear_run_files(out)
            config_mod.save(cfg, out / CONFIG)
        except OSError as err:  # a read-only or full disk: one line, exit 1
            raise RunWriteError(err.errno, f"could not write the run folder {out} ({err.strerror or err}, errno {err.errno})") from None

    try:
        runtime.broadcast_from_main(prepare)
    except BaseException:
        env.close()
        raise
    return Session(cfg, out, agent, quiet, checkpoint_every, tensorboard, last_checkpoint=None, stop_at=stop_at,
                   callbacks=callbacks).run()


def check_free(out: Path, force: bool) -> None:
    """Refuse to start a new run in a folder that holds files, unless `force`."""
    if out.exists() and any(out.iterdir()) and not force:
        raise FileExistsError(
            f"run folder {str(out)!r} already exists and is not empty; pass --resume {out} to continue it "
            "or --force to overwrite it"
        )


def resume(
    run_dir: str | Path,
    quiet: bool = False,
    checkpoint_every: int | None = None,
    epochs: int | None = None,
    tensorboard: bool = True,
    stop_at: float | None = None,
    callbacks: Sequence[Callback] = (),
) -> list[Metrics]:
    """Continue the run in `run_dir` from its checkpoint; returns the metrics of the new epochs.

    `epochs` raises (or lowers) the run's total; by default the checkpoint's `checkpoint_every` is
    kept. A folder prepared for a run (config.toml and nothing else, as `--seeds` leaves it) starts
    from epoch 0; a folder with a run's files but no checkpoint is refused and left as it is.
    """
    out = Path(run_dir)
    rank, world, _ = runtime.init_from_env()
    main = runtime.is_main_process()

    def load() -> tuple[Config, dict | None, int, bool]:  # rank 0 only: the run folder is on its disk
        if not (out / CONFIG).is_file():
            raise FileNotFoundError(f"{str(out)!r} is not a run folder: it has no config.toml")
        cfg = config_mod.load(out)
        payload = load_for_resume(out)
        if payload is None and not is_prepared(out):
            raise FileNotFoundError(f"no checkpoint in {out}; start a new run with --out NEW or drop --resume")
        clear_stale_tmp(out)  # a kill mid-write leaves these; the files they were to replace are intact
        every = checkpoint_every
        if payload is not None:
            check_matches_config(payload, cfg, out / CHECKPOINT)
            every = every or int(payload["trainer"]["checkpoint_every"])
        every = require_int("checkpoint_every", every or DEFAULT_CHECKPOINT_EVERY, 1)
        changed = {k: v for k, v in (("epochs", epochs), ("stop_at_return", stop_at)) if v is not None and v != getattr(cfg, k)}
        longer = changed.get("epochs", 0) > cfg.epochs
        if changed:  # config.toml says how the run now trains, so that a repeat or a later resume does the same
            cfg = cfg.replace(**changed)
            config_mod.save(cfg, out / CONFIG)
        if payload is not None:
            truncate_metrics(out / METRICS, int(payload["agent"]["epoch"]))
        return cfg, payload, every, longer

    cfg, payload, checkpoint_every, longer = runtime.broadcast_from_main(load)
    env, _, agent = build(cfg, rank, world)
    if payload is not None:
        mine, same_world = payload_for_rank(payload, rank, world)
        level = restore_training_state(mine, agent, out / CHECKPOINT, rank)
        if not same_world and main and not quiet:
            print(
                f"reinforce: note: the checkpoint was written by {payload.get('world_size', 1)} processes, this run has "
                f"{world}: weights and optimiser carry over, the envs restart, and the batch is now {world}×{cfg.num_envs} envs",
                file=sys.stderr,
            )
        elif level == "none" and main and not quiet:
            print(
                f"reinforce: note: the state of {cfg.env_id}'s {cfg.backend} envs could not be restored; the run goes on "
                "with freshly reset envs, so it will not match an uninterrupted run exactly",
                file=sys.stderr,
            )
    planned = agent.schedule_epochs
    if payload is not None and planned is not None and cfg.epochs > planned:
        agent.schedule_epochs = cfg.epochs  # a longer run: without this, every added epoch would train at lr 0
        if cfg.lr_schedule == "linear" and main and not quiet:
            print(f"reinforce: note: the linear lr schedule now decays to 0 over {cfg.epochs} epochs (it was {planned}), "
                  f"from {agent.lr_now():.3g} at epoch {agent.epoch}; a fresh run of {cfg.epochs} epochs decays more "
                  "slowly from the start", file=sys.stderr)
    if agent.epoch >= cfg.epochs:
        env.close()
        if main:
            print(f"{str(out)!r} is already complete ({agent.epoch} of {cfg.epochs} epochs); pass --epochs N to train longer")
        return []
    session = Session(
        cfg, out, agent, quiet, checkpoint_every, tensorboard, last_checkpoint=agent.epoch if payload else None, stop_at=stop_at,
        callbacks=callbacks,
    )
    if longer and session.target is not None and session.target.reached is not None:
        # --epochs N, more than before, asks a run that met its stop_at_return to go on: it trains to N, no longer
        # stopped by that return (the same N again, or none, leaves it complete)
        if main and not quiet:
            print(f"reinforce: note: {str(out)!r} reached its stop_at_return {session.target.threshold:g} at epoch "
                  f"{int(session.target.reached['epoch'])}; it trains on to {cfg.epochs} epochs as --epochs asks "
                  "(a higher --stop-at-threshold R would stop it there)", file=sys.stderr)
        session.target = None
    return session.run()


def epochs_done(epochs: int) -> str:
    """How far a checkpoint got, in the 0-based epoch numbers of metrics.csv."""
    return f"end of epoch {epochs - 1}" if epochs > 0 else "before the first epoch"


def load_for_resume(out: Path) -> dict | None:
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


def nproc_flag() -> str:
    """" --nproc N" for the resume hint of a distributed run (resuming with N keeps it exact)."""
    return f" --nproc {runtime.get_world_size()}" if runtime.is_distributed() else ""


class Session:
    """One stretch of training in a run folder, from the agent's current epoch to `cfg.epochs`:
    logs, progress, checkpoint cadence, signals and the final report."""

    def __init__(
        self,
        cfg: Config,
        out: Path,
        agent: Reinforce,
        quiet: bool,
        checkpoint_every: int,
        tensorboard: bool,
        last_checkpoint: int | None,
        stop_at: float | None = None,
        callbacks: Sequence[Callback] = (),
    ):
        self.cfg, self.out, self.agent = cfg, out, agent
        self.user_callbacks = list(callbacks)
        self.main = runtime.is_main_process()  # rank 0 (or the only process) writes and prints
        self.quiet, self.checkpoint_every, self.tensorboard = quiet or not self.main, checkpoint_every, tensorboard
        self.last_checkpoint: int | None = last_checkpoint  # epochs done in the newest checkpoint on disk
        self.stop = GracefulStop(announce=self.main)
        self.stopping = False
        stop_at = cfg.stop_at_return if stop_at is None else stop_at  # a command's --stop-at-threshold wins
        self.target = None if stop_at is None else StopOnReward(stop_at)
        if self.target is not None and agent.epoch > 0 and self.main:
            replay_window(self.target, out / METRICS)

    def checkpoint(self) -> None:
        """Every rank calls this (a collective when distributed); rank 0 writes the file."""
        with self.stop.critical():  # a second Ctrl-C waits until the checkpoint is on disk
            state = gather_rank_states(training_state(self.cfg, self.agent, self.checkpoint_every))
            runtime.broadcast_from_main(lambda: save_checkpoint(self.out, state))  # a failed write stops every rank
        self.last_checkpoint = self.agent.epoch

    def where_to_resume(self) -> str:
        if self.last_checkpoint is None:
            return f"no checkpoint was written yet (one every {self.checkpoint_every} epochs)"
        return (
            f"the last good checkpoint ({epochs_done(self.last_checkpoint)}) is {self.out / CHECKPOINT}; "
            f"continue with: reinforce train --resume {self.out}{nproc_flag()}"
        )

    def after_epoch(self, logger: RunLogger | None) -> Callback:
        def hook(metrics: Metrics) -> bool:
            # A signal may reach some ranks only: all stop after the same epoch (one tiny all-reduce).
            self.stopping = runtime.any_rank(self.stop.requested is not None)
            if self.agent.epoch % self.checkpoint_every == 0 and self.agent.epoch < self.cfg.epochs and not self.stopping:
                if logger is not None:
                    logger.flush()
                self.checkpoint()
            return not self.stopping

        return FunctionCallback(hook)

    def run(self) -> list[Metrics]:
        cfg, agent = self.cfg, self.agent
        start = agent.epoch
        try:
            logger = RunLogger(self.out, config_mod.to_toml(cfg), agent.env_steps, self.tensorboard) if self.main else None
        except OSError as err:
            agent.env.close()
            raise RunWriteError(err.errno, f"could not write logs in {self.out} ({err.strerror or err}, errno {err.errno})") from None
        bar = None if self.quiet else progress_bar(cfg.epochs, start)
        try:
            with self.stop:
                try:
                    callbacks = [*self.user_callbacks, self.after_epoch(logger)] + ([self.target] if self.target is not None else [])
                    # a resumed run whose logged epochs already reached the threshold trains no further
                    todo = 0 if self.target is not None and self.target.reached is not None else cfg.epochs - start
                    history = fit(agent, todo, callbacks=callbacks, logs=[logger] if logger else [], bar=bar)
                except FloatingPointError as err:
                    raise FloatingPointError(f"{err}. Training stopped; {self.where_to_resume()}") from None
                except RunWriteError as err:
                    raise RunWriteError(
                        err.errno, f"{err.strerror}. Training stopped after {agent.epoch} epochs; {self.where_to_resume()}"
                    ) from None
            if logger is not None:
                logger.flush()
            if self.last_checkpoint != agent.epoch:
                try:
                    self.checkpoint()
                except RunWriteError as err:
                    raise RunWriteError(err.errno, f"{err.strerror}; {self.where_to_resume()}") from None
            runtime.broadcast_from_main(lambda: save_atomic(agent.policy.state_dict(), self.out / POLICY))
        finally:
            if logger is not None:
                logger.close()
            if bar is not None:
                bar.close()
            agent.env.close()
        if self.main:
            self.report(history, self.stop.requested or ("a signal to another rank" if self.stopping else None))
        return history

    def report(self, history: list[Metrics], stopped_by: str | None) -> None:
        cfg, agent = self.cfg, self.agent
        last = history[-1] if history else None
        done = f"{agent.epoch} epochs" if agent.epoch >= cfg.epochs else f"stopped after {agent.epoch} of {cfg.epochs} epochs"
        if self.target is not None and self.target.reached is not None:
            done = f"reached {self.target.threshold:g} after {agent.epoch} of {cfg.epochs} epochs"
        print(
            f"{cfg.env_id}: {done}, {agent.env_steps:,} env steps in {agent.wall_s:.1f} s"
            + (f", final mean return {describe(last['rollout/ep_return_mean'])}" if last else "")
            + f" -> {self.out}"
        )
        if stopped_by is not None and agent.epoch < cfg.epochs and (self.target is None or self.target.reached is None):
            print(
                f"reinforce: stopped by {stopped_by}; checkpoint saved. Resume with: reinforce train --resume {self.out}{nproc_flag()}",
                file=sys.stderr,
                flush=True,
            )


def replay_window(target: StopOnReward, metrics_csv: Path) -> None:
    """Feed a resumed run's logged epochs (metrics.csv, already cut at the checkpoint) to `target`, so
    its window of recent episodes is the one an uninterrupted run would have."""
    if not metrics_csv.is_file():
        return
    with metrics_csv.open(newline="") as f:
        for row in csv.DictReader(f):
            try:
                ret, episodes = float(row["rollout/ep_return_mean"] or "nan"), int(float(row["rollout/episodes"] or 0))
            except (KeyError, ValueError):
                continue
            if target.on_update_end({"epoch": int(float(row["epoch"])), "rollout/ep_return_mean": ret,
                                     "rollout/episodes": episodes}) is False:
                return
