"""num_threads = "auto": candidates, the timing schedule, the choice, and a resume that keeps it."""
import pytest
import torch

import reinforce
from reinforce import config as config_mod
from reinforce.cli import parser
from reinforce.run.build import build
from reinforce.run.checkpoint import load_checkpoint
from reinforce.run.threads import ThreadChooser, candidates
from reinforce.run.trainer import resume, train

SMALL = dict(env_id="CartPole-v1", num_envs=4, steps_per_rollout=16, epochs=6, lr=0.05, hidden_sizes=(), num_threads="auto")


@pytest.fixture(autouse=True)
def _threads_restored():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_candidates_are_one_two_and_every_core():
    assert candidates(1) == [1] and candidates(2) == [1, 2] and candidates(16) == [1, 2, 16]


class _Agent:
    num_threads_chosen = None


def test_the_chooser_alternates_then_keeps_the_best_median():
    agent = _Agent()
    chooser = ThreadChooser(agent, options=[1, 2], rounds=2, warmup=1, quiet=True)
    chooser.on_training_start(agent)
    speeds = {1: [100.0, 300.0], 2: [200.0, 210.0]}  # medians: 1 -> 200, 2 -> 205
    ran = []
    for epoch in range(7):
        ran.append(torch.get_num_threads())
        metrics = {"epoch": epoch}
        chooser.on_epoch_end(metrics)
        assert metrics["time/num_threads"] == ran[-1]
        timed = epoch - 1  # epoch 0 is the warm-up
        value = speeds[ran[-1]].pop(0) if 0 <= timed < 4 else 1.0
        chooser.on_update_end({**metrics, "time/steps_per_s": value})
    assert ran[:5] == [1, 1, 2, 1, 2]  # warm-up, then 1, 2, 1, 2
    assert agent.num_threads_chosen == 2 and ran[5:] == [2, 2]
    assert chooser.timings == {1: [100.0, 300.0], 2: [200.0, 210.0]}


def test_a_short_run_keeps_the_best_of_what_it_timed():
    agent = _Agent()
    chooser = ThreadChooser(agent, options=[1, 2], quiet=True)
    chooser.on_training_start(agent)
    for epoch, speed in enumerate([5.0, 10.0, 20.0]):  # warm-up, 1 thread, 2 threads; then training ends
        chooser.on_update_end({"epoch": epoch, "time/steps_per_s": speed})
    chooser.on_training_end()
    assert agent.num_threads_chosen == 2


def test_auto_in_training_logs_the_count_and_a_resume_keeps_the_choice(tmp_path):
    run = tmp_path / "run"
    cfg = reinforce.Config(**SMALL)
    history = train(cfg, run, quiet=True, tensorboard=False, checkpoint_every=6)
    assert all(m["time/num_threads"] in candidates() for m in history)
    chosen = load_checkpoint(run / "checkpoint.pt")["agent"]["num_threads"]
    assert chosen in candidates() and history[-1]["time/num_threads"] == chosen
    torch.set_num_threads(7)  # whatever the process had: the resumed run sets the saved count again
    more = resume(run, quiet=True, tensorboard=False, epochs=8)
    assert [m["time/num_threads"] for m in more] == [chosen, chosen]


def test_a_fixed_count_is_set_and_not_timed():
    _, _, agent = build(reinforce.Config(**{**SMALL, "num_threads": 1}))
    history = agent.learn(3)
    assert "time/num_threads" not in history[-1] and agent.num_threads_chosen is None
    assert torch.get_num_threads() == 1


def test_config_and_flag_take_auto_or_a_count(tmp_path):
    assert reinforce.Config(num_threads="auto").num_threads == "auto"
    with pytest.raises(ValueError, match="num_threads must be a count >= 1, auto or none"):
        reinforce.Config(num_threads="two")
    with pytest.raises(ValueError, match="num_threads"):
        reinforce.Config(num_threads=0)
    cfg = reinforce.Config(num_threads="auto")
    config_mod.save(cfg, tmp_path / "c.toml")
    assert config_mod.load(tmp_path / "c.toml") == cfg
    assert parser().parse_args(["train", "--num-threads", "auto"]).num_threads == "auto"
    assert parser().parse_args(["train", "--num-threads", "3"]).num_threads == 3
