"""Learning tests: fixed seeds, stated returns. The article's CartPole experiment must be solved."""
import math

import pytest

from reinforce import config as config_mod
from reinforce import presets
from reinforce.run.build import build


def first_epoch_reaching(history, threshold):
    return next((m["epoch"] for m in history if m["rollout/ep_return_mean"] >= threshold), None)


@pytest.mark.slow
def test_cartpole_preset_reaches_195():
    """The article's linear policy on CartPole-v0 (32 envs, T=1000, lr 0.1): mean return ≥ 195 within 100 epochs."""
    cfg = presets.preset("cartpole").replace(seed=0)
    _, _, agent = build(cfg)
    history = agent.learn(cfg.epochs, callback=lambda m: not m["rollout/ep_return_mean"] >= 195)
    reached = first_epoch_reaching(history, 195)
    assert reached is not None, f"best mean return {max(m['rollout/ep_return_mean'] for m in history):.1f}"
    assert history[-1]["rollout/episodes"] >= 32  # a mean over many episodes, not one lucky one


@pytest.mark.slow
def test_swingup_gaussian_improves_over_its_start():
    """A small budget of the swing-up preset lifts the mean return well above the starting policy's."""
    cfg = presets.preset("swingup").replace(seed=0, num_envs=64, epochs=8)
    _, _, agent = build(cfg)
    history = agent.learn(cfg.epochs)
    start, end = history[0]["rollout/ep_return_mean"], history[-1]["rollout/ep_return_mean"]
    assert not math.isnan(end) and end > start + 50, (start, end)
