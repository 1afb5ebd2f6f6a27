"""The search space of `reinforce tune`: read and check a TOML file, or pick a default from the base Config.

    lr = {low = 1e-4, high = 1e-1, log = true}      # a float range, log-uniform
    gamma = {low = 0.9, high = 0.999}               # uniform
    value_iters = {low = 2, high = 20, step = 2}     # an int range (the field is an int)
    hidden_sizes = {choices = [[32], [64, 64]]}      # one of these values

Every key is a Config field; ranges go with number fields, choices with any field. No torch here, no
optuna either: `tune.py` turns a `Param` into a `trial.suggest_*` call.
"""
from __future__ import annotations

import json
import math
import sys
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from reinforce.config import Config, read_toml

ENTRY_KEYS = ("low", "high", "log", "step", "choices")
FIXED = {  # fields a study keeps fixed: they change what is measured, not how well the algorithm does
    "seed": "the seeds are set with --seeds",
    "env_id": "a study tunes one env",
    "device": "it changes where a trial runs, not its result",
    "num_threads": "it changes where a trial runs, not its result",
    "cuda_graph": "it changes how an epoch is launched, not its result",
    "stop_at_return": "it decides when a run stops, not how well it learns (trials stop at the base config's value, as train does)",
}
ACCEPTED = "{low = A, high = B} (optionally log = true, step = S) or {choices = [...]}"


@dataclass(frozen=True)
class Param:
    """One searched Config field: a float or int range, or a list of choices."""

    name: str
    kind: str  # "float", "int" or "choice"
    low: float | int | None = None
    high: float | int | None = None
    log: bool = False
    step: float | int | None = None
    choices: tuple[Any, ...] = ()

    @property
    def labels(self) -> tuple[Any, ...]:
        """The choices as optuna stores them (None, bool, int, float or str): lists become JSON text."""
        return tuple(label(c) for c in self.choices)

    def value(self, suggested: Any) -> Any:
        """The Config value of what the sampler suggested (a label back to its list)."""
        if self.kind == "choice" and isinstance(suggested, str):
            for choice in self.choices:
                if label(choice) == suggested:
                    return choice
        return suggested

    def describe(self) -> str:
        if self.kind == "choice":
            return f"{self.name}: one of {', '.join(map(str, self.labels))}"
        extra = " log" if self.log else f" step {self.step:g}" if self.step is not None else ""
        return f"{self.name}: {self.kind} in [{self.low:g}, {self.high:g}]{extra}"


def label(choice: Any) -> Any:
    return json.dumps(list(choice)) if isinstance(choice, (list, tuple)) else choice


def _field_type(name: str) -> type:
    """The field's type with Optional removed: float, int, bool, str or tuple."""
    hint = typing.get_type_hints(Config)[name]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(h for h in typing.get_args(hint) if h is not type(None))
    return typing.get_origin(hint) or hint


def _number(name: str, what: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"search space key {name!r}: {what} must be a finite number, got {value!r}")
    return value


