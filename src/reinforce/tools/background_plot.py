"""A run's curve.png drawn by a helper process that loads the plotting stack while the run trains.

matplotlib and pandas take about a second to import: as long as a short `reinforce train` spends on
its training. The CLI starts `python -m reinforce.tools.background_plot` before training, so those
imports run on another core meanwhile; once the run ends it sends the run folder on the helper's
stdin and waits for the drawing. An empty line or a closed stdin ends the helper
without drawing; `cancel` (training failed) kills it. Where no helper can be started, the curve is
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

DRAW_TIMEOUT_S = 300.0


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
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        except OSError:
            proc = None  # no helper (a process limit): draw here instead
        return cls(proc)

    def draw(self, run: Path) -> None:
        """Draw run/curve.png (when the run has a metrics.csv); a failure is one warning line, never an error."""
        if self.proc is None:
            draw_curve(run)
            return
        try:
            _, err = self.proc.communicate(f"{run}\n", timeout=DRAW_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate()
            err = f"no plot after {DRAW_TIMEOUT_S:.0f} s"
        if self.proc.returncode:
            last = (err or "").strip().splitlines()[-1:] or [f"exit code {self.proc.returncode}"]
            print(f"reinforce: warning: could not draw {run / 'curve.png'} ({last[0]}); "
                  f"draw it with: reinforce plot {run}", file=sys.stderr)

    def cancel(self) -> None:
        """End the helper without drawing (at once: it may still be importing)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate()


def draw_curve(run: Path) -> None:
    """curve.png of one run folder, in this process."""
    from reinforce.tools.plotting import plot_runs  # matplotlib and pandas: only where a plot is drawn

    if (run / "metrics.csv").exists():
        plot_runs([run], run / "curve.png")


def _helper() -> None:
    import reinforce.tools.plotting  # noqa: F401  (the slow imports, done before the run folder arrives)

    line = sys.stdin.readline().strip()
    if line:
        draw_curve(Path(line))


if __name__ == "__main__":
    _helper()
