"""A run's curve.png drawn by a helper process that loads the plotting stack while the run trains.

matplotlib and pandas take about a second to import: as long as a short `reinforce train` spends on
its training. The CLI starts `python -m reinforce.tools.background_plot` before training, so those
imports run on another core meanwhile (at a lower priority, so the run's own timing, e.g.
`num_threads="auto"`, is barely touched). The run folder is the helper's argument; once the run ends
the parent writes "draw" on the helper's stdin and waits until it answers that curve.png is written.
Anything else, or a closed stdin, ends the helper without drawing; `cancel` (training failed) kills it. Where no helper can be started, the curve is
drawn in this process.

    plot = BackgroundPlot.start(run_dir)
    try:
        train(...)
    except BaseException:
        plot.cancel()
        raise
    plot.draw()                 # -> run_dir/curve.png
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DRAW_TIMEOUT_S = 300.0  # a helper that has not answered by then is killed and the curve drawn here


class BackgroundPlot:
    """The parent's handle on one helper process for `run` (`start`, then `draw` or `cancel`)."""

    def __init__(self, run: Path, proc: subprocess.Popen | None):
        self.run, self.proc = Path(run), proc

    @classmethod
    def start(cls, run: str | Path) -> BackgroundPlot:
        try:
            # The folder goes in argv (the OS's own encoding of any path; a pipe's text encoding may not hold it).
            # Its own session: a Ctrl-C to the terminal stops the run gracefully (which then still draws its
            # curve), it must not kill the helper; if this process dies, the helper's stdin closes and it exits.
            proc = subprocess.Popen([sys.executable, "-m", "reinforce.tools.background_plot", os.fspath(run)],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                    start_new_session=True)
        except OSError:
            proc = None  # no helper (a process limit): draw here instead
        return cls(Path(run), proc)

    def draw(self) -> None:
        """Draw run/curve.png (when the run has a metrics.csv); a failure is one warning line, never an error.

        Returns once the helper says the file is written ("ok"), without waiting for its exit (~0.1 s
        of interpreter teardown). A helper that died, hangs or answers nonsense is replaced by drawing
        here, so the warning, if any, names the real error."""
        proc, self.proc = self.proc, None  # one drawing per helper; `cancel` is a no-op from here on
        if proc is None:
            self._draw_here()
            return
        answer = ""
        try:
            proc.stdin.write("draw\n")
            proc.stdin.close()
            answer = _read_line(proc, DRAW_TIMEOUT_S)
        except Exception:  # noqa: BLE001 - a broken pipe, a timeout: draw here instead
            pass
        if answer == "ok":
            return
        _end(proc)
        if answer.startswith("error "):
            self._warn(answer.removeprefix("error "))
        else:
            self._draw_here()

    def cancel(self) -> None:
        """End the helper without drawing (at once: it may still be importing)."""
        if self.proc is not None:
            _end(self.proc)
            self.proc = None

    def _draw_here(self) -> None:
        try:
            draw_curve(self.run)
        except Exception as err:  # noqa: BLE001 - a plot never fails a finished run
            self._warn(describe_error(err))

    def _warn(self, reason: str) -> None:
        print(f"reinforce: warning: could not draw {self.run / 'curve.png'} ({reason}); "
              f"draw it with: reinforce plot {self.run}", file=sys.stderr)


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    """The helper's one-line answer, or "" if it ends (or says nothing) within `timeout` seconds."""
    import threading  # a reader thread: select() does not take pipes on Windows

    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    return line[0].strip() if line else ""


def _end(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def describe_error(err: Exception) -> str:
    """`Type: first line of the message`, one line."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def draw_curve(run: Path) -> None:
    """curve.png of one run folder, in this process."""
    from reinforce.tools.plotting import plot_runs  # matplotlib and pandas: only where a plot is drawn

    if (run / "metrics.csv").exists():
        plot_runs([run], run / "curve.png")


def _warm_up() -> None:
    """What a first drawing pays once (fonts, text layout, the PNG encoder, pandas' CSV reader: ~0.2 s),
    paid while the run trains: a throwaway figure saved to memory."""
    import io

    import pandas as pd
    from matplotlib.figure import Figure

    pd.read_csv(io.StringIO("epoch,value\n0,1.5\n"))
    fig = Figure(figsize=(7, 4.8))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0.0, 1.0], label="warm-up")
    ax.set(title="warm-up", xlabel="epoch", ylabel="return")
    ax.legend()
    fig.savefig(io.BytesIO(), format="png", dpi=120, bbox_inches="tight")


def _helper(run: Path) -> None:
    if hasattr(os, "nice"):
        os.nice(10)  # the run being trained comes first
    import reinforce.tools.plotting  # noqa: F401  (the slow imports, done before the run ends)

    _warm_up()
    if sys.stdin.readline().strip() != "draw":
        return
    try:
        draw_curve(run)
    except Exception as err:  # noqa: BLE001 - reported to the parent, which warns
        print(f"error {describe_error(err)}", flush=True)
        return
    print("ok", flush=True)


if __name__ == "__main__":
    _helper(Path(sys.argv[1]))
