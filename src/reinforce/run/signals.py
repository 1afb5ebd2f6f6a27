"""Graceful stop: the first SIGINT/SIGTERM asks the training loop to stop after the current epoch."""
from __future__ import annotations

import signal
import sys
import threading
from types import FrameType

SIGNALS = tuple(s for s in (signal.SIGINT, getattr(signal, "SIGTERM", None)) if s is not None)


class GracefulStop:
    """Context manager: inside it, the first SIGINT or SIGTERM sets `requested` (the signal's name);
    a second one aborts at once (KeyboardInterrupt), for a loop that does not come back.

    Handlers can only be installed from the main thread; elsewhere this is a no-op.
    """

    def __init__(self, message: str = "finishing the current epoch, then saving a checkpoint"):
        self.requested: str | None = None
        self.message = message
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:
            self._restore()
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name
        print(f"\nreinforce: {self.requested} received: {self.message} (send it again to abort)", file=sys.stderr, flush=True)

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
