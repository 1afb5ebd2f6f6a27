"""Whole-training env steps/s with a CPU change of `reinforce.policy_base` off and on, side by side.

Each change is switched by module constants, so one process can take turns epoch by epoch: off, on, on, off,
... on the same agent, which a noisy machine hits alike. The agent keeps learning across the turns (the off and
on epochs are not the same batches). Prints JSON. The changes (`--change`):

- `layouts` (stop 34): a long, narrow product as (W xᵀ)ᵀ; a first layer times a row-major copy of Wᵀ; tanh /
  relu in place in MLP.forward;
- `slices` (stop 35): the update's forward and backward, and the value fit's, in slices of rows that stay in cache;
- `tanh` (stop 35): a large CPU tanh as 2·sigmoid(2x) − 1 (`--cases` may name presets: `pendulum-fast:32`);
- `difference` (stop 36): a two-action policy's z = l₁ − l₀ as one matrix-vector product (`logit_difference`),
  off: both logits, then their difference (the method that picks it is patched; the library has no switch);
- `sample` (stop 36): the rollout's sample of many envs in slices of rows (`HotPath._sample`), off: one call
  (patched too). `slices` switches the update's slices and these together.

    python benchmarks/cpu_layouts.py --cases swingup:4096 swingup:65536 cartpole:16384 cartpole:65536 \\
        --threads 1 2 --rounds 6 --out docs/cpu_layouts.json
    python benchmarks/cpu_layouts.py --change slices --cases swingup:4096 swingup:65536 cartpole:16384 \\
        cartpole:65536 --threads 1 2 --rounds 6 --out docs/cpu_slices.json
    python benchmarks/cpu_layouts.py --change difference --cases cartpole:4096 cartpole:16384 cartpole:65536 \\
        cartpole-fast:384 --threads 1 2 --rounds 10 --out docs/cpu_difference.json
    python benchmarks/cpu_layouts.py --change sample --cases swingup:8192 swingup:16384 swingup:32768 \\
        swingup:65536 --threads 1 2 --rounds 6 --out docs/cpu_sample_slices.json
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import emit_json  # noqa: E402
from throughput import ENVS, epoch_size, steps_for  # noqa: E402

import reinforce.policy_base as layouts  # noqa: E402
from reinforce import presets  # noqa: E402
from reinforce.config import Config  # noqa: E402
from reinforce.hotpath import HotPath  # noqa: E402
from reinforce.policies import CategoricalPolicy  # noqa: E402
from reinforce.run.build import build  # noqa: E402

# change -> (its constants as landed, its constants switched off)
CHANGES = {
    "layouts": ({"WIDE_BATCH_ROWS": layouts.WIDE_BATCH_ROWS, "NARROW_INPUTS": layouts.NARROW_INPUTS,
                 "IN_PLACE_ACTIVATIONS": layouts.IN_PLACE_ACTIVATIONS},
                {"WIDE_BATCH_ROWS": 2**62, "NARROW_INPUTS": 0, "IN_PLACE_ACTIVATIONS": False}),
    "slices": ({"SLICE_FLOATS": layouts.SLICE_FLOATS}, {"SLICE_FLOATS": 0}),
    "tanh": ({"FAST_TANH_ELEMENTS": layouts.FAST_TANH_ELEMENTS, "FAST_TANH_GRAPH_ELEMENTS": layouts.FAST_TANH_GRAPH_ELEMENTS},
             {"FAST_TANH_ELEMENTS": 0, "FAST_TANH_GRAPH_ELEMENTS": 0}),
    "difference": ({"_difference_head": CategoricalPolicy._difference_head},
                   {"_difference_head": lambda policy: None}),  # None: no two-action head, both logits made
    "sample": ({"_sample": HotPath._sample}, {"_sample": lambda hot, obs_E: hot.policy.sample(obs_E)}),
}
# where each change's names live
OWNERS = {"difference": CategoricalPolicy, "sample": HotPath}


def switch(change: str, on: bool) -> None:
    for name, value in CHANGES[change][0 if on else 1].items():
        setattr(OWNERS.get(change, layouts), name, value)


def case(env: str, num_envs: int, threads: int, rounds: int, size: int | None, change: str = "layouts") -> dict:
    """Median steps/s of the epochs with the changes off and on, taking turns, for the throughput grid's `env` or a
    preset of that name (its own steps per rollout unless `size` is given)."""
    torch.set_num_threads(threads)
    if env in ENVS:
        steps = steps_for(num_envs, size or epoch_size(env, "native", quick=False))
        cfg = Config(**ENVS[env], num_envs=num_envs, steps_per_rollout=steps, epochs=2 * rounds + 1, seed=0,
                     backend="native", num_threads=threads)
    else:
        cfg = presets.preset(env)
        steps = steps_for(num_envs, size) if size else cfg.steps_per_rollout
        cfg = cfg.replace(num_envs=num_envs, steps_per_rollout=steps, epochs=2 * rounds + 1, seed=0, num_threads=threads)
    vec, _, agent = build(cfg)
    try:
        switch(change, True)
        agent.learn(1)  # warm-up
        seconds: dict[str, list[float]] = {"off": [], "on": []}
        for r in range(rounds):
            for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
                switch(change, mode == "on")
                agent.compile_hot_path(False)  # a new HotPath: its sample bound from the class as switched
                started = time.perf_counter()
                agent.step(agent.collect())
                seconds[mode].append(time.perf_counter() - started)
    finally:
        switch(change, True)
        vec.close()
    rate = {mode: steps * num_envs / statistics.median(s) for mode, s in seconds.items()}
    rows = layouts.rows_per_slice(agent.policy, agent.policy.obs_dim, steps * num_envs)  # with the changes on
    slices = -(-steps * num_envs // rows) if rows else 1
    return {"change": change, "env": env, "num_envs": num_envs, "steps": steps, "threads": threads,
            "off_steps_per_s": rate["off"], "on_steps_per_s": rate["on"], "on_over_off": rate["on"] / rate["off"],
            "update_slices": slices}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--change", choices=sorted(CHANGES), default="layouts")
    p.add_argument("--cases", nargs="+", default=["swingup:4096", "swingup:65536", "cartpole:16384", "cartpole:65536"],
                   help="ENV:NUM_ENVS, ENV one of " + ", ".join(ENVS) + " or a preset")
    p.add_argument("--threads", nargs="+", type=int, default=[2])
    p.add_argument("--rounds", type=int, default=6, help="epochs per mode, taking turns")
    p.add_argument("--epoch-size", type=int, default=None, help="env steps an epoch (default: throughput.py's)")
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    rows = []
    for item in args.cases:
        env, num_envs = item.rsplit(":", 1)
        for threads in args.threads:
            rows.append(case(env, int(num_envs), threads, args.rounds, args.epoch_size, args.change))
    emit_json({"benchmark": "cpu_layouts", "change": args.change, "rounds": args.rounds, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
