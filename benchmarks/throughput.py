"""Whole-training throughput (env steps per second, collect + update), all backends side by side.

One process, one run: for CartPole-v1 with the linear categorical policy and for
reinforce/CartPoleSwingUp-v0 with the 64-64 Gaussian MLP, for E in {32, 256, 4096, 16384, 65536},
for every backend (native, sync, async at small E, envpool where installed), trains with
`reinforce.run.build.build(Config(...))` + `agent.learn(k)` and reports the median `time/steps_per_s`
of the epochs after one warm-up epoch. Beside them, in the same run:
  - the article's own loop (benchmarks/article_loop.py: deep-copied Gymnasium envs, float64
    policy, Categorical.sample per step, numpy buffers, Python returns loop, Adam), whole training;
  - raw batched numpy CartPole stepping with random actions (no policy, no learning): the
    machine's practical limit for this physics; and Gymnasium's own numpy-batched CartPole
    (`vector_entry_point`) with random actions.
The references are measured at the start and again at the end of the run (the machine is shared
and noisy); their median is used for the ratios.

Epoch size: T = max(1, round(S / E)) steps per env, with S = 1M transitions per epoch for the fast
backends on CartPole, 0.5M for the swing-up, 0.25M for the slow ones (sync, async, the article's
loop: 10-30k steps/s here); sync only up to E = 4096 (flat beyond a few hundred envs), async only at
E = 32; `--quick` uses S/4, fewer E and epochs.

    python benchmarks/throughput.py --out docs/throughput.json             # full grid (~15 min here)
    python benchmarks/throughput.py --quick                                # ~2-3 min
    python benchmarks/throughput.py --envs cartpole --num-envs 4096 65536 --backends native
"""
from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from article_loop import article_steps_per_s  # noqa: E402

from reinforce.config import Config  # noqa: E402
from reinforce.run.build import build  # noqa: E402
from common import emit_json  # noqa: E402  (benchmarks/common.py; the script's folder is on sys.path)

ENVS = {
    "cartpole": dict(env_id="CartPole-v1", hidden_sizes=(), lr=0.01, gamma=0.99),
    "swingup": dict(
        env_id="reinforce/CartPoleSwingUp-v0", hidden_sizes=(64, 64), activation="relu", log_std_init=0.5, lr=1e-2, gamma=0.999
    ),
}
ALL_E = (32, 256, 4096, 16384, 65536)
SLOW = ("sync", "async", "article")
ASYNC_MAX_E = 32  # one process per env: beyond this it only measures process thrash on 2 cores
SYNC_MAX_E = 4096  # a Python loop over envs: flat beyond a few hundred envs, and 65536 env objects take minutes


SLOW_SIZE = 250_000  # transitions per epoch for the slow backends: they run at 10-30k steps/s here


def epoch_size(env: str, backend: str, quick: bool) -> int:
    if backend in SLOW:
        size = SLOW_SIZE
    else:
        size = 1_000_000 if env == "cartpole" else 500_000
    return size // 4 if quick else size


def steps_for(num_envs: int, size: int) -> int:
    return max(1, round(size / num_envs))


def have_envpool() -> bool:
    try:
        import envpool  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------------------- raw
def raw_numpy_cartpole(num_envs: int, seconds: float = 1.5, seed: int = 0) -> float:
    """Batched numpy CartPole-v1 (float32, Gymnasium's equations), random actions, autoreset of
    the ended envs: env steps per second. No policy, no buffers, no learning."""
    rng = np.random.default_rng(seed)
    f32 = np.float32
    g, mc, mp, length, fm, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    tm, pml = mc + mp, mp * length
    theta_thr, x_thr = 12 * 2 * math.pi / 360, 2.4
    state = rng.uniform(-0.05, 0.05, (4, num_envs)).astype(f32)  # rows: x, x_dot, theta, theta_dot
    steps = np.zeros(num_envs, np.int32)
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(20):
            action = rng.random(num_envs, dtype=f32) < 0.5
            x, x_dot, theta, theta_dot = state
            force = np.where(action, f32(fm), f32(-fm))
            cos, sin = np.cos(theta), np.sin(theta)
            temp = (force + f32(pml) * theta_dot * theta_dot * sin) / f32(tm)
            thetaacc = (f32(g) * sin - cos * temp) / (f32(length) * (f32(4 / 3) - f32(mp) * cos * cos / f32(tm)))
            xacc = temp - f32(pml) * thetaacc * cos / f32(tm)
            state = np.stack((x + f32(tau) * x_dot, x_dot + f32(tau) * xacc, theta + f32(tau) * theta_dot, theta_dot + f32(tau) * thetaacc))
            steps += 1
            done = (np.abs(state[0]) > x_thr) | (np.abs(state[2]) > theta_thr) | (steps >= 500)
            ended = np.flatnonzero(done)
            if ended.size:
                state[:, ended] = rng.uniform(-0.05, 0.05, (4, ended.size)).astype(f32)
                steps[ended] = 0
            n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return n * num_envs / elapsed


