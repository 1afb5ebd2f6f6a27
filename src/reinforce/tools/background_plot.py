"""A run's curve.png drawn by a helper process that loads the plotting stack while the run trains.

matplotlib and pandas take about a second to import: as long as a short `reinforce train` spends on
its training. The CLI starts `python -m reinforce.tools.background_plot` before training, so those
imports run on another core meanwhile; once the run ends it sends the run folder on the helper's
stdin and waits until the helper answers that curve.png is written. An empty line or a closed stdin
ends the helper without drawing; `cancel` (training failed) kills it. Where no helper can be started, the curve is
drawn in this process.

    plot = BackgroundPlot.start()
    try:
        train(...)
    except BaseException:
        plot.cancel()
        raise
    plot.draw(run_dir)          # -> run_dir/curve.png
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

class BackgroundPlot:
    """The parent's handle on one helper process (`start`, then `draw` or `cancel`)."""

    def __init__(self, proc: subprocess.Popen | None):
        self.proc = proc

    @classmethod
    def start(cls) -> BackgroundPlot:
        try:
            # its own session: a Ctrl-C to the terminal stops the run gracefully (which then still draws its
            # curve), it must not kill the helper; if this process dies, the helper's stdin closes and it exits
            proc = subprocess.Popen([sys.executable, "-m", "reinforce.tools.background_plot"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        except OSError:
            proc = None  # no helper (a process limit): draw here instead
        return cls(proc)

    def draw(self, run: Path) -> None:
        """Draw run/curve.png (when the run has a metrics.csv); a failure is one warning line, never an error.

        Returns once the helper says the file is written ("ok"), without waiting for its exit (~0.1 s
        of interpreter teardown). A helper that died (an import failed) is replaced by drawing here, so
        the warning, if any, names the real error."""
        proc, self.proc = self.proc, None  # one drawing per helper; `cancel` is a no-op from here on
        if proc is None:
            self._draw_here(run)
            return
        try:
            proc.stdin.write(f"{run}\n")
            proc.stdin.close()
            answer = proc.stdout.readline().strip()
        except OSError:  # the helper is gone (a broken pipe)
            answer = ""
        if answer == "ok":
            return
        if answer.startswith("error "):
            self._warn(run, answer.removeprefix("error "))
        else:
            proc.wait()
            self._draw_here(run)

    def cancel(self) -> None:
        """End the helper without drawing (at once: it may still be importing)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()

    def _draw_here(self, run: Path) -> None:
        try:
            draw_curve(run)
        except Exception as err:  # noqa: BLE001 - a plot never fails a finished run
            self._warn(run, describe_error(err))

    @staticmethod
    def _warn(run: Path, reason: str) -> None:
        print(f"reinforce: warning: could not draw {run / 'curve.png'} ({reason}); draw it with: reinforce plot {run}",
              file=sys.stderr)


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


def _helper() -> None:
    import reinforce.tools.plotting  # noqa: F401  (the slow imports, done before the run folder arrives)

    _warm_up()
    line = sys.stdin.readline().strip()
    if not line:
        return
    try:
        draw_curve(Path(line))
    except Exception as err:  # noqa: BLE001 - reported to the parent, which warns
        print(f"error {describe_error(err)}", flush=True)
        return
    print("ok", flush=True)


if __name__ == "__main__":
    _helper()
