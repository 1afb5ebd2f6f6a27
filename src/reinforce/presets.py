"""Named configurations: the article's two experiments and tuned variants (`reinforce train --preset NAME`)."""
from __future__ import annotations

import dataclasses

from reinforce.config import Config

PRESETS: dict[str, Config] = {
    # The article's first experiment: linear softmax policy on CartPole-v0.
    "cartpole": Config(
        env_id="CartPole-v0", num_envs=32, steps_per_rollout=1000, epochs=100, lr=0.1, gamma=0.99, hidden_sizes=()
    ),
    # The article's second: 64-64 ReLU Gaussian on the swing-up. The article's covariance quirk
    # (σ passed where σ² belongs, log σ = 1) means its real starting std is e^0.5; we start there.
    "swingup": Config(
        env_id="reinforce/CartPoleSwingUp-v0",
        num_envs=256,
        steps_per_rollout=1000,
        epochs=20,
        lr=1e-2,
        gamma=0.999,
        hidden_sizes=(64, 64),
        activation="relu",
        log_std_init=0.5,
    ),
    # Fast CartPole-v1 solver that solves every seed tried (benchmarks/time_to_solve.py; docs/benchmarks.md):
    # many small updates from wide, short rollouts; leave-one-env-out mean baseline, normalised advantages.
    # 32-step rollouts, not the faster-on-seeds-0-19 24: with 24 a perfect policy ends ~18 episodes an epoch
    # (the criterion wants 20) and seeds 37 and 47 needed 3156 and 519 epochs; with 32 seeds 0-199 all solve,
    # the slowest at epoch 1218, hence the 2000-epoch cap. Its large step can unlearn after solving: it stops at
    # CartPole-v1's threshold, 475 (stop_at_return).
    "cartpole-fast": Config(
        env_id="CartPole-v1", num_envs=384, steps_per_rollout=32, epochs=2000, lr=0.45, gamma=0.99, hidden_sizes=(),
        reset_each_epoch=False, baseline="mean", normalize_advantages=True, stop_at_return=475.0,
    ),
    # Benchmark pairs (docs/variants.md): the article's algorithm and settings ("-article": reward-to-go, no
    # baseline; linear policy, 32 envs, T 1000, lr 0.1 for discrete actions) against a variant with
    # GAE advantages, normalised advantages and observations, and many smaller updates ("-gae").
    "cartpole-v1-article": Config(env_id="CartPole-v1", epochs=31, hidden_sizes=()),
    "cartpole-v1-gae": Config(
        env_id="CartPole-v1", num_envs=64, steps_per_rollout=256, epochs=61, lr=0.05, hidden_sizes=(),
        reset_each_epoch=False, baseline="gae", normalize_advantages=True,
    ),
    "acrobot-article": Config(env_id="Acrobot-v1", epochs=16, hidden_sizes=()),
    "acrobot-gae": Config(
        env_id="Acrobot-v1", num_envs=16, steps_per_rollout=256, epochs=122, lr=3e-3, hidden_sizes=(64, 64),
        activation="tanh", reset_each_epoch=False, baseline="gae", normalize_advantages=True, normalize_observations=True,
    ),
    "pendulum-article": Config(
        env_id="Pendulum-v1", num_envs=256, steps_per_rollout=1000, epochs=4, lr=1e-2, gamma=0.999,
        hidden_sizes=(64, 64), activation="relu", log_std_init=0.5,
    ),
    "pendulum-gae": Config(
        env_id="Pendulum-v1", num_envs=32, steps_per_rollout=32, epochs=976, lr=3e-3, gamma=0.9, hidden_sizes=(64, 64),
        activation="tanh", reset_each_epoch=False, baseline="gae", normalize_advantages=True, normalize_observations=True,
        value_lr=3e-3, lr_schedule="linear",
    ),
    "swingup-gae": Config(
        env_id="reinforce/CartPoleSwingUp-v0", num_envs=64, steps_per_rollout=256, epochs=312, lr=1e-3, gamma=0.99,
        hidden_sizes=(64, 64), activation="tanh", reset_each_epoch=False, baseline="gae", normalize_advantages=True,
        normalize_observations=True,
    ),
    # The best swing-up setting measured so far (docs/swingup.md, 10M steps, deterministic eval, seeds 0-4):
    # v1 417 / 421 / 409 / 155 / 431; on v0 (`--env reinforce/CartPoleSwingUp-v0`) 2 of 5 seeds swing up
    # (354, 338) and 3 stay at the crash optimum. Not yet the target (every seed >= 400 / 350).
    "swingup-v1-squash": Config(
        env_id="reinforce/CartPoleSwingUp-v1", num_envs=64, steps_per_rollout=64, epochs=2442, lr=1e-3, gamma=0.998,
        hidden_sizes=(64, 64), activation="tanh", log_std_init=-0.5, squash=True, reset_each_epoch=False,
        baseline="gae", gae_lambda=0.95, normalize_advantages=True, normalize_observations=True, value_lr=3e-3,
    ),
    # The swing-up's vanilla-PG recipe (docs/swingup.md), 20M env steps: the v1 recipe above with the mean's
    # output layer initialised near zero (orthogonal, gain 0.01) and σ₀ = e^-2, so the untrained cart barely
    # moves and the first episodes run long instead of ending off the track (the crash optimum); a small
    # entropy bonus keeps σ from collapsing once the pole swings.
    "swingup-solved": Config(
        env_id="reinforce/CartPoleSwingUp-v0", num_envs=64, steps_per_rollout=64, epochs=4883, lr=1e-3, gamma=0.998,
        hidden_sizes=(64, 64), activation="tanh", log_std_init=-2.0, head_init_gain=0.01, squash=True,
        entropy_coef=0.003, reset_each_epoch=False, baseline="gae", gae_lambda=0.95, normalize_advantages=True,
        normalize_observations=True, value_lr=3e-3,
    ),
    # v1's twin (docs/swingup.md, stop 30): the v1 recipe with a policy and V built to respect the swing-up's
    # mirror symmetry (x, ẋ, sin θ, θ̇ -> negatives, force -> -force), 10M env steps. Every seed of 0-4 ends
    # at 416.7-429.4 (deterministic eval), where the recipe alone left seed 3 at 154.8.
    "swingup-solved-v1": Config(
        env_id="reinforce/CartPoleSwingUp-v1", num_envs=64, steps_per_rollout=64, epochs=2442, lr=1e-3, gamma=0.998,
        hidden_sizes=(64, 64), activation="tanh", log_std_init=-0.5, squash=True, reset_each_epoch=False,
        baseline="gae", gae_lambda=0.95, normalize_advantages=True, normalize_observations=True, value_lr=3e-3,
        mirror_obs_signs=(-1, -1, 1, -1, -1),
    ),
    # MuJoCo (optional `mujoco` extra), 3M env steps. "-article": the swing-up preset's Gaussian
    # 64-64 ReLU policy, 256 envs × T 1000, lr 1e-2, γ 0.999, no baseline (12 updates). "-gae": an
    # A2C-sized variant, 23k small updates from 16 envs × 8 steps, lr decayed linearly to 0, σ₀ = e^-0.5.
    # (16 × 64-step batches at lr 3e-4 were far slower: one Adam step per batch moves log σ by ~lr.)
    **{
        f"{name}-article": Config(
            env_id=env_id, num_envs=256, steps_per_rollout=1000, epochs=12, lr=1e-2, gamma=0.999,
            hidden_sizes=(64, 64), activation="relu", log_std_init=0.5,
        )
        for name, env_id in (("halfcheetah", "HalfCheetah-v5"), ("hopper", "Hopper-v5"))
    },
    **{
        f"{name}-gae": Config(
            env_id=env_id, num_envs=16, steps_per_rollout=8, epochs=23438, lr=7e-4, gamma=0.99,
            hidden_sizes=(64, 64), activation="tanh", log_std_init=-0.5, reset_each_epoch=False, baseline="gae",
            normalize_advantages=True, normalize_observations=True, max_grad_norm=0.5, lr_schedule="linear",
            value_iters=2,
        )
        for name, env_id in (("halfcheetah", "HalfCheetah-v5"), ("hopper", "Hopper-v5"))
    },
    # Any Gymnasium space (docs/any_env.md). MiniGrid's Dict observation (7×7×3 view, direction; the text
    # mission dropped) flattened to 151 values and normalised, an entropy bonus for the sparse reward: seed 0
    # reached 0.93 at 150k steps and 0.96 at 500k.
    "doorkey": Config(
        env_id="MiniGrid-DoorKey-5x5-v0", num_envs=16, steps_per_rollout=128, epochs=245, lr=1e-3, gamma=0.99,
        hidden_sizes=(64, 64), activation="tanh", reset_each_epoch=False, baseline="gae", normalize_advantages=True,
        normalize_observations=True, entropy_coef=0.01, value_lr=1e-3,
    ),
    # Taxi's 500 Discrete states arrive one-hot, so the linear policy is a table of logits: seed 0 at 2M
    # steps, 7.8 (sampled) and 8.1 (greedy) over 100 fresh episodes.
    "taxi": Config(
        env_id="Taxi-v4", num_envs=16, steps_per_rollout=128, epochs=977, lr=1e-2, gamma=0.99, hidden_sizes=(),
        reset_each_epoch=False, baseline="gae", normalize_advantages=True, value_lr=3e-3,
    ),
    # MinAtar's Breakout (the minatar extra; 10x10x4 bool frames, the small CNN). The value function shares the
    # policy's CNN (share_encoder: without it every setting stopped near 5, docs/any_env.md), a linear value head,
    # many small updates (16 envs x 8 steps), raw advantages, a clipped gradient and entropy 0.02 (0.01 left
    # seed 1 on a plateau at 14.5): 5M steps.
    "minatar-breakout": Config(
        env_id="MinAtar/Breakout-v1", num_envs=16, steps_per_rollout=8, epochs=39062, lr=1e-3, gamma=0.99,
        reset_each_epoch=False, baseline="gae", gae_lambda=0.95, entropy_coef=0.02, max_grad_norm=0.5,
        value_iters=1, value_lr=1e-3, value_hidden_sizes=(), share_encoder=True,
    ),
    # Box2D's lander (the box2d extra): gamma 0.999 and lambda 0.98 for the long-delayed landing bonus, an
    # entropy bonus, lr 3e-3 decayed linearly; 32-step rollouts and value lr 3e-3 (issue 16's time to target:
    # the last 20 training episodes average 200 after a median 26 s / 0.3M steps on seeds 0-4, against
    # > 3M steps with 128-step rollouts and value lr 1e-3). Deterministic eval at 3M: docs/any_env.md.
    "lunarlander": Config(
        env_id="LunarLander-v3", num_envs=16, steps_per_rollout=32, epochs=5859, lr=3e-3, gamma=0.999,
        hidden_sizes=(64, 64), activation="tanh", reset_each_epoch=False, baseline="gae", gae_lambda=0.98,
        normalize_advantages=True, normalize_observations=True, entropy_coef=0.01, lr_schedule="linear", value_lr=3e-3,
    ),
}

