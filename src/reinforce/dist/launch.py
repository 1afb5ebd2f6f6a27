"""Starting data-parallel jobs on this machine: the torchrun command, the local launcher, core counts."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from reinforce.checks import require_int


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it, else the core count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1



def remove_flag(argv: Sequence[str], flag: str) -> list[str]:
    """argv without `flag VALUE` / `flag=VALUE` (e.g. drop --nproc before handing argv to torchrun's workers)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == flag:
            skip = True
            continue
        if arg.startswith(flag + "="):
            continue
        out.append(arg)
    return out


def torchrun_command(nproc: int, argv: Sequence[str], max_restarts: int = 0) -> list[str]:
    """`python -m torch.distributed.run --standalone --nproc-per-node N -m reinforce ARGV` (one machine)."""
    require_int("--nproc", nproc, 1)
    require_int("--max-restarts", max_restarts, 0)
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={nproc}",
        f"--max-restarts={int(max_restarts)}",
        "-m",
        "reinforce",
        *argv,
    ]


def launch_local(nproc: int, argv: Sequence[str], max_restarts: int = 0) -> int:
    """Run `reinforce ARGV` as `nproc` data-parallel processes on this machine; returns torchrun's exit code.

    Each worker gets cores / nproc intra-op threads (OMP_NUM_THREADS) unless that is set already.
    Ctrl-C reaches torchrun and the workers directly; SIGTERM sent to this process is forwarded to
    torchrun, which stops the workers (SIGTERM, then SIGKILL after its --shutdown-timeout).
    """
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, available_cores() // nproc)))
    proc = subprocess.Popen(torchrun_command(nproc, argv, max_restarts), env=env)

    def forward(signum: int, frame: Any) -> None:
        proc.send_signal(signum)

    previous = signal.signal(signal.SIGTERM, forward)
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # torchrun got the same Ctrl-C: wait for it to stop the workers
                continue
    finally:
        signal.signal(signal.SIGTERM, previous)