def gymnasium_vector_cartpole(num_envs: int, seconds: float = 1.5) -> float:
    """Gymnasium's own numpy-batched CartPole (vector_entry_point), random actions."""
    import gymnasium as gym

    env = gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    n, start = 0, time.perf_counter()
    while True:
        for _ in range(20):
            env.step(rng.integers(0, 2, num_envs))
            n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            env.close()
            return n * num_envs / elapsed


# ---------------------------------------------------------------------------------------- ours
def train_steps_per_s(env: str, backend: str, num_envs: int, steps: int, epochs: int, warmup: int = 1) -> dict:
    # num_threads=None: the thread count probe_threads / --threads set must survive build()
    cfg = Config(**ENVS[env], num_envs=num_envs, steps_per_rollout=steps, epochs=warmup + epochs, seed=0,
                 backend=backend, num_threads=None)
    return config_steps_per_s(cfg, epochs, warmup)[0]


def config_steps_per_s(cfg: Config, epochs: int, warmup: int = 1) -> tuple[dict, object]:
    """Median whole-training steps/s of `cfg` over `epochs` epochs after `warmup`, and the trained agent."""
    t0 = time.perf_counter()
    vec, _, agent = build(cfg)
    build_s = time.perf_counter() - t0
    try:
        history = agent.learn(warmup + epochs)
    finally:
        vec.close()
    sps = [m["time/steps_per_s"] for m in history[warmup:]]
    return {"steps_per_s": statistics.median(sps), "epochs_steps_per_s": sps, "build_s": build_s}, agent


def probe_threads(quick: bool) -> dict:
    """Native backend, 1 vs 2 torch threads, alternated; returns per-case medians and the pick."""
    cases = [("cartpole", 4096), ("cartpole", 65536), ("swingup", 4096)]
    results: dict[str, dict[str, list[float]]] = {}
    for _ in range(1 if quick else 2):
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for env, num_envs in cases:
                size = epoch_size(env, "native", True)
                r = train_steps_per_s(env, "native", num_envs, steps_for(num_envs, size), epochs=2)
                results.setdefault(f"{env}/E={num_envs}", {}).setdefault(str(threads), []).extend(r["epochs_steps_per_s"])
    medians = {k: {t: statistics.median(v) for t, v in by.items()} for k, by in results.items()}
    # pick by the geometric mean of the 2-thread / 1-thread ratios
    ratio = math.exp(statistics.mean(math.log(m["2"] / m["1"]) for m in medians.values()))
    return {"steps_per_s": medians, "two_over_one": ratio, "chosen": 2 if ratio > 1.0 else 1}


def references(env: str, grid: list[int], quick: bool) -> dict:
    out: dict = {}
    article_e = 32 if env == "cartpole" else 256
    size = epoch_size(env, "article", quick)
    out["article"] = {
        "num_envs": article_e,
        "steps": steps_for(article_e, size),
        "epochs_steps_per_s": article_steps_per_s(
            ENVS[env]["env_id"], article_e, steps_for(article_e, size), epochs=1 if quick else 2, gamma=ENVS[env]["gamma"]
        ),
    }
    if env == "cartpole":
        secs = 0.75 if quick else 1.5
        out["raw_numpy"] = {str(e): raw_numpy_cartpole(e, secs) for e in grid}
        out["gymnasium_vector"] = {str(e): gymnasium_vector_cartpole(e, secs) for e in grid if e >= 256}
    return out