# Wall time to target (benchmarks/time_to_target.py): acrobot-gae / pendulum-gae with a faster value fit
# (value lr 1e-2), for Acrobot also wider rollouts (64 x 16) and a larger step. In-process seconds to a
# last-20-episode mean of -100 / -200, one thread: Acrobot 0.90 median on seeds 0-4 (0.83 on 5-9),
# against 2.5 for acrobot-gae; Pendulum 6.0 on seeds 0-2, against 8.1 for pendulum-gae.
# Both envs are mirror-symmetric (θ -> -θ with the torque reversed): a policy and V built to respect that
# (mirror_obs_signs) need fewer env steps, which then allowed a larger step (Acrobot) and shorter rollouts
# (Pendulum), each with 5 value fits; Pendulum's nets then halved to 32-32. Stop 30, quiet machine: Acrobot
# 0.77 -> 0.28 s median on seeds 0-9; Pendulum 6.3 -> 2.4 s on seeds 0-4, 8.0 -> 2.6 s on seeds 5-9
# (docs/benchmarks.md, "Mirror symmetry"). Stop 32: Acrobot's V without the mirror (mirror_value=False) needs
# the same env steps on most seeds at half the value fit's cost: 0.250 -> 0.211 s median on seeds 0-9, 0.311 ->
# 0.263 on seeds 10-19, taking turns; Pendulum's needs it (2.28 -> 2.46 s, more steps). Stop 33: Pendulum
# starts with σ = e^0.3 (log_std_init 0.3; pendulum-gae's 0: σ 1 for torques in ±2): median env steps to
# the target 176k -> 160k on seeds 0-19 (screened with -0.5, 0.15, 0.5, 64 envs, a state-dependent σ, a
# small head, no normaliser: none better), then seeds 20-29 unseen: 166k -> 138k, 2.84 -> 2.29 s, fewer or
# equal steps on each of the ten.
PRESETS["acrobot-fast"] = dataclasses.replace(
    PRESETS["acrobot-gae"], num_envs=64, steps_per_rollout=16, epochs=489, lr=1e-2, value_lr=1e-2, value_iters=5,
    mirror_obs_signs=(1, -1, 1, -1, -1, -1), mirror_value=False)
