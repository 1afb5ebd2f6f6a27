"""EvalCallback: evaluation during training, logged as eval/ metrics, the best policy kept, training untouched."""
import json
import math

import pandas as pd
import pytest
import torch

import reinforce
from reinforce import EvalCallback
from reinforce.run.trainer import resume, train
from reinforce.tools.eval_callback import EVAL_KEYS

SMALL = dict(env_id="CartPole-v1", num_envs=4, steps_per_rollout=32, epochs=6, lr=0.05, hidden_sizes=(), seed=3)


def agent(**changes):
    _, _, a = reinforce.run.build.build(reinforce.Config(**{**SMALL, **changes}))
    return a


def test_eval_metrics_every_k_epochs_and_none_between():
    cb = EvalCallback(every=2, episodes=4)
    history = agent().learn(6, callback=cb)
    for m in history:
        evaluated = (m["epoch"] + 1) % 2 == 0
        assert set(EVAL_KEYS) <= set(m)
        assert all((m[k] is not None) == evaluated for k in EVAL_KEYS)
    assert [e for e, _ in cb.history] == [1, 3, 5]
    assert all(m["eval/length_mean"] >= 1 for m in history if m["eval/length_mean"] is not None)
    assert cb.env is None, "the evaluation env is closed when training ends"


def test_evaluating_changes_nothing_in_training():
    """The eval env and the forked RNG keep the training run's metrics and weights as without the callback."""
    plain = agent()  # each built right before its training: building seeds the RNGs
    a = plain.learn(6)
    evaluated = agent()
    b = evaluated.learn(6, callback=EvalCallback(every=1, episodes=3))
    keys = [k for k in a[0] if not k.startswith("time/")]
    assert [[m[k] for k in keys] for m in a] == [[m[k] for k in keys] for m in b]
    for p, q in zip(plain.policy.parameters(), evaluated.policy.parameters()):
        assert torch.equal(p, q)


def test_the_score_is_reinforce_evaluate_of_the_same_policy():
    """Deterministic episodes from the same seed: the callback's last score equals a separate evaluation's."""
    a = agent()
    cb = EvalCallback(every=6, episodes=8, deterministic=True, seed=77)
    a.learn(6, callback=cb)
    direct = reinforce.evaluate(a, episodes=8, deterministic=True, seed=77, num_envs=8)
    assert cb.history[-1][1] == pytest.approx(direct["return_mean"], rel=0, abs=1e-9)


def test_the_best_policy_is_saved_with_its_score_and_a_resume_keeps_it(tmp_path):
    run, best = tmp_path / "run", tmp_path / "run" / "best.pt"
    cfg = reinforce.Config(**SMALL)
    cb = EvalCallback(every=1, episodes=4, deterministic=True, best_path=best)
    train(cfg, run, quiet=True, tensorboard=False, callbacks=[cb])
    score = json.loads((tmp_path / "run" / "best.pt.json").read_text())
    assert score["return_mean"] == max(r for _, r in cb.history)
    assert score["epoch"] == max(cb.history, key=lambda h: h[1])[0]  # the first epoch with that score
    saved = reinforce.load(best)
    again = reinforce.evaluate(saved, episodes=4, deterministic=True, seed=cb.seed, num_envs=4)
    assert again["return_mean"] == pytest.approx(score["return_mean"], abs=1e-9)

    frame = pd.read_csv(run / "metrics.csv")
    assert frame["eval/return_mean"].tolist() == pytest.approx([r for _, r in cb.history])

    # a resumed run starts from the recorded best: a worse evaluation does not replace best.pt
    later = EvalCallback(every=1, episodes=4, deterministic=True, best_path=best)
    before = best.stat().st_mtime_ns
    resume(run, quiet=True, tensorboard=False, epochs=7, callbacks=[later])
    assert later.best >= score["return_mean"]
    if later.history[-1][1] <= score["return_mean"]:
        assert best.stat().st_mtime_ns == before
    assert len(pd.read_csv(run / "metrics.csv")) == 7


def test_eval_metrics_on_other_epochs_are_blank_in_the_csv(tmp_path):
    run = tmp_path / "run"
    train(reinforce.Config(**SMALL), run, quiet=True, tensorboard=False, callbacks=[EvalCallback(every=3, episodes=2)])
    column = pd.read_csv(run / "metrics.csv")["eval/return_mean"].tolist()
    assert [not math.isnan(v) for v in column] == [False, False, True, False, False, True]


@pytest.mark.parametrize("bad", [dict(every=0), dict(every=2, episodes=0), dict(every=1.5)])
def test_bad_settings_are_named(bad):
    with pytest.raises((ValueError, TypeError), match="every|episodes"):
        EvalCallback(**bad)
