"""Per-epoch metric logs of a run folder: `metrics.csv` and TensorBoard event files beside it."""
from __future__ import annotations

import csv
import io
import math
import sys
from pathlib import Path

from reinforce.metrics import METRIC_NAMES, Metrics
from reinforce.run.folder import RunWriteError, write_text_atomic


def metric_columns(first: Metrics) -> list[str]:
    """CSV columns: `METRIC_NAMES` first, then the first epoch's extra keys in their order."""
    return [*METRIC_NAMES, *(k for k in first if k not in METRIC_NAMES)]


class MetricsWriter:
    """Appends one CSV row per epoch, each with a single write and a flush, so a crash keeps every
    finished epoch and can tear at most the last row (which `truncate_metrics` then drops).

    The columns are fixed by the first row written. A resumed run appends to the existing file; if its
    first row brings keys the header lacks (`--eval-every` added on `--resume`), the file is rewritten
    once with those columns added at the end, empty in the earlier rows. Keys that appear only later
    are not written.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._file = None
        self._columns: list[str] | None = None

    def write(self, metrics: Metrics) -> None:
        text = io.StringIO()
        if self._columns is None:
            header, wanted = read_header(self.path), metric_columns(metrics)
            self._columns = header or wanted
            if header and any(k not in header for k in wanted):
                self._columns = [*header, *(k for k in wanted if k not in header)]
                widen_columns(self.path, self._columns)
            if not self.path.exists() or self.path.stat().st_size == 0:
                csv.writer(text).writerow(self._columns)
            self._file = self.path.open("a", newline="")
        csv.DictWriter(text, fieldnames=self._columns, extrasaction="ignore", restval="").writerow(metrics)
        self._file.write(text.getvalue())
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file, self._columns = None, None


def read_header(path: Path) -> list[str] | None:
    if not path.exists():
        return None
    with path.open(newline="") as f:
        return next(csv.reader(f), None)


def widen_columns(path: Path, columns: list[str]) -> None:
    """Rewrite the CSV at `path` (atomically) under the header `columns`, a superset of its own."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    _rewrite_csv(path, columns, rows)


def _rewrite_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    """Replace the CSV at `path` atomically with `rows` under the header `columns` (missing cells empty)."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, text.getvalue())


def truncate_metrics(path: Path, epochs: int) -> int:
    """Keep exactly the rows of epochs 0 .. `epochs` - 1, once each: a resumed run rewrites the ones
    after its checkpoint, and a row torn by a crash or a full disk (missing fields, a cut-off epoch
    number) ends what is kept. Returns the number of rows dropped; the file is replaced atomically.
    """
    if not path.exists():
        return 0
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        columns, rows = reader.fieldnames, list(reader)
    keep = []
    for row in rows:
        if len(keep) == epochs or not _whole_row(row, columns) or _epoch_of(row) != len(keep):
            break
        keep.append(row)
    if len(keep) == len(rows):
        return 0
    _rewrite_csv(path, columns, keep)
    return len(rows) - len(keep)


def logged_epochs(path: Path) -> int:
    """How many epochs metrics.csv at `path` holds (0 without the file): its whole rows numbered 0, 1, … in order."""
    if not path.exists():
        return 0
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        done = 0
        for row in reader:
            if not _whole_row(row, reader.fieldnames) or _epoch_of(row) != done:
                break
            done += 1
    return done


def _whole_row(row: dict, columns: list[str] | None) -> bool:
    return None not in row and all(row.get(c) is not None for c in columns or [])


def _epoch_of(row: dict) -> int | None:
    try:
        return int(float(row["epoch"]))
    except (KeyError, TypeError, ValueError):
        return None


class TensorBoardWriter:
    """Scalars under the same names as `metrics.csv` and the config as text. The x-axis
    (`global_step`) is env steps, all envs and processes together, as in SB3 and CleanRL, so runs of
    different epoch sizes line up; the epoch is a scalar of its own.

    `start_env_steps > 0` (a resumed run: the env steps at its checkpoint) purges events past it that
    an earlier, interrupted session wrote after its last checkpoint, so TensorBoard shows each epoch once.
    """

    def __init__(self, log_dir: Path, config_toml: str | None = None, start_env_steps: int = 0):
        try:  # imported lazily: it pulls in tensorboard
            from tensorboard.compat.proto.summary_pb2 import Summary
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise ImportError(
                "TensorBoard logging needs the tensorboard package: pip install tensorboard (or pass --no-tensorboard)"
            ) from None

        # the checkpoint's own epoch was logged at exactly start_env_steps: keep it, purge what came after
        self._summary, self._value = Summary, Summary.Value
        purge = start_env_steps + 1 if start_env_steps else None
        self._writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge, flush_secs=30)
        if config_toml is not None:
            # TensorBoard renders text as Markdown: indent by four spaces for a code block.
            self._writer.add_text("config", "".join(f"    {line}\n" for line in config_toml.splitlines()), 0)

    def write(self, metrics: Metrics) -> None:
        """One event per epoch holding every numeric metric (what `add_scalar` would write one event
        each for: 8x less time here, ~0.1 ms an epoch instead of ~0.9 with 20 metrics)."""
        step = int(metrics["time/env_steps"])
        values = [self._value(tag=name, simple_value=value if math.isfinite(value) else float("nan"))
                  for name, value in metrics.items() if isinstance(value, (int, float)) and not isinstance(value, bool)]
        self._writer._get_file_writer().add_summary(self._summary(value=values), step)

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()


class RunLogger:
    """Both logs together: `write(metrics)` once per epoch, `flush()` at checkpoints.

    metrics.csv is the record: failing to write it stops the run with a RunWriteError naming the
    file and the errno. TensorBoard's events are a view of it: if they cannot be written (their
    writer thread hits a full disk), they stop with a one-line warning and training goes on.
    """

    def __init__(self, run_dir: Path, config_toml: str, start_env_steps: int = 0, tensorboard: bool = True):
        self.csv = MetricsWriter(Path(run_dir) / "metrics.csv")
        self.tb: TensorBoardWriter | None = None
        if tensorboard:
            self.tb = TensorBoardWriter(run_dir, config_toml if start_env_steps == 0 else None, start_env_steps)

    def write(self, metrics: Metrics) -> None:
        try:
            self.csv.write(metrics)
        except OSError as err:
            reason = err.strerror or str(err)
            raise RunWriteError(err.errno, f"could not write {self.csv.path} ({reason}, errno {err.errno})") from None
        self._tb("write", metrics)

    def flush(self) -> None:
        self._tb("flush")

    def close(self) -> None:
        self.csv.close()
        self._tb("close")

    def _tb(self, method: str, *args: object) -> None:
        if self.tb is None:
            return
        try:
            getattr(self.tb, method)(*args)
        except Exception as err:  # noqa: BLE001 - any failure of the event writer only ends the events
            self.tb = None
            print(f"reinforce: warning: TensorBoard events stopped ({type(err).__name__}: {err}); metrics.csv goes on",
                  file=sys.stderr)
