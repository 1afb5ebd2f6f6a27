"""tools/background_plot.py: the curve drawn by a helper process, its cancel, and its fallbacks."""
import subprocess
import sys

import reinforce
from reinforce.run.trainer import train
from reinforce.tools import background_plot
from reinforce.tools.background_plot import BackgroundPlot

SMALL = dict(env_id="CartPole-v1", num_envs=4, steps_per_rollout=16, epochs=3, hidden_sizes=())


def _run(tmp_path, name="run"):
    run = tmp_path / name
    train(reinforce.Config(**SMALL), run, quiet=True, tensorboard=False)
    return run


def test_the_helper_draws_its_run(tmp_path, capsys):
    run = _run(tmp_path)
    helper = BackgroundPlot.start(run)
    proc = helper.proc
    assert proc is not None and proc.poll() is None  # importing, then waiting for the word
    helper.draw()  # returns once the helper says the file is written, before it exits
    assert (run / "curve.png").stat().st_size > 10_000
    assert proc.wait(timeout=30) == 0 and capsys.readouterr().err == ""
    helper.cancel()  # after a drawing: nothing left to end


def test_any_path_reaches_the_helper(tmp_path, capsys):
    """The folder travels in argv, not through a text pipe: names beyond ASCII (which a cp1252 pipe would not
    hold) and with a newline (which a line protocol would cut) arrive whole."""
    for name in ("кириллица-运行", "two\nlines"):
        run = _run(tmp_path, name)
        BackgroundPlot.start(run).draw()
        assert (run / "curve.png").stat().st_size > 10_000, name
    assert capsys.readouterr().err == ""


def test_a_helper_that_died_is_replaced_by_drawing_here(tmp_path, capsys):
    run = _run(tmp_path)
    helper = BackgroundPlot.start(run)
    helper.proc.kill()  # as if its imports had failed
    helper.proc.wait()
    helper.draw()
    assert (run / "curve.png").stat().st_size > 10_000 and capsys.readouterr().err == ""


def test_a_helper_that_never_answers_is_killed_and_the_curve_drawn_here(tmp_path, monkeypatch):
    run = _run(tmp_path)
    silent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    monkeypatch.setattr(background_plot, "DRAW_TIMEOUT_S", 0.5)
    BackgroundPlot(run, silent).draw()
    assert silent.returncode is not None and (run / "curve.png").stat().st_size > 10_000


def test_cancel_ends_the_helper_at_once_without_drawing(tmp_path):
    helper = BackgroundPlot.start(tmp_path)
    proc = helper.proc
    helper.cancel()
    assert proc.returncode is not None and not (tmp_path / "curve.png").exists()
    helper.cancel()  # twice is harmless


def test_a_failed_drawing_is_one_warning_naming_the_command(tmp_path, capsys):
    run = tmp_path / "broken"
    run.mkdir()
    (run / "metrics.csv").write_text("not,a\nrun's,metrics\n")  # no config.toml, no epochs
    BackgroundPlot.start(run).draw()
    err = capsys.readouterr().err
    assert err.startswith("reinforce: warning: could not draw") and f"reinforce plot {run}" in err
    assert err.count("\n") == 1 and not (run / "curve.png").exists()


def test_without_a_helper_the_curve_is_drawn_here(tmp_path, monkeypatch):
    run = _run(tmp_path)

    def no_processes(*args, **kwargs):
        raise OSError("Resource temporarily unavailable")

    monkeypatch.setattr(subprocess, "Popen", no_processes)
    helper = BackgroundPlot.start(run)
    assert helper.proc is None
    helper.draw()
    assert (run / "curve.png").stat().st_size > 10_000


def test_a_train_that_fails_leaves_no_helper_running(tmp_path, monkeypatch, capsys):
    from reinforce.cli import main

    started = []
    real_start = BackgroundPlot.start.__func__

    def start(cls, run):
        started.append(real_start(cls, run))
        started.append(started[-1].proc)
        return started[-2]

    monkeypatch.setattr(BackgroundPlot, "start", classmethod(start))
    taken = tmp_path / "r"
    taken.mkdir()
    (taken / "notes.txt").write_text("someone's")  # train() refuses the folder, after the helper started
    assert main(["train", "--env", "CartPole-v1", "--epochs", "1", "--out", str(taken)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert len(started) == 2 and started[1].returncode is not None  # killed, not left importing
