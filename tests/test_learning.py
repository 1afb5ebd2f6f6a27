"""Learning tests: fixed seeds, stated returns. The article's CartPole experiment must be solved."""
import math

import pytest
import torch

import reinforce
from reinforce import presets
from reinforce.run.build import build
from reinforce.tools.episodes import run_episodes


def first_epoch_reaching(history, threshold):
    return next((m["epoch"] for m in history if m["rollout/ep_return_mean"] >= threshold), None)


@pytest.mark.slow
def test_cartpole_preset_reaches_195():
    """The article's linear policy on CartPole-v0 (32 envs, T=1000, lr 0.1): mean return ≥ 195 within 100
    epochs, and the policy that got there scores as much on 100 fresh episodes (within 4 standard errors)."""
    cfg = presets.preset("cartpole").replace(seed=0)
    _, policy, agent = build(cfg)
    history = agent.learn(cfg.epochs, callback=lambda m: not m["rollout/ep_return_mean"] >= 195)
    reached = first_epoch_reaching(history, 195)
    assert reached is not None, f"best mean return {max(m['rollout/ep_return_mean'] for m in history):.1f}"
    # Not a lucky batch: held-out episodes (seeds the training never used). Measured for seeds 0-2 at
    # the epoch reaching 195: 194.7 ± 1.4, 197.0 ± 1.5, 194.4 ± 1.9 (mean ± standard error).
    with torch.random.fork_rng():
        env = reinforce.make_vec_env(cfg.env_id, num_envs=16, seed=1000)
        returns, _ = run_episodes(policy, env, 100, seed=1000)
    mean, se = returns.mean(), returns.std(ddof=1) / math.sqrt(len(returns))
    assert mean + 4 * se >= 195, (mean, se)


def swingup_probe(policy, seed: int, num_envs: int = 64, steps: int = 1000) -> tuple[float, float]:
    """(fraction of steps with the pole above the horizontal, cos θ > 0; mean episode length) of `policy`
    sampling in fresh swing-up envs; the caller's torch RNG is left as it was."""
    with torch.random.fork_rng():
        env = reinforce.make_vec_env("reinforce/CartPoleSwingUp-v0", num_envs=num_envs, seed=seed)
        obs, _ = env.reset(seed=seed)
        upright, ends = torch.zeros(()), 0
        for _ in range(steps):
            upright += (obs[:, 2] > 0).float().mean()  # obs[:, 2] is cos θ; θ = 0 is upright
            obs, _, terminated, truncated, _ = env.step(policy.act(obs))
            ends += int((terminated | truncated).sum())
    return float(upright) / steps, steps * num_envs / max(ends, 1)


@pytest.mark.slow
def test_swingup_solved_preset_swings_the_pole_up_on_most_seeds():
    """The first 1M env steps of `swingup-solved` on v1 (245 of its 4883 updates, ~30 s a seed) swing the pole up
    on seeds 0-2: the median of the three clears each bar; the full 20M-step runs on v0 and v1 are benchmarks
    (docs/swingup.md).

    v1's reward (1 + cos θ)/2 is ~0 while the pole hangs and 1 when it is upright, and leaving the track
    gains nothing, so the return measures how much of the episode the pole spends up. Measured with this
    test's code on seeds 0-4 (100 fresh episodes, deterministic action):
    - untrained: 5.2-7.4 (episode std 6.5-9.7), pole above the horizontal in 0.00 of the probe's steps;
    - after 245 updates (stop 35's code): 248.5, 21.9, 242.1, 222.0, 228.5 (std 4.1-39.4), upright 0.17-0.49;
      with torch's own tanh instead of policy_base.tanh's sigmoid form: 269.7, 279.4, 115.3, 231.1, 151.5.
    At 1M steps a seed can still stall (seed 1 here; 115 and 152 were near it before), and which one moves with
    float rounding, so the test asks the median of three seeds. The bars sit between the groups with room on both
    sides: a return of 60 is > 20 standard errors above every untrained mean and far below the trained median.
    """
    befores, afters, uprights = [], [], []
    for seed in (0, 1, 2):
        cfg = presets.preset("swingup-solved").replace(seed=seed, env_id="reinforce/CartPoleSwingUp-v1")
        _, policy, agent = build(cfg)
        befores.append(reinforce.evaluate(agent, episodes=100, deterministic=True)["return_mean"])
        agent.learn(245)  # the preset's lr schedule horizon is kept: these are its first 1M steps
        afters.append(reinforce.evaluate(agent, episodes=100, deterministic=True)["return_mean"])
        uprights.append(swingup_probe(policy, 1000 + seed)[0])
    assert max(befores) < 20, befores
    assert sorted(afters)[1] > 60, afters
    assert sorted(uprights)[1] > 0.2, uprights


@pytest.mark.slow
def test_swingup_solved_v1_preset_swings_the_pole_up_and_keeps_it_up_half_the_time():
    """The first 1M env steps (245 of 2442 updates, ~20 s) of `swingup-solved-v1`, the mirror-symmetric v1 preset;
    its full 10M-step runs are benchmarks (docs/swingup.md).

    Measured with this test's code on seeds 0-4 (100 fresh episodes, deterministic action): untrained 0.7, 155.0,
    51.0, 67.3, 119.5 (episode std 0.7-54.8: the untrained odd policy already rocks the pole on some seeds);
    after 245 updates 254.7, 248.3, 258.1, 247.1, 247.7 (std 7.0-17.2), pole above the horizontal in 0.49-0.51
    of the probe's sampled steps. The bar of 200 is > 10 standard errors above every untrained mean and > 27
    below the weakest trained one.
    """
    cfg = presets.preset("swingup-solved-v1").replace(seed=0)
    _, policy, agent = build(cfg)
    before = reinforce.evaluate(agent, episodes=100, deterministic=True)
    agent.learn(245)
    after = reinforce.evaluate(agent, episodes=100, deterministic=True)
    upright, _ = swingup_probe(policy, 1000)
    assert before["return_mean"] < 200 < after["return_mean"], (before, after)
    assert upright > 0.4, upright
