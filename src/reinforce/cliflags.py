"""Command-line flags generated from the Config dataclass: one flag per field, help from its docstring.

`--num-envs` for `num_envs` and so on; `env_id` keeps its short spelling `--env`. Booleans get
`--x/--no-x`, tuples of ints take a comma-separated list (`--hidden-sizes 64,64`; `--hidden-sizes ""`
is linear), optional numbers accept `none`. A flag the user did not type is absent from the parsed
namespace, so only what was typed overrides the preset or the `--config` file; `resolve_config`
applies them (the one reading of a command line into a Config, for train and tune).
"""
from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import textwrap
import types
import typing
from typing import Any

from reinforce import config as config_mod
from reinforce import presets
from reinforce.config import Config

FLAG_NAMES = {"env_id": "--env"}  # spellings kept from before flags were generated
METAVARS = {"env_id": "ID", "device": "DEVICE", "backend": "BACKEND", "cuda_graph": "auto|on|off"}


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass and its dataclass bases (read from the source)."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if dataclasses.is_dataclass(klass):
            docs.update(_own_field_docs(klass))
    return docs


def _own_field_docs(cls: type) -> dict[str, str]:
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body
    docs = {}
    for node, following in zip(body, body[1:]):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        kind = _count_or_word if args == [int, str] else args[0]
        return kind, len(args) < len(typing.get_args(hint))
    return hint, False


def _count_or_word(text: str) -> int | str:
    """An int | str field from the command line (num_threads: 2 or auto): a number if it reads as one."""
    try:
        return int(text)
    except ValueError:
        return text


def _int_tuple(text: str) -> tuple[int, ...]:
    text = text.strip().strip("()[]")
    if text.lower() in ("", "linear"):
        return ()
    try:
        return tuple(int(part) for part in text.replace(" ", ",").split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 64,64, got {text!r}") from None


def _scalar(kind: type, optional: bool):
    def parse(text: str):
        if optional and text.lower() == "none":
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind.__name__}{' or none' if optional else ''}, got {text!r}") from None

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


def flag_name(field_name: str) -> str:
    return FLAG_NAMES.get(field_name, "--" + field_name.replace("_", "-"))


def add_config_flags(parser: argparse.ArgumentParser) -> list[str]:
    """Add one flag per Config field to `parser`; returns the field names that got a flag.

    A field whose flag would clash with an option the parser already has is skipped (it stays
    settable as `key=value`).
    """
    hints = typing.get_type_hints(Config)
    docs = field_docs(Config)
    group = parser.add_argument_group("config", "override single settings (also possible as KEY=VALUE)")
    added = []
    for field in dataclasses.fields(Config):
        flag = flag_name(field.name)
        if flag in parser._option_string_actions:
            continue
        kind, optional = _unwrap_optional(hints[field.name])
        kwargs: dict[str, Any] = {"dest": field.name, "default": argparse.SUPPRESS, "help": docs.get(field.name, "")}
        if kind is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(kind) is tuple and typing.get_args(kind)[0] is str:
            kwargs.update(action="append", type=str, metavar="SPEC")  # repeat the flag for each item, in order
        elif typing.get_origin(kind) is tuple:
            kwargs.update(type=_int_tuple, metavar="N,N")
        elif kind is _count_or_word:
            kwargs.update(type=_scalar(kind, optional), metavar="N|auto")
        elif kind in (int, float, str):
            metavar = METAVARS.get(field.name, kind.__name__.upper())
            kwargs.update(type=_scalar(kind, optional) if kind is not str else str, metavar=metavar)
        else:  # a type we do not know how to read from one token: key=value only
            continue
        group.add_argument(flag, **kwargs)
        added.append(field.name)
    return added


def flag_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The Config fields the user set with flags."""
    given = vars(args)
    return {f.name: given[f.name] for f in dataclasses.fields(Config) if f.name in given}


def config_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The flags' changes and the KEY=VALUE overrides (`args.overrides`); a setting given both ways with two
    different values is an error (neither silently wins), the same value twice is fine."""
    flags = flag_overrides(args)
    changes = dict(flags)
    for text in getattr(args, "overrides", None) or []:
        key, value = config_mod.parse_override(text)
        key = key.replace("-", "_")
        if key in flags and _comparable(flags[key]) != _comparable(value):
            raise ValueError(f"{_flag_text(key, flags[key])} and {text.strip()} both set {key}; give one")
        changes[key] = value
    return changes


def _comparable(value: Any) -> Any:
    """A flag's value and a TOML one alike: lists as tuples (--hidden-sizes 64,64 is hidden_sizes=[64,64]),
    a lone string as a one-item list (a repeated flag's list may be one string in TOML)."""
    if isinstance(value, (list, tuple)):
        return tuple(value) if len(value) != 1 else _comparable(value[0])
    return value


def _flag_text(field_name: str, value: Any) -> str:
    """The flag as the user would have typed it: --epochs 1, --no-squash, --hidden-sizes 64,64."""
    flag = flag_name(field_name)
    if isinstance(value, bool):
        return flag if value else "--no-" + flag[2:]
    if value is None:
        return f"{flag} none"
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value) and value:
        return " ".join(f"{flag} {v}" for v in value)  # a repeated flag (--wrappers A --wrappers B)
    if isinstance(value, (list, tuple)):
        return f"{flag} {','.join(map(str, value))}"
    return f"{flag} {value}"


def resolve_config(args: argparse.Namespace) -> Config:
    """The Config a command line asks for: --preset, --config file or (with only --env) the defaults for
    any env; then flags, then KEY=VALUE overrides (unknown keys fail with a suggestion)."""
    if args.preset and args.config:
        raise ValueError("give either --preset or --config, not both")
    changes = config_changes(args)
    if args.config:
        cfg = config_mod.load(args.config)
    elif args.preset is None and "env_id" in changes:
        cfg = presets.defaults_for_env(changes["env_id"])
    else:
        cfg = presets.preset(args.preset or "cartpole")
    return config_mod.from_dict({**cfg.to_dict(), **changes}) if changes else cfg
