"""Callbacks in the training loop, StopOnReward's window, CheckpointCallback, --stop-at-threshold."""
import pandas as pd
import pytest

import reinforce
from reinforce.cli import main
from reinforce.run.callbacks import StopOnReward, as_callbacks


def small_agent(seed: int = 0) -> reinforce.Reinforce:
    env = reinforce.make_vec_env("CartPole-v1", num_envs=4, seed=seed, backend="sync")
    return reinforce.Reinforce(env, reinforce.CategoricalPolicy(4, 2), lr=0.05, steps_per_rollout=16)


class Recorder(reinforce.Callback):
    def __init__(self):
        self.events = []

    def on_training_start(self, agent):
        self.events.append(("start", agent))

    def on_rollout_end(self, batch):
        self.events.append(("rollout", tuple(batch.rewards.shape)))

    def on_update_end(self, metrics):
        self.events.append(("update", metrics["epoch"]))
        return metrics["epoch"] < 2  # stop after the third epoch


def test_callback_sees_start_each_batch_and_each_update_in_order_and_can_stop():
    agent, rec = small_agent(), Recorder()
    history = agent.learn(10, callback=rec)
    assert len(history) == 3
    assert rec.events[0] == ("start", agent)
    assert rec.events[1:] == [("rollout", (16, 4)), ("update", 0), ("rollout", (16, 4)), ("update", 1),
                              ("rollout", (16, 4)), ("update", 2)]


def test_plain_functions_and_lists_mix_and_every_callback_runs():
    seen = []
    history = small_agent().learn(4, callback=[lambda m: seen.append(m["epoch"]), lambda m: m["epoch"] < 1])
    assert len(history) == 2 and seen == [0, 1]  # the first still ran on the stopping epoch


def test_a_non_callable_callback_is_a_clear_type_error():
    with pytest.raises(TypeError, match="callback must be a reinforce Callback"):
        as_callbacks([42])


def epoch(ret: float, episodes: int) -> dict:
    return {"epoch": 0, "rollout/ep_return_mean": ret, "rollout/episodes": episodes}


def test_stop_on_reward_waits_for_enough_episodes_over_whole_recent_epochs():
    stop = StopOnReward(100.0, min_episodes=10)
    assert stop.on_update_end(epoch(500.0, 4)) is None  # 4 episodes: too few, however good
    assert stop.on_update_end(epoch(float("nan"), 0)) is None  # no episode finished: no evidence
    assert stop.on_update_end(epoch(20.0, 4)) is None  # 8 episodes, still too few
    # (500·4 + 20·4 + 10·2) / 10 = 210 >= 100: stops, with the episode-weighted mean of the window
    assert stop.on_update_end(epoch(10.0, 2)) is False
    assert stop.window_mean == pytest.approx(210.0)


def test_stop_on_reward_forgets_epochs_older_than_the_window():
    stop = StopOnReward(100.0, min_episodes=5)
    assert stop.on_update_end(epoch(1000.0, 5)) is False  # a full window of good episodes
    stop = StopOnReward(100.0, min_episodes=5)
    stop.on_update_end(epoch(0.0, 3))
    assert stop.on_update_end(epoch(10.0, 6)) is None  # window = the newest epoch only (6 >= 5): 10 < 100
    assert stop.on_update_end(epoch(150.0, 5)) is False  # the old 10s dropped out: 150 >= 100
    assert len(stop.recent) == 1


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "475", True])
def test_stop_on_reward_rejects_a_threshold_that_is_not_a_finite_number(bad):
    with pytest.raises(ValueError, match="finite number"):
        StopOnReward(bad)


def test_checkpoint_callback_saves_loadable_agents_every_k_epochs(tmp_path):
    cb = reinforce.CheckpointCallback(every=2, folder=tmp_path / "ckpt")
    agent = small_agent()
    agent.learn(5, callback=cb)
    assert [p.name for p in cb.saved] == ["agent_2.pt", "agent_4.pt"]
    loaded = reinforce.load(cb.saved[-1])
    assert loaded.epoch == 4


