"""Time to a target return, ours against Stable-Baselines3 A2C and PPO, side by side (issue 16).

Every run is a fresh `python` process that trains until the mean return of the **last 20 finished
training episodes** reaches the env's target (the same criterion for every algorithm: Monitor's
episode returns for SB3, the rollout's finished episodes for ours), then exits. Per run we record:

* whole-process seconds, timed from outside (interpreter start, imports, env and model construction
  and training, until the process exits);
* in-process seconds: training only (ours: the loop's collect + update time, `time/wall_s`; SB3: from
  the start of `learn()`), and the env steps taken.

A run that reaches no target within its caps (the algorithm's configured budget of env steps, and
the env's wall cap) is reported as missed. Runs take turns (seed by seed: ours, A2C, PPO), each
with one torch thread, so machine load falls on all of them alike. Per env and algorithm the table
gives the median over seeds (a missed run counts as slower than every hit: the median is "missed"
when half or more miss).

SB3 is never a dependency of `reinforce`: give the Python of an environment that has it.

    python -m venv /tmp/sb3 && /tmp/sb3/bin/pip install torch==2.13.0 stable-baselines3==2.9.2 "gymnasium[box2d,mujoco]"
    python benchmarks/time_to_target.py --sb3-python /tmp/sb3/bin/python --envs CartPole-v1,Acrobot-v1,Pendulum-v1 \
        --seeds 5 --out docs/time_to_target.json
    python benchmarks/time_to_target.py --algos ours --envs CartPole-v1 --seeds 1     # ours only
    python benchmarks/time_to_target.py --merge classic.json lunar.json --out docs/time_to_target.json
    python benchmarks/time_to_target.py --sb3-python /tmp/sb3/bin/python --envs Hopper-v5 --seeds 5 \
        --our-backend envpool --env-alone --out hopper.json     # MuJoCo: the env is the cost
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import deque

from common import emit_json  # noqa: E402  (benchmarks/common.py; the script's folder is on sys.path)

WINDOW = 20  # finished training episodes averaged for the criterion

# env id -> (target return, wall cap in seconds per run, our preset)
ENVS: dict[str, tuple[float, float, str]] = {
    "CartPole-v1": (475.0, 120.0, "cartpole-fast"),
    "Acrobot-v1": (-100.0, 300.0, "acrobot-fast"),
    "Pendulum-v1": (-200.0, 300.0, "pendulum-fast"),
    "LunarLander-v3": (200.0, 900.0, "lunarlander"),
    "HalfCheetah-v5": (1500.0, 900.0, "halfcheetah-fast"),
    "Hopper-v5": (1000.0, 600.0, "hopper-fast"),
}
ALGOS = ("ours", "a2c", "ppo")

_MUJOCO_PPO_NET = dict(log_std_init=-2, ortho_init=False, activation_fn="relu", net_arch=dict(pi=[256, 256], vf=[256, 256]))
# rl-baselines3-zoo's tuned settings (rl_zoo3 2.9.2, hyperparams/a2c.yml and ppo.yml; the MuJoCo v4
# entries for v5). ("lin", x): learning rate / clip range decayed linearly from x to 0 over n_timesteps,
# which is also the run's cap on env steps. normalize: VecNormalize (observations and rewards, γ as set).
ZOO: dict[tuple[str, str], dict] = {
    ("a2c", "CartPole-v1"): dict(n_envs=8, n_timesteps=5e5, kwargs=dict(ent_coef=0.0)),
    ("a2c", "Acrobot-v1"): dict(n_envs=16, n_timesteps=5e5, normalize=True, kwargs=dict(ent_coef=0.0)),
    ("a2c", "Pendulum-v1"): dict(n_envs=8, n_timesteps=1e6, normalize=True, kwargs=dict(
        ent_coef=0.0, max_grad_norm=0.5, n_steps=8, gae_lambda=0.9, vf_coef=0.4, gamma=0.9, use_rms_prop=True,
        normalize_advantage=False, learning_rate=("lin", 7e-4), use_sde=True,
        policy_kwargs=dict(log_std_init=-2, ortho_init=False))),
    ("a2c", "LunarLander-v3"): dict(n_envs=8, n_timesteps=2e5, kwargs=dict(
        gamma=0.995, n_steps=5, learning_rate=("lin", 0.00083), ent_coef=0.00001)),
    ("a2c", "HalfCheetah-v5"): dict(n_envs=1, n_timesteps=1e6, normalize=True, kwargs={}),
    ("a2c", "Hopper-v5"): dict(n_envs=1, n_timesteps=1e6, normalize=True, kwargs={}),
    ("ppo", "CartPole-v1"): dict(n_envs=8, n_timesteps=1e5, kwargs=dict(
        n_steps=32, batch_size=256, gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0,
        learning_rate=("lin", 1e-3), clip_range=("lin", 0.2))),
    ("ppo", "Acrobot-v1"): dict(n_envs=16, n_timesteps=1e6, normalize=True, kwargs=dict(
        n_steps=256, gae_lambda=0.94, gamma=0.99, n_epochs=4, ent_coef=0.0)),
    ("ppo", "Pendulum-v1"): dict(n_envs=4, n_timesteps=1e5, kwargs=dict(
        n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0, learning_rate=1e-3, clip_range=0.2,
        use_sde=True, sde_sample_freq=4)),
    ("ppo", "LunarLander-v3"): dict(n_envs=16, n_timesteps=1e6, kwargs=dict(
        n_steps=1024, batch_size=64, gae_lambda=0.98, gamma=0.999, n_epochs=4, ent_coef=0.01)),
    ("ppo", "HalfCheetah-v5"): dict(n_envs=1, n_timesteps=1e6, normalize=True, kwargs=dict(
        batch_size=64, n_steps=512, gamma=0.98, learning_rate=2.0633e-05, ent_coef=0.000401762, clip_range=0.1,
        n_epochs=20, gae_lambda=0.92, max_grad_norm=0.8, vf_coef=0.58096, policy_kwargs=_MUJOCO_PPO_NET)),
    ("ppo", "Hopper-v5"): dict(n_envs=1, n_timesteps=1e6, normalize=True, kwargs=dict(
        batch_size=32, n_steps=512, gamma=0.999, learning_rate=9.80828e-05, ent_coef=0.00229519, clip_range=0.2,
        n_epochs=5, gae_lambda=0.99, max_grad_norm=0.7, vf_coef=0.835671, policy_kwargs=_MUJOCO_PPO_NET)),
}


class Window:
    """The last WINDOW finished episodes' returns and whether their mean reached the target."""

    def __init__(self, target: float):
        self.target, self.returns = target, deque(maxlen=WINDOW)

    def add(self, returns) -> None:
        self.returns.extend(float(r) for r in returns)

    def reached(self) -> bool:
        return len(self.returns) == WINDOW and sum(self.returns) / WINDOW >= self.target


