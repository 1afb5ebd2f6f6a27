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


def test_an_env_of_ones_own_evaluates_an_agent_on_from_env():
    """An agent on an env given as an object (no Config rebuilds it) is evaluated in the env passed to the callback,
    with the score reinforce.evaluate gives in that env; the env stays open for its owner; a mismatch is one line."""
    import gymnasium as gym

    torch.manual_seed(0)
    train_env = reinforce.from_env(gym.make("CartPole-v1"), seed=0)
    a = reinforce.Reinforce(train_env, reinforce.CategoricalPolicy(4, 2), steps_per_rollout=32)
    mine = reinforce.make_vec_env("CartPole-v1", 4, seed=0, backend="sync")
    cb = EvalCallback(every=2, episodes=4, deterministic=True, seed=5, env=mine)
    a.learn(2, callback=cb)
    assert cb.history[-1][1] == reinforce.evaluate(a, env=mine, episodes=4, deterministic=True, seed=5)["return_mean"]
    mine.reset()  # still open
    with pytest.raises(ValueError, match="policy takes 4 observation values .* env has 6"):
        a.learn(1, callback=EvalCallback(every=1, env=reinforce.make_vec_env("Acrobot-v1", 2, seed=0)))
    epoch = a.epoch
    with pytest.raises(ValueError, match=r"best_path=...\) keeps the best policy with agent.save, but .* given as an object"):
        a.learn(1, callback=EvalCallback(every=1, env=mine, best_path="unused/best.pt"))
    assert a.epoch == epoch  # refused before training, not at the first better score


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

    # a resumed run starts from the recorded best: with a score no evaluation can reach on record,
    # best.pt is left alone
    (run / "best.pt.json").write_text(json.dumps({**score, "return_mean": 1e9}))
    later = EvalCallback(every=1, episodes=4, deterministic=True, best_path=best)
    before = best.read_bytes()
    resume(run, quiet=True, tensorboard=False, epochs=7, callbacks=[later])
    assert later.best == 1e9 and len(later.history) == 1 and best.read_bytes() == before
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


# -- the command line: --eval-every, --eval-episodes, --wandb ------------------------------------------
CLI = ["--env", "CartPole-v1", "--num-envs", "4", "--steps-per-rollout", "32", "--epochs", "4", "--hidden-sizes", "",
       "--no-tensorboard", "--no-plot", "--quiet"]


def test_train_eval_every_logs_eval_metrics_and_keeps_the_best_policy(tmp_path):
    from reinforce.cli import main

    run = tmp_path / "run"
    assert main(["train", *CLI, "--eval-every", "2", "--eval-episodes", "3", "--out", str(run)]) == 0
    frame = pd.read_csv(run / "metrics.csv")
    assert [not math.isnan(v) for v in frame["eval/return_mean"]] == [False, True, False, True]
    score = json.loads((run / "best.pt.json").read_text())
    assert score["episodes"] == 3 and score["return_mean"] == frame["eval/return_mean"].max()
    assert reinforce.load(run / "best.pt").epoch == score["epoch"] + 1
    from reinforce.tools.evaluate import evaluate_run  # `reinforce evaluate RUN/best.pt`: that policy, not the newest

    best, newest = evaluate_run(run / "best.pt", episodes=2), evaluate_run(run, episodes=2)
    assert best["policy"] == str(run / "best.pt") and best["trained_epochs"] == score["epoch"] + 1
    assert newest["policy"] == str(run / "checkpoint.pt") and newest["trained_epochs"] == 4
    assert evaluate_run(run / "policy.pt", episodes=2)["policy"] == str(run / "policy.pt")
    with pytest.raises(FileNotFoundError, match="best.prev.pt' does not exist"):
        evaluate_run(run / "best.prev.pt", episodes=2)
    # a resume takes the flags too; --force clears best.pt with the run's other files
    assert main(["train", "--resume", str(run), "--epochs", "6", "--eval-every", "1", "--quiet", "--no-plot"]) == 0
    assert frame["eval/return_mean"].notna().sum() + 2 == pd.read_csv(run / "metrics.csv")["eval/return_mean"].notna().sum()
    assert main(["train", *CLI, "--out", str(run), "--force"]) == 0
    assert not (run / "best.pt").exists() and not (run / "best.pt.json").exists()