PRESETS["pendulum-fast"] = dataclasses.replace(
    PRESETS["pendulum-gae"], steps_per_rollout=16, value_lr=1e-2, value_iters=5, mirror_obs_signs=(1, -1, -1),
    hidden_sizes=(32, 32), value_hidden_sizes=(32, 32), log_std_init=0.3)

# MuJoCo, wall time to target (stop 31; time_to_target.py, EnvPool backend, in-process seconds to a
# last-20-episode mean of 1000 / 1500): Hopper-v5 with lr 1e-3 48.6, 47.9 s on seeds 0-1 (hopper-gae 46.2,
# 73.5; lr 1.5e-3 missed seed 0; 32 envs slower); HalfCheetah-v5 with 32 envs and lr 1e-3 55.3, 26.3 s
# (halfcheetah-gae 47.3, 131.9). The linear lr decay still runs over 23438 epochs (6M steps for 32 envs).
PRESETS["hopper-fast"] = dataclasses.replace(PRESETS["hopper-gae"], lr=1e-3)
PRESETS["halfcheetah-fast"] = dataclasses.replace(PRESETS["halfcheetah-gae"], num_envs=32, lr=1e-3)


def preset(name: str) -> Config:
    """A copy of the preset `name`, or a ValueError listing the presets."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    return dataclasses.replace(PRESETS[name])



# With `--env ID` and no preset: the `-gae` family's settings (pendulum-gae's, with gamma 0.99), which
# suit discrete and continuous actions alike (a 64-64 MLP serves both policy kinds), for about 1M env
# steps. Measured at 1M steps, seed 0, against 16 envs x 256 steps: CartPole-v1 500 vs 201,
# Acrobot-v1 -80 vs -84, Pendulum-v1 -589 vs -1109 (mean return of the last 20 epochs).
ANY_ENV = dict(
    num_envs=32, steps_per_rollout=32, epochs=977, lr=3e-3, gamma=0.99, hidden_sizes=(64, 64), activation="tanh",
    reset_each_epoch=False, baseline="gae", normalize_advantages=True, normalize_observations=True, value_lr=3e-3,
    lr_schedule="linear",
)


def defaults_for_env(env_id: str) -> Config:
    """The settings for an env without a preset (ANY_ENV); needs neither the env nor torch."""
    return Config(env_id=env_id, **ANY_ENV)


def steps_text(total: int) -> str:
    return f"{total / 1e6:.1f}M" if total >= 1e6 else f"{total / 1e3:.0f}k" if total >= 1e3 else str(total)


def describe(cfg: Config) -> str:
    """The key settings in words: "GAE baseline, 64-64 tanh MLP, lr 0.003, ..."."""
    baseline = {"none": "no baseline", "gae": "GAE baseline"}.get(cfg.baseline, f"{cfg.baseline} baseline")
    policy = "linear policy" if cfg.hidden_sizes == () else f"{policy_text(cfg)} MLP"
    total = cfg.num_envs * cfg.steps_per_rollout * cfg.epochs
    lr = f"lr {cfg.lr:g}" + (" decaying linearly" if cfg.lr_schedule == "linear" else "")
    parts = [baseline, policy, lr, f"gamma {cfg.gamma:g}",
             f"{cfg.num_envs} envs x {cfg.steps_per_rollout} steps x {cfg.epochs} epochs ({steps_text(total)} env steps)"]
    normalized = [what for what, on in (("advantages", cfg.normalize_advantages), ("observations", cfg.normalize_observations)) if on]
    return ", ".join(parts + ([f"normalised {' and '.join(normalized)}"] if normalized else []))


def policy_text(cfg: Config) -> str:
    """The policy's hidden layers as a table shows them: linear, 64-64 tanh, or default."""
    if cfg.hidden_sizes is None:
        return "default"
    sizes = "-".join(str(h) for h in cfg.hidden_sizes) or "linear"
    return f"{sizes} {cfg.activation}" if cfg.hidden_sizes and cfg.activation else sizes


def table() -> str:
    """Every preset, then the defaults for any env, as aligned text columns (`reinforce presets`)."""
    rows = [("preset", "env", "envs", "steps", "epochs", "env steps", "lr", "gamma", "baseline", "policy")]
    named = [(name, PRESETS[name]) for name in sorted(PRESETS)]
    for name, c in [*named, ("(none)", defaults_for_env("any: --env ID"))]:
        total = c.num_envs * c.steps_per_rollout * c.epochs
        rows.append((
            name, c.env_id, str(c.num_envs), str(c.steps_per_rollout), str(c.epochs),
            steps_text(total), f"{c.lr:g}", f"{c.gamma:g}",
            c.baseline, policy_text(c),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)