# ----------------------------------------------------------------------------------- the children
def run_ours(env_id: str, seed: int, wall_cap: float, max_epochs: int | None, **changes) -> dict:
    """Our preset for `env_id` (with `changes` to its Config, e.g. `backend`) until the target, its epochs or
    `wall_cap` training seconds."""
    import dataclasses

    from reinforce import presets
    from reinforce.run.build import build
    from reinforce.run.callbacks import Callback

    target, _, preset = ENVS[env_id]
    cfg = dataclasses.replace(presets.preset(preset), seed=seed, num_threads=1, **changes)
    if max_epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=min(cfg.epochs, max_epochs))
    t0 = time.perf_counter()
    env, _, agent = build(cfg)
    build_s = time.perf_counter() - t0
    window, hit = Window(target), {}

    class UntilTarget(Callback):
        def on_rollout_end(self, batch) -> None:
            window.add(batch.episode_returns.tolist())

        def on_update_end(self, metrics) -> bool:
            if window.reached():
                hit.update(train_s=metrics["time/wall_s"], env_steps=int(metrics["time/env_steps"]))
                return False
            return metrics["time/wall_s"] < wall_cap

    try:
        agent.learn(cfg.epochs, callback=UntilTarget())
    finally:
        env.close()
    return {"reached": bool(hit), **hit, "build_s": build_s, "preset": preset, "backend": cfg.backend,
            "last_env_steps": int(agent.env_steps), "last_train_s": agent.wall_s}


def _zoo_value(value):
    if isinstance(value, tuple) and value[0] == "lin":
        start = value[1]
        return lambda progress_remaining: start * progress_remaining
    return value


