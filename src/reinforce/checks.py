"""Argument checks shared by every layer: one wording for "an integer >= k" and "a finite number"."""
from __future__ import annotations

import math
import operator
from typing import Any


def require_int(name: str, value: Any, minimum: int = 0) -> int:
    """`value` as an int if it is an integer (not a bool; numpy's too, as Gymnasium's space sizes are) >= `minimum`,
    else a ValueError naming `name`."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or number < minimum:
        raise ValueError(f"{name} must be >= {minimum} (an integer), got {value!r}")
    return number


def require_finite(name: str, value: Any, low: float | None = None, high: float | None = None, low_open: bool = False) -> float:
    """`value` as a float if it is a finite real number within [low, high] (or (low, high] with `low_open`)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        if low is not None and high is not None:
            what = f"in {'(' if low_open else '['}{low:g}, {high:g}]"
        elif low is not None:
            what = f"{'>' if low_open else '>='} {low:g} (a finite number)"
        else:
            what = "a finite number"
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return float(value)