def parse_entry(name: str, entry: Any) -> Param:
    """One `name = {...}` entry -> Param, or a ValueError naming the key and what is accepted."""
    known = [f.name for f in fields(Config)]
    if name not in known:
        raise ValueError(f"search space key {name!r} is not a Config field; known fields: {', '.join(known)}")
    if name in FIXED:
        raise ValueError(f"search space key {name!r} cannot be searched: {FIXED[name]}")
    if not isinstance(entry, dict):
        raise ValueError(f"search space key {name!r} must be a table {ACCEPTED}, got {entry!r}")
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        raise ValueError(f"search space key {name!r}: unknown entry {unknown[0]!r}; accepted: {ACCEPTED}")
    kind = _field_type(name)
    if "choices" in entry:
        if set(entry) != {"choices"}:
            raise ValueError(f"search space key {name!r}: give either choices or low/high, not both")
        choices = entry["choices"]
        if not isinstance(choices, list) or not choices:
            raise ValueError(f"search space key {name!r}: choices must be a non-empty list, got {choices!r}")
        values = tuple(tuple(c) if isinstance(c, list) else c for c in choices)
        if len(set(map(label, values))) < len(values):
            raise ValueError(f"search space key {name!r}: choices repeat a value: {choices!r}")
        return Param(name, "choice", choices=values)
    if "low" not in entry or "high" not in entry:
        raise ValueError(f"search space key {name!r} needs both low and high, or choices; accepted: {ACCEPTED}")
    if kind not in (int, float):
        raise ValueError(f"search space key {name!r} is a {kind.__name__} field: give choices = [...], not a range")
    low, high = _number(name, "low", entry["low"]), _number(name, "high", entry["high"])
    log, step = entry.get("log", False), entry.get("step")
    if not isinstance(log, bool):
        raise ValueError(f"search space key {name!r}: log must be true or false, got {log!r}")
    if kind is int and not all(isinstance(v, int) for v in (low, high, step if step is not None else 1)):
        raise ValueError(f"search space key {name!r} is an int field: low, high and step must be integers")
    if not low < high:
        raise ValueError(f"search space key {name!r}: low must be below high, got low = {low!r}, high = {high!r}")
    if log and low <= 0:
        raise ValueError(f"search space key {name!r}: a log range needs low > 0, got {low!r}")
    if step is not None:
        if _number(name, "step", step) <= 0:
            raise ValueError(f"search space key {name!r}: step must be > 0, got {step!r}")
        if log:
            raise ValueError(f"search space key {name!r}: give either log = true or step, not both")
    if kind is float:
        return Param(name, "float", float(low), float(high), log, None if step is None else float(step))
    return Param(name, "int", low, high, log, step)


def parse_space(data: dict[str, Any]) -> dict[str, Param]:
    """A search space from TOML's table: {field: Param}, in the file's order."""
    if not data:
        raise ValueError(f"the search space is empty; give at least one Config field as {ACCEPTED}")
    return {name: parse_entry(name, entry) for name, entry in data.items()}


def load_space(path: str | Path) -> dict[str, Param]:
    """Read a search-space TOML file (see the module docstring)."""
    path = Path(path)
    data = read_toml(path, "search space file")
    try:
        return parse_space(data)
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def check_space(space: dict[str, Param], base: Config) -> None:
    """Every end of every range and every choice must make a valid Config with `base`'s other settings
    (gamma <= 1, hidden_sizes a list of ints ...): checked before the first trial, not in trial 7."""
    for p in space.values():
        for value in (p.low, p.high) if p.kind != "choice" else p.choices:
            try:
                base.replace(**{p.name: value})
            except (ValueError, TypeError, KeyError) as err:
                message = err.args[0] if isinstance(err, KeyError) and err.args else err
                raise ValueError(f"search space key {p.name!r}: {value!r} is not accepted: {message}") from None


def default_space(base: Config) -> dict[str, Param]:
    """The space searched without --space: lr a decade either side of the base's (log), gamma,
    entropy_coef; for MLP policies the hidden sizes; GAE's λ; the value function's lr."""
    space = {
        "lr": Param("lr", "float", base.lr / 10, min(base.lr * 10, 1.0), log=True),
        "gamma": Param("gamma", "float", 0.9, 0.999),
        "entropy_coef": Param("entropy_coef", "float", 0.0, 0.02),
    }
    if base.hidden_sizes:  # a linear policy (hidden_sizes = ()) stays linear: that was the base's choice
        sizes = [(32, 32), (64, 64), (128, 128)]
        space["hidden_sizes"] = Param("hidden_sizes", "choice", choices=tuple(dict.fromkeys([*sizes, base.hidden_sizes])))
    if base.baseline == "gae":
        space["gae_lambda"] = Param("gae_lambda", "float", 0.8, 1.0)
    if base.baseline in ("value", "gae"):
        space["value_lr"] = Param("value_lr", "float", 1e-4, 1e-2, log=True)
    return space


def apply(base: Config, values: dict[str, Any]) -> Config:
    """`base` with the searched values in place (checked as a config file's values are)."""
    return base.replace(**values) if values else base


__all__ = ["Param", "apply", "check_space", "default_space", "load_space", "parse_space"]
