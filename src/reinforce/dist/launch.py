"""Starting data-parallel jobs on this machine: the torchrun command, the local launcher, core counts."""
from __future__ import annotations

import os
import re
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
        "--monitor-interval=0.1",  # notice a dead rank within 0.1 s, not torchrun's default 0.1-5 s
        "-m",
        "reinforce",
        *argv,
    ]


def launch_local(nproc: int, argv: Sequence[str], max_restarts: int = 0) -> int:
    """Run `reinforce ARGV` as `nproc` data-parallel processes on this machine; returns the job's exit code.

    Each worker gets cores / nproc intra-op threads (OMP_NUM_THREADS) unless that is set already.
    torchrun runs in its own session, so a Ctrl-C reaches it once, through this process: SIGINT and
    SIGTERM are forwarded to it, it forwards them to the workers, which finish the epoch, checkpoint
    and exit; then this returns 0. The workers' lines pass through; torchrun's own traceback and
    failure report become at most one line, and the exit code is the failing rank's (2 for bad
    input, 1 for a runtime failure, 3 when it stopped because another rank failed). When every rank
    fails with the same "reinforce: error:" line, it is printed once.
    """
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, available_cores() // nproc)))
    proc = subprocess.Popen(
        torchrun_command(nproc, argv, max_restarts), env=env, stderr=subprocess.PIPE, text=True, bufsize=1, start_new_session=True
    )
    signals: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        signals.append(signum)
        proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    output = TorchrunOutput(sys.stderr)
    try:
        for line in proc.stderr:
            output.feed(line)
        code = proc.wait()
    finally:
        output.finish()  # the held rank errors
        for s, handler in previous.items():
            signal.signal(s, handler)
    if signals and code != 0 and output.root_exitcode in (None, 0, -signal.SIGINT, -signal.SIGTERM):
        return 0  # stopped on request: the workers checkpointed and said how to resume
    if code == 0:
        return 0
    if not output.reported:
        sys.stderr.write(f"reinforce: error: {output.summary()}\n")
    return output.job_exitcode()


# torchrun's own log lines ("E1204 17:10:58.614000 15049 torch/distributed/...").
AGENT_LOG = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ \S*torch/")
# What a rank's C++ runtime prints when the process group is torn down under it: never the cause.
TEARDOWN_NOISE = ("terminate called without an active exception",)
# A worker's one-line error in a multi-process job (cli.py's rank prefix).
RANK_ERROR = re.compile(r"reinforce: error: rank (\d+) of (\d+): (.*)")


class TorchrunOutput:
    """Copies the workers' stderr lines to `out`, without torchrun's traceback and failure report,
    from which it keeps the root cause (rank and exit code)."""

    def __init__(self, out: Any):
        self.out = out
        self.traceback: list[str] | None = None
        self.report_rules = -1  # "====" lines seen inside torchrun's failure report; -1 outside it
        self.in_root_cause = False
        self.root_rank: int | None = None
        self.root_exitcode: int | None = None
        self.exitcodes: list[int] = []  # every failed rank's, in the report's order
        self.reported = False  # a worker already printed a "reinforce: error:" line
        self.rank_errors: dict[int, tuple[int, str, str]] = {}  # rank -> (world, message, line), held until finish()

    def feed(self, line: str) -> None:
        if self.report_rules >= 0:
            self._report_line(line)
        elif self.traceback is not None:
            self.traceback.append(line)
            if line.strip() and not line.startswith((" ", "\t", "Traceback")):  # the exception line ends it
                block, self.traceback = self.traceback, None
                if "ChildFailedError" in line or "SignalException" in line or any("torch/distributed/" in b for b in block):
                    self.report_rules = 0 if "ChildFailedError" in line else -1
                    return
                self._write("".join(block))
        elif line.startswith("Traceback (most recent call last):"):
            self.traceback = [line]
        elif not AGENT_LOG.match(line) and line.strip() not in TEARDOWN_NOISE:
            self.reported = self.reported or line.startswith("reinforce: error:")
            error = RANK_ERROR.fullmatch(line.rstrip("\n"))
            if error is None:
                self._write(line)
                return
            if int(error[1]) in self.rank_errors:  # a restarted group's: write the last attempt's first
                self.finish()
            self.rank_errors[int(error[1])] = (int(error[2]), error[3], line if line.endswith("\n") else line + "\n")

    def finish(self) -> None:
        """Write the held rank errors: one line when every rank failed with the same message, else each."""
        held, self.rank_errors = self.rank_errors, {}
        worlds, messages = {w for w, _, _ in held.values()}, {m for _, m, _ in held.values()}
        if len(held) > 1 and len(messages) == 1 and len(worlds) == 1 and set(held) == set(range(worlds.pop())):
            self._write(f"reinforce: error: all {len(held)} ranks: {messages.pop()}\n")
            return
        for _, _, line in held.values():  # in the order they came
            self._write(line)

    def _report_line(self, line: str) -> None:
        if line.startswith("===="):
            self.report_rules += 1
            if self.report_rules == 2:
                self.report_rules = -1
            return
        self.in_root_cause = self.in_root_cause or line.startswith("Root Cause")
        rank = re.match(r"\s*rank\s*:\s*(\d+)", line)
        code = re.match(r"\s*exitcode\s*:\s*(-?\d+)", line)
        if code:
            self.exitcodes.append(int(code[1]))
        if self.in_root_cause:
            if rank and self.root_rank is None:
                self.root_rank = int(rank[1])
            if code and self.root_exitcode is None:
                self.root_exitcode = int(code[1])

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def job_exitcode(self) -> int:
        """The CLI's code for the job: 2 if a rank refused its input, else 1 (a runtime failure or a
        killed rank). A rank's 3 ("another rank failed") is a consequence, never the job's code."""
        return 2 if 2 in self.exitcodes else 1

    def summary(self) -> str:
        if self.root_rank is None:
            return "the torchrun job failed"
        code = self.root_exitcode
        if code is not None and code < 0:
            return f"rank {self.root_rank} was killed by {signal.Signals(-code).name}, so torchrun ended the job"
        return f"rank {self.root_rank} stopped with exit code {code}, so torchrun ended the job"
