"""A torchrun worker for tests/test_distributed.py: `python -m torch.distributed.run ... dist_worker.py SCENARIO DIR`.

Scenarios:
  kill     train CartPole on 2 ranks; after 2 epochs rank 1 writes DIR/killed (a timestamp) and
           SIGKILLs itself. The job must end, non-zero, with a message.
  hang     like kill, but rank 1 sleeps forever instead of dying (run with a short REINFORCE_DIST_TIMEOUT_S):
           rank 0's collective times out, and torchrun stops the job.
  crash    with --max-restarts=1: rank 1 dies, the job restarts and resumes from the last checkpoint,
           rank 1 dies again and the job ends (see `crash`). What the test runs.
kill and hang were measured by hand for docs/distributed.md.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import torch
from torch.distributed.elastic.multiprocessing.errors import record

import reinforce
from reinforce.config import Config
from reinforce.dist import runtime as rd
from reinforce.dist.reducer import JobReducer
from reinforce.run.checkpoint import (
    CHECKPOINT,
    gather_rank_states,
    load_checkpoint,
    payload_for_rank,
    restore_training_state,
    save_checkpoint,
    training_state,
)

torch.set_num_threads(1)
E, T, SEED = 4, 25, 0


def make_agent(rank: int) -> reinforce.Reinforce:
    torch.manual_seed(SEED)
    env = reinforce.make_vec_env("CartPole-v1", num_envs=E, seed=rd.rank_seed(SEED, rank, E), backend="native")
    policy = reinforce.CategoricalPolicy(4, 2)
    return reinforce.Reinforce(env, policy, lr=0.05, steps_per_rollout=T, reducer=JobReducer())


def _train_until_rank_one_fails(out: Path, marker: str, fail) -> None:
    """Train on every rank; after epoch 1, rank 1 writes DIR/<marker> (a timestamp) and calls `fail`."""
    rank, _, _ = rd.init_from_env()
    agent = make_agent(rank)
    for epoch in range(10_000):
        agent.update(agent.collect())
        if rank == 1 and epoch == 1:
            (out / marker).write_text(repr(time.time()))
            fail()
    raise AssertionError("rank 1 was supposed to fail")


def kill(out: Path) -> None:
    _train_until_rank_one_fails(out, "killed", lambda: os.kill(os.getpid(), signal.SIGKILL))


def hang(out: Path) -> None:
    _train_until_rank_one_fails(out, "hung", lambda: time.sleep(3600))


def crash(out: Path) -> None:
    """Run under --max-restarts=1. Attempt 0: checkpoint after every epoch, rank 1 SIGKILLs itself at
    epoch 3. Attempt 1: resume from the checkpoint (rank 0 writes DIR/resumed.json), train on, and
    rank 1 SIGKILLs itself again at epoch 5 (writing DIR/killed): no restart is left, the job ends."""
    rank, world, _ = rd.init_from_env()
    cfg = Config(env_id="CartPole-v1", num_envs=E, steps_per_rollout=T, epochs=100, lr=0.05, seed=SEED, hidden_sizes=())
    agent = make_agent(rank)
    payload = rd.broadcast_from_main(lambda: load_checkpoint(out / CHECKPOINT) if (out / CHECKPOINT).exists() else None)
    if payload is not None:
        mine, same_world = payload_for_rank(payload, rank, world)
        level = restore_training_state(mine, agent, rank=rank)
        in_sync = agent.reducer.in_sync(agent.modules())
        if rd.is_main_process():
            resumed = {"attempt": rd.restart_count(), "resumed_from": agent.epoch, "in_sync": in_sync, "level": level}
            (out / "resumed.json").write_text(json.dumps(resumed))
    while agent.epoch < cfg.epochs:
        if rank == 1 and agent.epoch == 3 + 2 * rd.restart_count():
            if rd.restart_count() > 0:
                (out / "killed").write_text(repr(time.time()))
            os.kill(os.getpid(), signal.SIGKILL)
        agent.update(agent.collect())
        state = gather_rank_states(training_state(cfg, agent, 1))
        rd.broadcast_from_main(lambda: save_checkpoint(out, state))
    raise AssertionError("rank 1 was supposed to die")


@record
def main() -> None:
    scenario, out = sys.argv[1], Path(sys.argv[2])
    {"kill": kill, "hang": hang, "crash": crash}[scenario](out)


if __name__ == "__main__":
    main()
