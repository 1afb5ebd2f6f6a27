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
@pytest.mark.parametrize("seed", [2, 5])
def test_swingup_gaussian_learns_to_swing_the_pole_up(seed):
    """8 epochs of the swing-up preset on 64 envs swing the pole above the horizontal, not just a higher return.

    The reward is cos θ, about -1 per step while the pole hangs, so ending episodes early by driving the
    cart off the track also raises the return: a local optimum this preset falls into for some seeds.
    Measured with this test's code for seeds 0-7 after 8 epochs:
    - crashing (seeds 0, 3): pole above the horizontal in 0.20 of the steps (while the cart accelerates
      away), episodes of 71 steps, return -28;
    - swinging (seeds 1, 2, 4-7): 0.45-0.51 of the steps upright, episodes of 158-196 steps, return -15 to +1;
    - untrained: 0.01-0.18 upright, episodes of 234-464 steps (the cart drifts slowly off the track), so
      "episodes no shorter than the untrained policy's" would fail a policy that swings.
    The bars sit midway between crashing and swinging; storing clipped actions, for one, lands in the crash.
    """
    cfg = presets.preset("swingup").replace(seed=seed, num_envs=64, epochs=8)
    _, policy, agent = build(cfg)
    upright_before, _ = swingup_probe(policy, 1000 + seed)
    history = agent.learn(cfg.epochs)
    upright, length = swingup_probe(policy, 1000 + seed)
    start, end = history[0]["rollout/ep_return_mean"], history[-1]["rollout/ep_return_mean"]
    assert not math.isnan(end) and end > start + 50, (start, end)
    assert upright > 0.33 and upright > upright_before + 0.15, (upright_before, upright)
    assert length > 115, length
    assert end > -21, end
