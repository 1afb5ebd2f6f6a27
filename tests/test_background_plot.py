"""tools/background_plot.py: the curve drawn by a helper process, its cancel, and its fallbacks."""
import subprocess

import reinforce
from reinforce.run.trainer import train
from reinforce.tools.background_plot import BackgroundPlot

SMALL = dict(env_id="CartPole-v1", num_envs=4, steps_per_rollout=16, epochs=3, hidden_sizes=())


def _run(tmp_path):
    run = tmp_path / "run"
    train(reinforce.Config(**SMALL), run, quiet=True, tensorboard=False)
    return run


def test_the_helper_draws_the_run_it_is_sent(tmp_path, capsys):
    run = _run(tmp_path)
    helper = BackgroundPlot.start()
    proc = helper.proc
    assert proc is not None and proc.poll() is None  # waiting for the run folder
    helper.draw(run)  # returns once the helper says the file is written, before it exits
    assert (run / "curve.png").stat().st_size > 10_000
    assert proc.wait(timeout=30) == 0 and capsys.readouterr().err == ""
    helper.cancel()  # after a drawing: nothing left to end


def test_a_helper_that_died_is_replaced_by_drawing_here(tmp_path, capsys):
    run = _run(tmp_path)
    helper = BackgroundPlot.start()
    helper.proc.kill()  # as if its imports had failed
    helper.proc.wait()
    helper.draw(run)
    assert (run / "curve.png").stat().st_size > 10_000 and capsys.readouterr().err == ""


def test_cancel_ends_the_helper_at_once_without_drawing(tmp_path):
    helper = BackgroundPlot.start()
    helper.cancel()
    assert helper.proc.returncode is not None
    helper.cancel()  # twice is harmless


def test_a_failed_drawing_is_one_warning_naming_the_command(tmp_path, capsys):
    run = tmp_path / "broken"
    run.mkdir()
    (run / "metrics.csv").write_text("not,a\nrun's,metrics\n")  # no config.toml, no epochs
    BackgroundPlot.start().draw(run)
    err = capsys.readouterr().err
    assert err.startswith("reinforce: warning: could not draw") and f"reinforce plot {run}" in err
    assert err.count("\n") == 1 and not (run / "curve.png").exists()


def test_without_a_helper_the_curve_is_drawn_here(tmp_path, monkeypatch):
    run = _run(tmp_path)

    def no_processes(*args, **kwargs):
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(subprocess, "Popen", no_processes)
    helper = BackgroundPlot.start()
    assert helper.proc is None
    helper.draw(run)
    assert (run / "curve.png").stat().st_size > 10_000


def test_a_train_that_fails_leaves_no_helper_running(tmp_path, monkeypatch, capsys):
    from reinforce.cli import main

    started = []
    real_start = BackgroundPlot.start.__func__

    def start(cls):
        started.append(real_start(cls))
        return started[-1]

    monkeypatch.setattr(BackgroundPlot, "start", classmethod(start))
    taken = tmp_path / "r"
    taken.mkdir()
    (taken / "notes.txt").write_text("someone's")  # train() refuses the folder, after the helper started
    assert main(["train", "--env", "CartPole-v1", "--epochs", "1", "--out", str(taken)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert len(started) == 1 and started[0].proc.returncode is not None  # killed, not left importing