def merge_refs(first: dict, second: dict) -> dict:
    merged: dict = {}
    art = first["article"]["epochs_steps_per_s"] + second["article"]["epochs_steps_per_s"]
    merged["article"] = {**first["article"], "epochs_steps_per_s": art, "steps_per_s": statistics.median(art)}
    for key in ("raw_numpy", "gymnasium_vector"):
        if key in first:
            merged[key] = {e: statistics.median([first[key][e], second[key][e]]) for e in first[key]}
            merged[key + "_runs"] = {e: [first[key][e], second[key][e]] for e in first[key]}
    return merged


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="E in {256, 4096, 65536}, epochs of S/4, 2 epochs, no async")
    ap.add_argument("--envs", nargs="+", choices=list(ENVS), default=list(ENVS))
    ap.add_argument("--num-envs", nargs="+", type=int, default=None)
    ap.add_argument("--backends", nargs="+", default=None, help="native sync async envpool (default: all available)")
    ap.add_argument("--epochs", type=int, default=None, help="measured epochs per case (after 1 warm-up)")
    ap.add_argument("--threads", default="auto", help="torch threads: 1, 2 or auto (measure 1 vs 2, keep the faster)")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    args = ap.parse_args()

    grid = args.num_envs or ([256, 4096, 65536] if args.quick else list(ALL_E))
    backends = args.backends or ["native", "sync"] + ([] if args.quick else ["async"]) + (["envpool"] if have_envpool() else [])
    result: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
        },
        "settings": {"quick": args.quick, "num_envs": grid, "backends": backends, "warmup_epochs": 1},
    }
    started = time.perf_counter()
    if args.threads == "auto":
        probe = probe_threads(args.quick)
        torch.set_num_threads(probe["chosen"])
        result["threads"] = probe
    else:
        torch.set_num_threads(int(args.threads))
        result["threads"] = {"chosen": int(args.threads)}
    print(f"# torch threads: {torch.get_num_threads()}", file=sys.stderr)

    rows = []
    refs = {}
    for env in args.envs:
        first = references(env, grid, args.quick)
        for backend in backends:
            if backend == "envpool" and env != "cartpole":
                continue  # EnvPool has no swing-up
            for num_envs in grid:
                if (backend == "async" and num_envs > ASYNC_MAX_E) or (backend == "sync" and num_envs > SYNC_MAX_E):
                    continue
                size = epoch_size(env, backend, args.quick)
                steps = steps_for(num_envs, size)
                epochs = args.epochs or (2 if args.quick or backend in SLOW else 3)
                gc.collect()
                r = train_steps_per_s(env, backend, num_envs, steps, epochs)
                row = {"env": env, "backend": backend, "num_envs": num_envs, "steps": steps, **r}
                rows.append(row)
                print(f"# {env:8s} {backend:8s} E={num_envs:<6d} T={steps:<6d} {r['steps_per_s'] / 1e6:8.3f}M steps/s", file=sys.stderr)
        second = references(env, grid, args.quick)
        refs[env] = merge_refs(first, second)

    for row in rows:
        ref = refs[row["env"]]
        row["x_article"] = row["steps_per_s"] / ref["article"]["steps_per_s"]
        if "raw_numpy" in ref:
            row["of_raw_numpy_same_E"] = row["steps_per_s"] / ref["raw_numpy"][str(row["num_envs"])]
            row["of_raw_numpy_best"] = row["steps_per_s"] / max(ref["raw_numpy"].values())
    best = {}
    for env in args.envs:
        env_rows = [r for r in rows if r["env"] == env]
        if env_rows:
            top = max(env_rows, key=lambda r: r["steps_per_s"])
            best[env] = {k: top[k] for k in ("backend", "num_envs", "steps", "steps_per_s", "x_article")}
            if "of_raw_numpy_best" in top:
                best[env]["of_raw_numpy_best"] = top["of_raw_numpy_best"]
                best[env]["raw_numpy_best"] = max(refs[env]["raw_numpy"].values())
    result.update(references=refs, results=rows, best=best)
    result["machine"]["loadavg_end"] = os.getloadavg()
    result["elapsed_s"] = time.perf_counter() - started
    emit_json(result, args.out)


if __name__ == "__main__":
    main()
