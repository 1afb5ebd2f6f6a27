"""Graceful stop: the first SIGINT/SIGTERM asks the training loop to stop after the current epoch."""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType

SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


class GracefulStop:
    """Context manager: inside it, the first SIGINT or SIGTERM sets `requested` (the signal's name);
    a second one aborts (KeyboardInterrupt, exit code 130 from the CLI), for a loop that does not
    come back — but never inside `critical()` (a checkpoint being written): there it waits until the
    block is done. `announce=False` keeps it silent (the other ranks of a job: rank 0 speaks).

    Handlers can only be installed from the main thread; elsewhere this is a no-op.
    """

    def __init__(self, message: str = "finishing the current epoch, then saving a checkpoint", announce: bool = True):
        self.requested: str | None = None
        self.message, self.announce = message, announce
        self._previous: dict[int, object] = {}
        self._in_critical = False
        self._abort_pending = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:
            if self._in_critical:
                self._abort_pending = True
                return
            self._restore()
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        if self.announce:
            print(f"\nreinforce: {self.requested} received: {self.message} (send it again to abort)", file=sys.stderr, flush=True)

    @contextlib.contextmanager
    def critical(self) -> Iterator[None]:
        """A block a second signal does not interrupt (it aborts right after the block instead)."""
        self._in_critical = True
        try:
            yield
        finally:
            self._in_critical = False
            if self._abort_pending:
                self._abort_pending = False
                self._restore()
                raise KeyboardInterrupt

    def __enter__(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def __exit__(self, *exc: object) -> None:
        self._restore()