def test_eval_every_added_on_resume_widens_the_csv(tmp_path):
    from reinforce.cli import main

    run = tmp_path / "run"
    assert main(["train", *CLI, "--out", str(run)]) == 0
    before = pd.read_csv(run / "metrics.csv")
    assert "eval/return_mean" not in before
    assert main(["train", "--resume", str(run), "--epochs", "6", "--eval-every", "1", "--quiet", "--no-plot"]) == 0
    after = pd.read_csv(run / "metrics.csv")
    assert list(after.columns[: len(before.columns)]) == list(before.columns) and len(after) == 6
    assert after["eval/return_mean"].isna().tolist() == [True] * 4 + [False] * 2
    pd.testing.assert_frame_equal(after[before.columns].iloc[:4], before)


def test_seed_processes_get_the_evaluation_flags(tmp_path):
    from reinforce.cli import main

    root = tmp_path / "seeds"
    assert main(["train", *CLI, "--seeds", "0-1", "--jobs", "2", "--eval-every", "4", "--eval-episodes", "2",
                 "--out", str(root)]) == 0
    for k in (0, 1):
        assert json.loads((root / f"seed{k}" / "best.pt.json").read_text())["epoch"] == 3


@pytest.mark.parametrize("flag", ["--eval-every", "--eval-episodes"])
def test_eval_flags_must_be_positive(tmp_path, capsys, flag):
    from reinforce.cli import main

    argv = ["train", *CLI, "--out", str(tmp_path / "r"), flag, "0"] + (["--eval-every", "1"] if flag == "--eval-episodes" else [])
    assert main(argv) == 2
    assert f"{flag} must be >= 1" in capsys.readouterr().err


def test_train_wandb_flag_logs_through_the_callback(tmp_path, monkeypatch):
    import sys
    import types

    from reinforce.cli import main

    logged = []

    class Run:
        define_metric = staticmethod(lambda *a, **k: None)
        log = staticmethod(lambda data: logged.append(data["time/env_steps"]))
        finish = staticmethod(lambda: logged.append("finish"))

    inits = []
    fake = types.SimpleNamespace(init=lambda **kw: inits.append(kw) or Run(), Settings=lambda **kw: kw)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    run = tmp_path / "run"
    assert main(["train", *CLI, "--wandb", "proj", "--out", str(run)]) == 0
    assert inits[0]["project"] == "proj" and inits[0]["name"] == "run" and inits[0]["dir"] == str(run)
    assert logged == [128, 256, 384, 512, "finish"]


def test_a_callback_that_fails_to_start_leaves_nothing_open(tmp_path, monkeypatch):
    """W&B without a login: one clear error; the evaluation env that had started is closed, no W&B id kept."""
    import sys
    import types

    from reinforce.tools.wandb_logger import WandbCallback

    def refuse(**kwargs):
        raise RuntimeError("api_key not configured (no-tty)\nmore lines")

    monkeypatch.setitem(sys.modules, "wandb", types.SimpleNamespace(init=refuse, Settings=dict))
    run = tmp_path / "run"
    evaluation = EvalCallback(every=1, episodes=2)
    with pytest.raises(ValueError, match=r"W&B could not start \(RuntimeError: api_key not configured \(no-tty\)\); log in"):
        train(reinforce.Config(**SMALL), run, quiet=True, tensorboard=False,
              callbacks=[evaluation, WandbCallback(run_dir=run)])
    assert evaluation.env is None and not (run / "wandb_id.txt").exists()
