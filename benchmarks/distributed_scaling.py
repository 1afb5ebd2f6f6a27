"""Data-parallel scaling: env steps per second of 1 process vs N torchrun processes (default N = 2).

Two workloads, both on the native batched torch envs, one intra-op thread per process:
  cartpole  CartPole-v1, linear categorical policy (light: the env step and the Python loop dominate)
  swingup   reinforce/CartPoleSwingUp-v0, 64-64 ReLU Gaussian MLP (heavier: the MLP forward per step)

Three runs per workload:
  1 proc × E       plain `Reinforce`, one process (the baseline)
  1 proc × N·E     plain `Reinforce` with the whole batch of the N-process run
  N procs × E      `DistributedReinforce` under torchrun, E envs per rank (N·E in all)

  weak scaling   = sps(N procs × E) / (N · sps(1 proc × E))      same per-process work, N times the batch
  strong scaling = sps(N procs × E) / (N · sps(1 proc × N·E))    same batch (same learning), split N ways

Throughput is transitions / wall time of `--epochs` full epochs (collect + update + all-reduce),
timed on rank 0 between barriers after one warm-up epoch. On a shared machine wall-clock rates
move with other people's load, so the CPU time the ranks used is reported too (`steps_per_cpu_s`,
summed over ranks): `*_cpu_efficiency` = steps per CPU-second of N processes / of 1 process, the
work that distribution adds (communication, duplicated per-step overhead), independent of how
busy the machine is; wall-clock efficiency ≈ CPU efficiency × (cores actually available / N)
when N ≤ cores. `comm_s_per_epoch` is the time a rank
spends in the gradient all-reduce and metric reduction, waiting for the slower rank included.
Every measurement is repeated `--repeats` times, alternating 1-process and N-process launches;
the median is reported (the machine may be shared: the load average is printed too).

    python benchmarks/distributed_scaling.py                       # ~2-4 min on a 2-core machine
    python benchmarks/distributed_scaling.py --nproc 4 --repeats 3 --out scaling.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

CASES = {
    "cartpole": dict(env_id="CartPole-v1", hidden_sizes=(), activation=None, lr=0.01, gamma=0.99, log_std_init=0.0),
    "swingup": dict(
        env_id="reinforce/CartPoleSwingUp-v0", hidden_sizes=(64, 64), activation="relu", lr=1e-2, gamma=0.999, log_std_init=0.5
    ),
}


# -------------------------------------------------------------------------------------- worker
def worker(specs: list[dict], epochs: int) -> None:
    """Measure each spec in this process (under torchrun: on every rank); rank 0 prints RESULT lines."""
    import torch

    torch.set_num_threads(1)
    from reinforce.config import Config
    from reinforce.dist import runtime as rd
    from reinforce.run.build import build

    rank, world, _ = rd.init_from_env()
    for spec in specs:
        case, num_envs, steps = spec["case"], spec["num_envs"], spec["steps"]
        params = CASES[case]
        cfg = Config(**params, num_envs=num_envs, steps_per_rollout=steps, backend="native", seed=0, num_threads=1)
        _, _, agent = build(cfg, rank, world)
        comm = [0.0]
        if world > 1:  # time the collectives (waiting for the slower rank included)
            for name in ("average_gradients", "sum", "max"):
                original = getattr(agent.reducer, name)

                def timed(*args, _original=original, **kw):
                    t = time.perf_counter()
                    try:
                        return _original(*args, **kw)
                    finally:
                        comm[0] += time.perf_counter() - t

                setattr(agent.reducer, name, timed)
        agent.update(agent.collect())  # warm-up
        rd.barrier()
        comm[0] = 0.0
        start, cpu_start = time.perf_counter(), time.process_time()
        collect_s = 0.0
        for _ in range(epochs):
            t = time.perf_counter()
            batch = agent.collect()
            collect_s += time.perf_counter() - t
            agent.update(batch)
        cpu_s = time.process_time() - cpu_start  # this rank's CPU time, before waiting at the barrier
        rd.barrier()
        elapsed = time.perf_counter() - start
        env.close()
        if world > 1:
            total = torch.tensor([cpu_s], dtype=torch.float64)
            torch.distributed.all_reduce(total)
            cpu_s = total.item()
        if rank == 0:
            steps_total = world * num_envs * steps * epochs
            result = {
                **spec,
                "nproc": world,
                "steps_per_s": steps_total / elapsed,
                "steps_per_cpu_s": steps_total / cpu_s,
                "epoch_s": elapsed / epochs,
                "collect_s_per_epoch": collect_s / epochs,
                "comm_s_per_epoch": comm[0] / epochs,
            }
            print("RESULT " + json.dumps(result), flush=True)
    rd.destroy()


# -------------------------------------------------------------------------------------- driver
def launch(specs: list[dict], nproc: int, epochs: int) -> list[dict]:
    here = str(Path(__file__).resolve())
    args = ["--worker", json.dumps(specs), "--epochs", str(epochs)]
    if nproc == 1:
        command = [sys.executable, here, *args]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", here, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])} ... failed:\n{proc.stderr[-3000:]}")
    return [json.loads(line[len("RESULT ") :]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--num-envs", type=int, nargs="+", default=[1024, 256], help="E per rank, one per case (cartpole, swingup)")
    p.add_argument("--steps", type=int, nargs="+", default=[200, 400], help="T per epoch, one per case")
    p.add_argument("--epochs", type=int, default=6, help="timed epochs after one warm-up epoch")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker is not None:
        worker(json.loads(args.worker), args.epochs)
        return

    n = args.nproc
    base = [{"case": c, "num_envs": e, "steps": t} for c, e, t in zip(args.cases, args.num_envs, args.steps)]
    single = base + [{**s, "num_envs": n * s["num_envs"]} for s in base]
    runs: dict[tuple, list[dict]] = {}
    load_before = os.getloadavg()
    started = time.perf_counter()
    for _ in range(args.repeats):
        for nproc, specs in ((1, single), (n, base)):
            for r in launch(specs, nproc, args.epochs):
                runs.setdefault((r["case"], r["num_envs"], r["nproc"]), []).append(r)

    def median(key: tuple, field: str = "steps_per_s") -> float:
        return statistics.median(r[field] for r in runs[key])

    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "python": platform.python_version(),
            "load_avg_before": [round(x, 2) for x in load_before],
            "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "bench_s": round(time.perf_counter() - started, 1),
        },
        "nproc": n,
        "epochs": args.epochs,
        "repeats": args.repeats,
        "cases": {},
    }
    for s in base:
        case, e = s["case"], s["num_envs"]
        one, one_big, many = (case, e, 1), (case, n * e, 1), (case, e, n)
        report["cases"][case] = {
            "num_envs_per_rank": e,
            "steps_per_rollout": s["steps"],
            f"1 proc x {e} envs": round(median(one)),
            f"1 proc x {n * e} envs": round(median(one_big)),
            f"{n} procs x {e} envs": round(median(many)),
            "weak_scaling_efficiency": round(median(many) / (n * median(one)), 3),
            "strong_scaling_efficiency": round(median(many) / (n * median(one_big)), 3),
            "speedup_same_batch": round(median(many) / median(one_big), 3),
            # CPU time instead of wall time: what distribution costs in work, whatever else runs on the machine.
            "steps_per_cpu_s": {
                f"1x{e}": round(median(one, "steps_per_cpu_s")),
                f"1x{n * e}": round(median(one_big, "steps_per_cpu_s")),
                f"{n}x{e}": round(median(many, "steps_per_cpu_s")),
            },
            "weak_cpu_efficiency": round(median(many, "steps_per_cpu_s") / median(one, "steps_per_cpu_s"), 3),
            "strong_cpu_efficiency": round(median(many, "steps_per_cpu_s") / median(one_big, "steps_per_cpu_s"), 3),
            "epoch_s": {"1proc_E": round(median(one, "epoch_s"), 3), f"{n}proc": round(median(many, "epoch_s"), 3)},
            f"{n}proc_comm_s_per_epoch": round(median(many, "comm_s_per_epoch"), 4),
            "all_steps_per_s": {
                f"1x{e}": [round(r["steps_per_s"]) for r in runs[one]],
                f"1x{n * e}": [round(r["steps_per_s"]) for r in runs[one_big]],
                f"{n}x{e}": [round(r["steps_per_s"]) for r in runs[many]],
            },
        }
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
