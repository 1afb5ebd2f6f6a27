"""Sweep configurations of vanilla policy gradient on the cart-pole swing-up (issue 14).

Each (config, env, seed) trains in this process with `reinforce.run.build.build(cfg)` +
`agent.learn(...)` (one run at a time, one torch thread), then the final policy is evaluated on 100
fresh episodes with the deterministic action (`reinforce.evaluate(..., deterministic=True)`, seed =
run seed + 1000). Budget per run: the config's epochs, stopped early at `--max-wall` seconds of
training (collect + update, as the library counts it) or `--max-steps` env steps.

Every finished run appends one JSON line to `<out>/runs.jsonl` (reused: finished runs are skipped)
and writes its learning curve to `<out>/curves/<config>-<env>-seed<k>.json` and its policy to
`<out>/policies/...pt`; `--table` prints the summary (per-seed eval, median, min, wall, env steps)
and writes `<out>/summary.json`.

    python benchmarks/swingup_sweep.py --configs gae-g999 --env v0 --seeds 0,1 --steps 3e6
    python benchmarks/swingup_sweep.py --table
    python benchmarks/swingup_sweep.py --export-run s-h01-ls-2-e003-v0-seed0 --to runs/swingup-solved-v0-seed0
        # a run folder (config.toml + policy.pt) of a saved policy, for `reinforce evaluate` / `record`
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from pathlib import Path

import torch

import reinforce
from reinforce import Config
from reinforce.run.build import build

V0, V1 = "reinforce/CartPoleSwingUp-v0", "reinforce/CartPoleSwingUp-v1"

# The two presets the issue starts from, copied (src/reinforce/presets.py is not this script's).
ARTICLE = Config(
    env_id=V0, num_envs=256, steps_per_rollout=1000, epochs=20, lr=1e-2, gamma=0.999,
    hidden_sizes=(64, 64), activation="relu", log_std_init=0.5,
)
GAE = Config(
    env_id=V0, num_envs=64, steps_per_rollout=256, epochs=312, lr=1e-3, gamma=0.99,
    hidden_sizes=(64, 64), activation="tanh", reset_each_epoch=False, baseline="gae", normalize_advantages=True,
    normalize_observations=True,
)


def v(base: Config, **changes) -> Config:
    return dataclasses.replace(base, **changes)


# Candidates; epochs are a ceiling, `--steps` / `--max-wall` cut them.
CONFIGS: dict[str, Config] = {
    "article": ARTICLE,
    "swingup-gae": GAE,
    # γ: at 0.99 a swing-up that pays off after ~100 steps is worth about as much as crashing.
    "gae-g995": v(GAE, gamma=0.995, epochs=100_000),
    "gae-g998": v(GAE, gamma=0.998, epochs=100_000),
    "gae-g999": v(GAE, gamma=0.999, epochs=100_000),
}

# Long-horizon GAE variants with a value function that can keep up with returns of ±400.
BASE = v(GAE, gamma=0.998, gae_lambda=0.95, value_lr=3e-3, epochs=100_000)
CONFIGS.update({
    "b": BASE,
    "b-sq": v(BASE, squash=True),
    "b-lam98": v(BASE, gae_lambda=0.98),
    "b-lr3e-3": v(BASE, lr=3e-3),
    "b-e32t64": v(BASE, num_envs=32, steps_per_rollout=64),
    "b-e128t128": v(BASE, num_envs=128, steps_per_rollout=128),
    "b-ls-0.5": v(BASE, log_std_init=-0.5),
    "b-ent": v(BASE, entropy_coef=0.01),
    "b-clip": v(BASE, max_grad_norm=0.5),
    # Small initial σ: the cart barely moves at first, so crashing is far away and pumping pays sooner.
    "b-ls-1.5": v(BASE, log_std_init=-1.5),
    "g97-ls-1.5": v(BASE, gamma=0.97, log_std_init=-1.5),
    "b-sq-ls-1": v(BASE, squash=True, log_std_init=-1.0),
    "b-relu": v(BASE, activation="relu"),
    # Short windows from fresh starts: every rollout is the first T steps of new episodes, which a cart
    # pushed flat out needs ≥ ~69 steps to leave, so no termination (the crash's pay-off) enters the
    # estimate; the rollout's end is bootstrapped with γ·V.
    "win64": v(BASE, gamma=0.99, reset_each_epoch=True, num_envs=128, steps_per_rollout=64),
    "win100": v(BASE, gamma=0.99, reset_each_epoch=True, num_envs=128, steps_per_rollout=100),
    # v1 (no crash incentive): the plateau near 265 comes with σ ≈ 1 throughout; start σ lower, decay lr.
    "b-ls-1-lin": v(BASE, log_std_init=-1.0, lr=2e-3, lr_schedule="linear"),
    # Observation normalisation fitted on hanging-pole data maps a swinging pole's cos θ to the ±10 clip.
    "b-nonorm": v(BASE, normalize_observations=False),
    "b-nonorm-ls-1.5": v(BASE, normalize_observations=False, log_std_init=-1.5),
    # docs/variants.md's best swing-up row (4 of 5 seeds escaped there; seed 0 did not).
    "r2": v(GAE, num_envs=32, steps_per_rollout=64, lr=5e-4, lr_schedule="linear", max_grad_norm=0.5, value_iters=5,
            epochs=100_000),
    # More, smaller updates (log σ moves about lr per update) and a faster policy step.
    "b-t64": v(BASE, steps_per_rollout=64),
    "b-lr3e-3-t64": v(BASE, steps_per_rollout=64, lr=3e-3),
    "b-g99": v(BASE, gamma=0.99),
    # v1's plateau is a spinning pole (|θ̇| ≈ 10 rad/s near the track's end): σ ≈ 1 is too much noise to balance.
    "b-t64-ls-0.5": v(BASE, steps_per_rollout=64, log_std_init=-0.5),
    "b-t64-sq": v(BASE, steps_per_rollout=64, squash=True),
    "b-t64-ls-0.5-sq": v(BASE, steps_per_rollout=64, log_std_init=-0.5, squash=True),
    # The best v1 setting above with its lr decayed linearly to 0 (one seed collapsed late at constant lr).
    "b-t64-ls-0.5-sq-lin": v(BASE, steps_per_rollout=64, log_std_init=-0.5, squash=True, lr_schedule="linear"),
    # Seed 3 of b-t64-ls-0.5-sq fell from ~300 to 155 at 9.5M on v1; on v0 an entropy bonus of 0.003 is what
    # kept σ from collapsing late (s-h01-ls-2-e003 below), so the v1 recipe with it, for 20M steps.
    "b-t64-ls-0.5-sq-e003": v(BASE, steps_per_rollout=64, log_std_init=-0.5, squash=True, entropy_coef=0.003),
})

# The v1 recipe with an output layer initialised near zero (orthogonal, gain 0.01, as CleanRL's actor head):
# the untrained policy's mean force is ≈ 0 everywhere, so the cart does not drift off the track before
# pumping is learned, and v0's crash optimum is not the first thing the gradient sees.
S = v(BASE, steps_per_rollout=64, log_std_init=-0.5, squash=True)
CONFIGS.update({
    "s-h01": v(S, head_init_gain=0.01),
    "s-h01-clip": v(S, head_init_gain=0.01, max_grad_norm=0.5),
    "s-h01-ls-1": v(S, head_init_gain=0.01, log_std_init=-1.0),
    # Even with mean force ≈ 0, σ = e^-0.5 random-walks the cart off the track in ≈ 130 steps, so early
    # episodes still end by termination; a smaller σ keeps the first episodes on the track.
    "s-h01-ls-1.5": v(S, head_init_gain=0.01, log_std_init=-1.5),
    "s-h01-ls-2": v(S, head_init_gain=0.01, log_std_init=-2.0),
    # At σ = e^-2 seeds escape the crash but then learn the balance slowly (episodes of 160-220 steps:
    # swung up, then off the track) and σ may collapse; a faster policy step, or σ between -2 and -1.5.
    "s-h01-ls-2-lr3": v(S, head_init_gain=0.01, log_std_init=-2.0, lr=3e-3),
    "s-h01-ls-1.75": v(S, head_init_gain=0.01, log_std_init=-1.75),
    "s-h01-lin": v(S, head_init_gain=0.01, lr_schedule="linear"),
    # ls-2 seed 1 let log σ collapse to -3.3 after 13M steps and fell back to the crash; a small entropy bonus
    # (its gradient on log σ is the constant coefficient) holds σ up without undoing the small start.
    "s-h01-ls-2-e001": v(S, head_init_gain=0.01, log_std_init=-2.0, entropy_coef=0.001),
    "s-h01-ls-2-e003": v(S, head_init_gain=0.01, log_std_init=-2.0, entropy_coef=0.003),
    # e001 let log σ collapse (−3.6 at 20M, back near the crash); e003 escaped on seed 0 by 7M and balanced by 20M
    # (σ rising slowly from e^-2 to e^-1.34): more entropy, or a faster policy step, to get there sooner.
    "s-h01-ls-2-e01": v(S, head_init_gain=0.01, log_std_init=-2.0, entropy_coef=0.01),
    "s-h01-ls-2-e003-lr2": v(S, head_init_gain=0.01, log_std_init=-2.0, entropy_coef=0.003, lr=2e-3),
    # e003 escapes on every seed so far but ends at 342-353, still rising slowly: a larger step early and a
    # small one at the end (lr 2e-3 decayed linearly to 0 over the 20M steps).
    "s-h01-ls-2-e003-lr2-lin": v(S, head_init_gain=0.01, log_std_init=-2.0, entropy_coef=0.003, lr=2e-3,
                                 lr_schedule="linear"),
    # lr 2e-3 (constant or decayed) let seed 1 settle on the crash in the first 2M steps; keep lr 1e-3 and cut
    # the variance instead: γ 0.995 (a 200-step horizon still prefers swinging up, +42 against -59 for the crash).
    "s-h01-ls-2-e003-g995": v(S, head_init_gain=0.01, log_std_init=-2.0, entropy_coef=0.003, gamma=0.995),
    # LunarLander learned ~3x faster per env step from 32-step rollouts than from 128 (issue 16's time to
    # target): twice the updates per sample here too (64 envs x 32 steps).
    "s-h01-ls-2-e003-t32": v(S, head_init_gain=0.01, log_std_init=-2.0, entropy_coef=0.003, steps_per_rollout=32),
    # A faster value fit (value lr 1e-2) made Acrobot and LunarLander learn from far fewer steps (issue 16).
    "s-h01-ls-2-e003-v1e2": v(S, head_init_gain=0.01, log_std_init=-2.0, entropy_coef=0.003, value_lr=1e-2),
})

# The crash is decided in the first ~2M steps (seeds 3 and 4 of e003 are on it by then and never leave), so
# escape screens need only 3M steps on the seeds that fail: is the episode still long, the return above -28?
E3 = v(S, head_init_gain=0.01, log_std_init=-2.0, entropy_coef=0.003)
CONFIGS.update({
    "e3-ls-2.5": v(E3, log_std_init=-2.5),
    "e3-h0": v(E3, head_init_gain=0.0),
    "e3-lr5e-4": v(E3, lr=5e-4),
    "e3-e128": v(E3, num_envs=128),
    "e3-clip": v(E3, max_grad_norm=0.5),
    "e3-nonorm": v(E3, normalize_observations=False),
    # at 3M only e3-h0 (4.4) and e3-nonorm (48.4) left the crash on seed 4; seed 3 stayed in every setting
    "e3-nonorm-h0": v(E3, normalize_observations=False, head_init_gain=0.0),
    # GAE's λ (0.95 here) was never screened: λ near 1 credits the swing's late payoff to the early pushes,
    # a small λ leans on V (stop 28).
    "e3-lam99": v(E3, gae_lambda=0.99),
    "e3-lam80": v(E3, gae_lambda=0.8),
})

# No option-level change raised the escape rate (3 of 10 seeds at 3M). The policy's own white noise (σ = e^-2)
# averages out within a few 10 ms steps, while pumping the pole's energy takes pushes held for a good part of
# its ~1.5 s period. Correlated exploration noise (an exogenous AR(1) ξ added to the mean, τ steps, scale c):
# with τ 30 and c = e^-1, 8 of 10 seeds have left the crash at 3M (3 of 10 without). Fading the noise out after
# the escape (correlated_noise_decay_steps 5M or 10M) undoes it: the policy had let the noise pump the pole and,
# once it is gone, hangs (-491) or crashes again (docs/swingup.md).
N30 = v(E3, correlated_noise_steps=30.0, correlated_noise_log_scale=-1.0)
CONFIGS.update({
    "n30": N30,
    "n30-d5m": v(N30, correlated_noise_decay_steps=5_000_000),
    "n30-d10m": v(N30, correlated_noise_decay_steps=10_000_000),
    # n30 kept its noise and still lost seeds 0, 3, 4 by 20M, seed 2 at 130: a smaller persistent push
    "n30-c15": v(N30, correlated_noise_log_scale=-1.5),
})

# ξ is exogenous, so the score of log c is a product of two independent zero-mean noises (c barely learns) and
# the pushes the noise makes are never credited to μ. Autoregressive exploration makes the held pushes the
# policy's own actions (u_t = μ(s_t) + d_t, d an AR(1) within the episode, reinforce.autoregressive): σ is then
# the held push's scale and gets a variance's ordinary score, so it can shrink for the balance.
CONFIGS.update({
    f"ar{tau}-ls{-ls:g}": v(E3, autoregressive_noise_steps=float(tau), log_std_init=ls)
    for tau in (10, 30) for ls in (-1.0, -1.5, -2.0)
})
# ar30-ls1.5 escaped on 8/10 seeds at 3M but at 20M every escaped seed fell back, each within ~25 updates
# (seed 3: 170 → -28 at 5.3M with log σ still -1.4): a destructive update, not a slow drift. Stabilisers:
AR = CONFIGS["ar30-ls1.5"]
CONFIGS.update({
    "ar30-clip": v(AR, max_grad_norm=0.5),
    "ar30-lr5e-4": v(AR, lr=5e-4),
    "ar10-ls1.5": v(AR, autoregressive_noise_steps=10.0),
    # ar30-clip (grad norm 0.5) still fell back on seed 3 by 8M. The held pushes that helped the escape keep
    # disturbing the balance (episodes of 290-470 steps at 5M while swinging up): fade ρ to 0 (white noise of
    # the learned σ) once the escape is made (by ~3M)
    "ar30-f5m": v(AR, correlated_noise_decay_steps=5_000_000),
    "ar30-f8m": v(AR, correlated_noise_decay_steps=8_000_000),
})
# ar30-f5m kept seeds 0-2 (334.7, 333.0, 345.4) but seeds 3 and 4 never left the crash: fading ρ weakens the
# escape. A state-dependent σ lets the held pushes stay wide where the pole hangs and narrow where it balances.
CONFIGS.update({
    "ar30-sd": v(AR, state_dependent_std=True),
    "e3-sd": v(E3, state_dependent_std=True),  # 20M: -26.0, -25.7, -, 202.8, -28.1 (seeds 0, 1, 3, 4)
})
# ar30-f8m: seed 3 swung up and balanced for the first time (347.8), but seed 0 reached 365 at 14M and collapsed
# at ~18M (3.4 at the end) with full-length episodes before: a late destructive update. Smaller late steps:
CONFIGS["ar30-f8m-lin"] = v(CONFIGS["ar30-f8m"], lr_schedule="linear")
# ar30-f8m-lin: -26.5, 346.1, 98.7, -28.6, 354.5 on seeds 0-4 (seed 3 crashed this time: a seed's outcome is a draw,
# not a property of the seed). Twice the batch per update (128 envs), half the updates: less noisy steps.
CONFIGS["ar30-f8m-e128"] = v(CONFIGS["ar30-f8m"], num_envs=128)
# -> 339.2, 135.9, -1.6, 343.1, 342.6 (seeds 5-9: -27.4, -31.9, 136.2, 248.5, 326.0): 3 of 10 balance at >= 330.
# The policies that fail are partial (reinforce/tools: ar30-f8m-e128 seed 1's deterministic policy swings up and
# balances from some start states and drives the cart off the track from others, within 70 steps). The task is
# mirror-symmetric (x, ẋ, sin θ, θ̇ -> their negatives, force -> -force), and the crash is a push to one side at the
# hanging rest state, which an odd mean (μ(m·s) = -μ(s), `mirror_obs_signs`) cannot make.
MIRROR = (-1, -1, 1, -1, -1)
CONFIGS.update({
    "m-e3": v(E3, mirror_obs_signs=MIRROR),
    "m-ar30-f8m-e128": v(CONFIGS["ar30-f8m-e128"], mirror_obs_signs=MIRROR),
    "m-ar30-ls1.5": v(AR, mirror_obs_signs=MIRROR),
    # m-e3 (policy mirror only) at 20M: -27.6, 153.6, -309.5, -42.1 on seeds 0-3, m-ar30-f8m-e128 -488.4, -478.1 on
    # seeds 0-1: the symmetric rest state becomes a trap (μ = 0 there; with σ = e^-2 the pole hangs for 500 steps).
    # More noise at the start (the mirror has removed the bias that made σ = e^-2 necessary); V even as well:
    "m-e3-ls1": v(E3, mirror_obs_signs=MIRROR, log_std_init=-1.0),
    "m-e3-ls1.5": v(E3, mirror_obs_signs=MIRROR, log_std_init=-1.5),
    # v1 has no crash to escape (reward (1 + cos θ)/2 >= 0) and the mirror halved Pendulum's env steps: the v1
    # recipe (swingup-v1-squash) with the mirror
    "m-v1sq": v(CONFIGS["b-t64-ls-0.5-sq"], mirror_obs_signs=MIRROR),
})
# m-v1sq (= the preset swingup-solved-v1): 12 of 15 seeds >= 400 at 10M; seeds 6, 8, 14 leave the track during the
# spin phase after destructive updates. A gradient-norm clip against those:
CONFIGS["m-v1sq-clip"] = v(CONFIGS["m-v1sq"], max_grad_norm=0.5)
# -> seeds 0, 6, 8, 14: 370.2, 20.1, 355.0, 321.3: seed 6 still fails, the others slower (no cure).
CONFIGS["m-v1sq-lin"] = v(CONFIGS["m-v1sq"], lr_schedule="linear")  # lr 1e-3 -> 0 over the run's steps
# -> rescues seeds 6 and 8 (426.9, 431.7), loses 1, 3, 4, 7 on the spin plateau (296.8-344.1): trades failures.


def parse_seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        else:
            out.append(int(part))
    return out


def run_one(name: str, cfg: Config, seed: int, steps: int, max_wall: float, out: Path, episodes: int) -> dict:
    per_epoch = cfg.num_envs * cfg.steps_per_rollout
    epochs = min(cfg.epochs, math.ceil(steps / per_epoch))
    cfg = dataclasses.replace(cfg, seed=seed, epochs=epochs, num_threads=1)  # epochs = the lr schedule's horizon
    torch.set_num_threads(1)
    env, policy, agent = build(cfg)
    curve = []
    started = time.perf_counter()

    def hook(m):
        curve.append([m["time/env_steps"], round(m["time/wall_s"], 2), m["rollout/ep_return_mean"], m["rollout/ep_len_mean"],
                      float(policy.log_std.detach().mean())])
        return m["time/wall_s"] < max_wall

    agent.learn(epochs=epochs, callback=hook)
    train_wall = agent.wall_s
    env.close()
    ev = reinforce.evaluate(agent, episodes=episodes, deterministic=True, num_envs=episodes)
    ev_sto = reinforce.evaluate(agent, episodes=episodes, deterministic=False, num_envs=episodes)
    tag = f"{name}-{cfg.env_id.split('-')[-1]}-seed{seed}"
    (out / "curves").mkdir(parents=True, exist_ok=True)
    (out / "policies").mkdir(parents=True, exist_ok=True)
    (out / "curves" / f"{tag}.json").write_text(json.dumps(
        {"columns": ["env_steps", "wall_s", "ep_return_mean", "ep_len_mean", "log_std"], "rows": curve}))
    torch.save({"config": cfg.to_dict(), "policy": policy.state_dict()}, out / "policies" / f"{tag}.pt")
    last = [r[2] for r in curve[-max(1, len(curve) // 50):] if r[2] == r[2]]
    return {
        "config": name, "env": cfg.env_id, "seed": seed, "env_steps": agent.env_steps, "epochs": agent.epoch,
        "train_wall_s": round(train_wall, 1), "total_wall_s": round(time.perf_counter() - started, 1),
        "eval_det_mean": ev["return_mean"], "eval_det_std": ev["return_std"], "eval_det_min": ev["return_min"],
        "eval_len_mean": ev["length_mean"], "eval_sto_mean": ev_sto["return_mean"],
        "train_last_return": statistics.fmean(last) if last else float("nan"),
        "log_std_final": float(policy.log_std.detach().mean()), "cfg": {k: v for k, v in cfg.to_dict().items()},
    }


def load_rows(out: Path) -> list[dict]:
    path = out / "runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def table(out: Path) -> dict:
    rows = load_rows(out)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        key = (r["config"], r["env"].split("-")[-1], r.get("budget", ""))
        groups.setdefault(key, []).append(r)
    summary = []
    lines = ["| config | env | budget | seeds | eval (det.) per seed | median | min | mean | stoch. mean | train wall s | env steps |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for (name, env, budget), rs in groups.items():
        rs = sorted(rs, key=lambda r: r["seed"])
        ev = [r["eval_det_mean"] for r in rs]
        s = {"config": name, "env": env, "budget": budget, "seeds": [r["seed"] for r in rs], "eval_det": ev,
             "median": statistics.median(ev), "min": min(ev), "mean": statistics.fmean(ev),
             "eval_sto_mean": statistics.fmean(r["eval_sto_mean"] for r in rs),
             "train_wall_s": [r["train_wall_s"] for r in rs], "env_steps": [r["env_steps"] for r in rs]}
        summary.append(s)
        lines.append(f"| {name} | {env} | {budget} | {','.join(map(str, s['seeds']))} | {', '.join(f'{x:.1f}' for x in ev)} | "
                     f"{s['median']:.1f} | {s['min']:.1f} | {s['mean']:.1f} | {s['eval_sto_mean']:.1f} | "
                     f"{', '.join(f'{w:.0f}' for w in s['train_wall_s'])} | {max(s['env_steps']) / 1e6:.2f}M |")
    print("\n".join(lines))
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return {"summary": summary}


def plot(out: Path, names: list[str], env: str, path: str, controller: str | None) -> None:
    """Training return (episode returns of the epochs, binned in 1/100 of the run) against env steps, one line per seed,
    with the controller's mean return (and its ceiling estimate) as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, name in enumerate(names):
        for k, f in enumerate(sorted((out / "curves").glob(f"{name}-{env}-seed*.json"))):
            rows = json.loads(f.read_text())["rows"]
            # mean of the epochs' episode returns in bins of 1/100 of the run (small batches are noisy)
            xs, ys, width = [], [], rows[-1][0] / 100
            for b in range(100):
                vals = [r[2] for r in rows if b * width < r[0] <= (b + 1) * width and r[2] == r[2]]
                if vals:
                    xs.append((b + 0.5) * width / 1e6)
                    ys.append(sum(vals) / len(vals))
            ax.plot(xs, ys, color=colours[i % len(colours)], lw=0.9, label=name if k == 0 else None)
    if controller and Path(controller).exists():
        c = json.loads(Path(controller).read_text())[env]
        ax.axhline(c["return_mean"], color="k", ls="--", lw=1, label=f"energy + LQR controller ({c['return_mean']:.1f})")
        if "trajopt" in c:
            ax.axhline(c["trajopt"]["ceiling_estimate"], color="k", ls=":", lw=1,
                       label=f"ceiling estimate ≥ {c['trajopt']['ceiling_estimate']:.1f}")
    ax.set_xlabel("env steps (M)")
    ax.set_ylabel("training episode return")
    ax.set_title(f"CartPoleSwingUp-{env}")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def export_run(tag: str, out: Path, to: Path) -> None:
    """A run folder of the policy saved as `tag`: what `reinforce evaluate` and `reinforce record` read."""
    from reinforce import config as config_mod

    saved = torch.load(out / "policies" / f"{tag}.pt", weights_only=True)
    to.mkdir(parents=True, exist_ok=True)
    config_mod.save(config_mod.from_dict(saved["config"]), to / "config.toml")
    torch.save(saved["policy"], to / "policy.pt")
    print(f"wrote {to}/config.toml and policy.pt")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="", help="comma-separated names from CONFIGS")
    p.add_argument("--env", default="v0", choices=["v0", "v1"])
    p.add_argument("--seeds", default="0")
    p.add_argument("--steps", type=float, default=3e6, help="env steps per run (≤ 20M)")
    p.add_argument("--max-wall", type=float, default=600.0, help="training seconds per run (≤ 600)")
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--budget", default="", help="label of this budget in the table (default: the steps)")
    p.add_argument("--out", default="runs/swingup-sweep")
    p.add_argument("--table", action="store_true")
    p.add_argument("--list", action="store_true")
    p.add_argument("--plot", default=None, help="write a PNG of the --configs' curves on --env here")
    p.add_argument("--controller", default="runs/swingup-sweep/controller.json")
    p.add_argument("--export-run", metavar="TAG", help="write a run folder of the saved policy TAG (config-env-seedK)")
    p.add_argument("--to", type=Path, help="where --export-run writes")
    a = p.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    if a.export_run:
        export_run(a.export_run, out, a.to or Path("runs") / a.export_run)
        return
    if a.list:
        for name, cfg in CONFIGS.items():
            print(name, cfg)
        return
    if a.plot:
        plot(out, [n for n in a.configs.split(",") if n], a.env, a.plot, a.controller)
        return
    if a.table:
        table(out)
        return
    env_id = V0 if a.env == "v0" else V1
    budget = a.budget or f"{a.steps / 1e6:g}M"
    done = {(r["config"], r["env"], r["seed"], r.get("budget", "")) for r in load_rows(out)}
    for name in [n for n in a.configs.split(",") if n]:
        cfg = dataclasses.replace(CONFIGS[name], env_id=env_id)
        for seed in parse_seeds(a.seeds):
            if (name, env_id, seed, budget) in done:
                continue
            row = run_one(name, cfg, seed, int(a.steps), a.max_wall, out, a.episodes)
            row["budget"] = budget
            with open(out / "runs.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: row[k] for k in ("config", "env", "seed", "env_steps", "train_wall_s", "eval_det_mean",
                                                   "eval_sto_mean", "train_last_return", "log_std_final")}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