def test_stop_at_threshold_ends_the_run_once_the_env_threshold_is_met(tmp_path, capsys):
    out = tmp_path / "run"
    # CartPole-v1's registered threshold is 475; cartpole-fast gets there in well under 100 of its 500 epochs
    args = ["train", "--preset", "cartpole-fast", "--stop-at-threshold", "--out", str(out), "--quiet", "--no-plot",
            "--no-tensorboard", "--num-envs", "128"]
    assert main(args) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert "reached 475" in line
    metrics = pd.read_csv(out / "metrics.csv")
    assert len(metrics) < 100 and (out / "policy.pt").exists()

    def window_mean(upto: int) -> float:  # the newest whole epochs holding >= 20 episodes, as StopOnReward reads them
        total = weighted = 0.0
        for _, row in metrics.iloc[: upto + 1][::-1].iterrows():
            if row["rollout/episodes"] > 0:
                total += row["rollout/episodes"]
                weighted += row["rollout/ep_return_mean"] * row["rollout/episodes"]
            if total >= 20:
                return weighted / total
        return float("nan")

    assert window_mean(len(metrics) - 1) >= 475  # met at the last epoch ...
    assert not any(window_mean(i) >= 475 for i in range(len(metrics) - 1))  # ... and at none before it


def test_a_config_with_stop_at_return_ends_by_itself_and_the_flag_overrides_it(tmp_path):
    from reinforce.config import from_dict
    from reinforce.run.trainer import train

    # a random linear policy on CartPole-v0 scores about 20: 15 is reached within the first epochs, 150 is not
    cfg = from_dict(dict(env_id="CartPole-v0", num_envs=8, steps_per_rollout=50, epochs=30, hidden_sizes=(), stop_at_return=15.0))
    stopped = train(cfg, tmp_path / "own", quiet=True, tensorboard=False)
    assert len(stopped) < 30 and stopped[-1]["rollout/ep_return_mean"] > 0
    assert reinforce.presets.preset("cartpole-fast").stop_at_return == 475.0  # the fast preset stops once solved
    whole = train(cfg, tmp_path / "flag", quiet=True, tensorboard=False, stop_at=1e9)  # the command's value wins
    assert len(whole) == 30


def test_stop_at_threshold_needs_a_number_where_the_env_registers_none(capsys):
    assert main(["train", "--env", "Pendulum-v1", "--stop-at-threshold", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "registers no reward_threshold" in err and "--stop-at-threshold 200" in err


def test_stop_at_threshold_resumes_exactly(tmp_path):
    """The window of recent episodes is rebuilt from metrics.csv on resume: an interrupted run stops at the
    same epoch as an uninterrupted one, and a run that had already reached it trains no further."""
    import pandas as pd

    from reinforce.run.trainer import resume, train

    cfg = reinforce.Config(env_id="CartPole-v1", num_envs=4, steps_per_rollout=64, epochs=60, lr=0.05,
                           hidden_sizes=(), seed=3, reset_each_epoch=False)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train(cfg, whole, quiet=True, tensorboard=False, stop_at=80, checkpoint_every=10)
    stopped = len(pd.read_csv(whole / "metrics.csv"))
    assert 10 < stopped < 60, "the case must stop after the first checkpoint, before the end"
    train(cfg.replace(epochs=10), parts, quiet=True, tensorboard=False, stop_at=80, checkpoint_every=10)
    resume(parts, quiet=True, tensorboard=False, epochs=60, stop_at=80)
    a, b = pd.read_csv(whole / "metrics.csv"), pd.read_csv(parts / "metrics.csv")
    keep = [c for c in a.columns if not c.startswith("time/")]
    pd.testing.assert_frame_equal(a[keep], b[keep])
    assert resume(parts, quiet=True, tensorboard=False, epochs=60, stop_at=80) == []  # reached: nothing more
    assert len(pd.read_csv(parts / "metrics.csv")) == stopped


def test_the_stopping_return_is_recorded_and_more_epochs_go_on_past_it(tmp_path, capsys):
    """config.toml holds the return a run stopped at (a plain resume or a repeat stops there too, not at the
    preset's); --resume --epochs N with more epochs than before trains on to N past that return, with a note."""
    from reinforce import config as config_mod

    run = tmp_path / "run"
    tiny = ["--num-envs", "8", "--steps-per-rollout", "32", "--no-plot", "--no-tensorboard"]
    assert main(["train", "--preset", "cartpole-fast", "--epochs", "10", "--stop-at-threshold", "30", "--out", str(run),
                 "--quiet", *tiny]) == 0
    assert "reached 30 after" in capsys.readouterr().out
    assert config_mod.load(run).stop_at_return == 30.0
    stopped = len(pd.read_csv(run / "metrics.csv"))
    assert stopped < 10 and main(["train", "--resume", str(run), "--quiet"]) == 0
    assert len(pd.read_csv(run / "metrics.csv")) == stopped  # a plain resume: complete
    assert main(["train", "--resume", str(run), "--epochs", "12"]) == 0
    assert "reached its stop_at_return 30 at epoch" in capsys.readouterr().err
    assert len(pd.read_csv(run / "metrics.csv")) == 12 and config_mod.load(run).epochs == 12
