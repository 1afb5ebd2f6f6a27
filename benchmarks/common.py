"""Helpers shared by the benchmark scripts (run as `python benchmarks/<script>.py`)."""
from __future__ import annotations

import json
from pathlib import Path


def emit_json(result: dict, out: str | Path | None) -> None:
    """Print `result` as JSON and, with `out`, also write it there (folders created)."""
    text = json.dumps(result, indent=1)
    print(text)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(text + "\n")