def run_sb3(algo: str, env_id: str, seed: int, wall_cap: float, max_steps: int | None) -> dict:
    """SB3 `algo` with rl-zoo's settings for `env_id` until the target, its budget or `wall_cap`."""
    import torch
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    torch.set_num_threads(1)
    zoo = ZOO[(algo, env_id)]
    kwargs = {k: _zoo_value(v) for k, v in zoo["kwargs"].items()}
    if "policy_kwargs" in kwargs:
        kwargs["policy_kwargs"] = dict(kwargs["policy_kwargs"])
        if kwargs["policy_kwargs"].get("activation_fn") == "relu":
            kwargs["policy_kwargs"]["activation_fn"] = torch.nn.ReLU
    target = ENVS[env_id][0]
    t0 = time.perf_counter()
    env = make_vec_env(env_id, n_envs=zoo["n_envs"], seed=seed)  # Monitor inside: raw episode returns
    if zoo.get("normalize"):
        env = VecNormalize(env, gamma=zoo["kwargs"].get("gamma", 0.99))
    model = (A2C if algo == "a2c" else PPO)("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)
    build_s = time.perf_counter() - t0
    window, hit = Window(target), {}

    class UntilTarget(BaseCallback):
        def _on_training_start(self) -> None:
            self.t0 = time.perf_counter()

        def _on_step(self) -> bool:
            window.add(info["episode"]["r"] for info in self.locals.get("infos", []) if "episode" in info)
            elapsed = time.perf_counter() - self.t0
            if window.reached():
                hit.update(train_s=elapsed, env_steps=int(self.num_timesteps))
                return False
            return elapsed < wall_cap

    budget = int(zoo["n_timesteps"])  # the schedules decay over the zoo's budget, whatever the cap
    cb = UntilTarget()
    model.learn(budget if max_steps is None else min(budget, max_steps), callback=cb)
    env.close()
    return {"reached": bool(hit), **hit, "build_s": build_s, "last_env_steps": int(model.num_timesteps),
            "last_train_s": time.perf_counter() - cb.t0}


def env_alone(env_id: str, num_envs: int, seconds: float = 3.0, seed: int = 0) -> dict:
    """Env steps/s of `env_id` stepped alone with random actions (64 batches drawn beforehand, taken in turn),
    `num_envs` at a time: Gymnasium's sync vector env (one thread), and EnvPool with its default worker
    threads and with one, where it is installed. The rate a trainer on that backend would reach if its policy
    and update cost nothing."""
    import gymnasium as gym
    import numpy as np
    from native_envs import random_actions  # noqa: PLC0415  (benchmarks/native_envs.py: imports torch)

    sync = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync")
    sync.reset(seed=seed)
    actions = random_actions(sync.single_action_space, 64, num_envs, np.random.default_rng(seed))
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        sync.step(actions[steps % 64])
        steps += 1
    result: dict = {"num_envs": num_envs, "gymnasium_sync": steps * num_envs / (time.perf_counter() - start)}
    sync.close()
    try:
        import envpool  # noqa: F401
    except ImportError:
        return result
    from envpool_gaps import rate as pool_rate  # noqa: PLC0415  (benchmarks/envpool_gaps.py, its 0 µs case)

    for key, threads in (("envpool", 0), ("envpool_1_thread", 1)):  # 0: EnvPool's default, one per core
        result[key] = pool_rate(env_id, num_envs, 0.0, seconds, threads, pinned=False, seed=seed)["loop"]
    return result


def child(args) -> None:
    if args.child == "ours":
        changes = {} if args.backend is None else {"backend": args.backend}
        result = run_ours(args.env_id, args.seed, args.cap_s, args.max_epochs, **changes)
    elif args.child == "env":
        from reinforce import presets
        result = env_alone(args.env_id, presets.preset(ENVS[args.env_id][2]).num_envs)
    else:
        result = run_sb3(args.child, args.env_id, args.seed, args.cap_s, args.max_steps)
    print(json.dumps(result), flush=True)


# ------------------------------------------------------------------------------------- the parent
def one_run(python: str, algo: str, env_id: str, seed: int, cap_s: float, small: dict) -> dict:
    """`algo`'s run of `env_id` in a fresh process (`small`: extra flags, None values left out)."""
    cmd = [python, os.path.abspath(__file__), "--child", algo, "--env-id", env_id, "--seed", str(seed), "--cap-s", str(cap_s)]
    for flag, value in small.items():
        if value is not None:
            cmd += [flag, str(value)]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=cap_s * 2 + 300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    process_s = time.perf_counter() - t0
    if out.returncode != 0:
        return {"seed": seed, "reached": False, "error": out.stderr.strip().splitlines()[-1:] or ["exit %d" % out.returncode]}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result.get("reached"):
        result["process_s"] = process_s
    return {"seed": seed, **result}


def median_with_misses(runs: list[dict], key: str) -> float | None:
    """The median over all runs where a miss counts as +inf; None ("missed") if that median is a miss."""
    values = sorted(r[key] if r.get("reached") else float("inf") for r in runs)
    m = statistics.median(values) if values else float("inf")
    return None if m == float("inf") else m


def summarize(runs: list[dict]) -> dict:
    rates = [r["env_steps"] / r["train_s"] for r in runs if r.get("reached") and r.get("train_s")]
    return {
        "reached": f"{sum(bool(r.get('reached')) for r in runs)}/{len(runs)}",
        "median_process_s": median_with_misses(runs, "process_s"),
        "median_train_s": median_with_misses(runs, "train_s"),
        "median_env_steps": median_with_misses(runs, "env_steps"),
        # whole-training rate of the runs that reached the target (env steps over training seconds)
        "median_steps_per_s": statistics.median(rates) if rates else None,
        "runs": runs,
    }


def _ratio(ours: dict | None, sb3: list[dict | None], key: str) -> str:
    """The faster SB3 median over ours for `key` ("—" without both, "ours missed" when ours did)."""
    theirs = [s[key] for s in sb3 if s and s[key] is not None]
    if not ours or not theirs:
        return "—"
    return "ours missed" if ours[key] is None else f"{min(theirs) / ours[key]:.1f}×"


def table(result: dict) -> str:
    """The markdown table docs/benchmarks.md quotes: one row per env, medians over seeds and the ratios
    of the faster SB3 algorithm's median to ours (whole process, and training alone)."""
    def cell(s: dict | None, key: str, fmt: str) -> str:
        if s is None:
            return "—"
        value = s[key]
        return f"missed ({s['reached']})" if value is None else fmt.format(value) + f" ({s['reached']})"

    lines = ["| env | target | ours: process s | ours: train s | ours: env steps | A2C: process s | A2C: train s "
             "| A2C: env steps | PPO: process s | PPO: train s | PPO: env steps | faster SB3 ÷ ours: process "
             "| faster SB3 ÷ ours: train |", "|" + " --- |" * 13]
    for env_id, row in result["envs"].items():
        ours, a2c, ppo = row.get("ours"), row.get("a2c"), row.get("ppo")
        cells = [env_id, f"{row['target']:g}"]
        for s in (ours, a2c, ppo):
            cells += [cell(s, "median_process_s", "{:.1f}"), cell(s, "median_train_s", "{:.2f}"),
                      cell(s, "median_env_steps", "{:,.0f}")]
        cells += [_ratio(ours, [a2c, ppo], "median_process_s"), _ratio(ours, [a2c, ppo], "median_train_s")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def env_alone_table(result: dict) -> str:
    """Where the env is the cost: our whole-training steps/s (median over the runs that reached the target)
    beside the env stepped alone, and its share of EnvPool's rate."""
    lines = ["| env | our backend | ours: whole training steps/s | EnvPool alone | EnvPool alone, 1 thread "
             "| Gymnasium sync alone | ours ÷ EnvPool | ours ÷ EnvPool, 1 thread |", "|" + " --- |" * 8]
    fmt = lambda v: "—" if v is None else f"{v:,.0f}"  # noqa: E731
    for env_id, row in result["envs"].items():
        alone, ours = row.get("env_alone"), row.get("ours")
        if not alone or not ours:
            continue
        mine = ours.get("median_steps_per_s")
        pool, pool1 = alone.get("envpool"), alone.get("envpool_1_thread")
        share = lambda ref: "—" if mine is None or ref is None else f"{mine / ref:.2f}"  # noqa: E731
        lines.append(f"| {env_id} | {row.get('our_backend', 'preset')} | {fmt(mine)} | {fmt(pool)} | {fmt(pool1)} "
                     f"| {fmt(alone.get('gymnasium_sync'))} | {share(pool)} | {share(pool1)} |")
    return "\n".join(lines)


def merge(paths: list[str]) -> dict:
    """One result from several runs' JSON (e.g. the classic envs and LunarLander run apart, or one env's
    seeds split over two runs): the runs of an env and algorithm pooled and summarised again, each env
    with the load averages of its runs; the table recomputed."""
    result: dict = {"criterion": None, "threads": 1, "envs": {}, "loadavg": {}}
    for path in paths:
        with open(path) as f:
            part = json.load(f)
        result["criterion"] = part["criterion"]
        for env_id, row in part["envs"].items():
            merged = result["envs"].setdefault(env_id, {k: v for k, v in row.items() if k not in ALGOS})
            for algo in ALGOS:
                if algo in row:
                    earlier = merged[algo]["runs"] if algo in merged else []
                    merged[algo] = summarize(earlier + row[algo]["runs"])
            result["loadavg"].setdefault(env_id, []).append(part["loadavg"])
            if "env_alone" in row:  # the latest part's measurement of the env alone
                merged["env_alone"] = row["env_alone"]
    result["table"] = table(result)
    if any("env_alone" in row for row in result["envs"].values()):
        result["env_alone_table"] = env_alone_table(result)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--envs", default=",".join(ENVS), help=f"comma-separated, from: {', '.join(ENVS)}")
    ap.add_argument("--algos", default=",".join(ALGOS), help="comma-separated, from: ours, a2c, ppo")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1")
    ap.add_argument("--sb3-python", default=sys.executable, help="the Python of an environment with stable-baselines3")
    ap.add_argument("--cap-s", type=float, default=None, help="wall cap per run in training seconds (default: the env's)")
    ap.add_argument("--max-epochs", type=int, default=None, help="cap our epochs (smoke tests)")
    ap.add_argument("--max-steps", type=int, default=None, help="cap SB3's env steps (smoke tests)")
    ap.add_argument("--merge", nargs="+", metavar="JSON", help="combine earlier runs' JSON into one (no training)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--our-backend", default=None, choices=("native", "sync", "async", "envpool"),
                    help="run our presets on this vector-env backend (default: each preset's own)")
    ap.add_argument("--env-alone", action="store_true",
                    help="also time each env stepped alone (EnvPool and Gymnasium sync, random actions, the preset's "
                         "num_envs) after its runs, beside our whole-training steps/s")
    ap.add_argument("--child", choices=(*ALGOS, "env"), help=argparse.SUPPRESS)
    ap.add_argument("--backend", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--env-id", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    if args.merge:
        return emit_json(merge(args.merge), args.out)
    envs, algos = args.envs.split(","), args.algos.split(",")
    for name in envs:
        if name not in ENVS:
            ap.error(f"unknown env {name!r}; choose from {', '.join(ENVS)}")
    for name in algos:
        if name not in ALGOS:
            ap.error(f"unknown algorithm {name!r}; choose from {', '.join(ALGOS)}")
    runs: dict[tuple[str, str], list[dict]] = {(e, a): [] for e in envs for a in algos}
    alone: dict[str, dict] = {}
    for env_id in envs:
        cap = args.cap_s if args.cap_s is not None else ENVS[env_id][1]
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for algo in algos:  # taking turns: load drifts over all algorithms alike
                python = sys.executable if algo == "ours" else args.sb3_python
                small = ({"--max-epochs": args.max_epochs, "--backend": args.our_backend} if algo == "ours"
                         else {"--max-steps": args.max_steps})
                run = one_run(python, algo, env_id, seed, cap, small)
                print(json.dumps({"env": env_id, "algo": algo, **run}), file=sys.stderr, flush=True)
                runs[(env_id, algo)].append(run)
        if args.env_alone:
            alone[env_id] = one_run(sys.executable, "env", env_id, 0, cap, {})
    result = {
        "criterion": f"mean return of the last {WINDOW} finished training episodes >= the target",
        "threads": 1,
        "loadavg": os.getloadavg(),
        "envs": {e: {"target": ENVS[e][0], "cap_s": args.cap_s or ENVS[e][1], "our_preset": ENVS[e][2],
                     "our_backend": args.our_backend or "preset",
                     **{a: summarize(runs[(e, a)]) for a in algos},
                     **({"env_alone": alone[e]} if e in alone else {})} for e in envs},
    }
    result["table"] = table(result)
    if alone:
        result["env_alone_table"] = env_alone_table(result)
    emit_json(result, args.out)


if __name__ == "__main__":
    main()
