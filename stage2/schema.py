"""Type checks of saved configs: a hand-edited ``stage2_config.json`` with ``"labels": 5`` gets an error
that names the file, the field and what was expected, instead of a TypeError deep inside the model."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any


def check_fields(obj: Any) -> None:
    """Raise ``ValueError`` naming the first field of dataclass ``obj`` whose value does not match its
    annotated type (JSON shapes: str, int, float, bool, lists, objects, optional values)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        expected = hints.get(f.name, Any)
        if not _matches(value, expected):
            shown = repr(value)
            shown = shown if len(shown) <= 60 else shown[:57] + "..."
            raise ValueError(f"field {f.name!r}: expected {_describe(expected)}, got {shown} ({type(value).__name__})")


def with_source(source: Any, build: typing.Callable[[], Any]) -> Any:
    """``build()``, with ``source: `` (the file it came from) put before any ValueError it raises."""
    if source is None:
        return build()
    try:
        return build()
    except (ValueError, TypeError) as err:
        raise ValueError(f"{source}: {err}") from None


def _matches(value: Any, tp: Any) -> bool:
    if tp is Any:
        return True
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arm) for arm in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tp is str:
        return isinstance(value, str)
    args = typing.get_args(tp)
    if origin is list:
        return isinstance(value, list) and (not args or all(_matches(v, args[0]) for v in value))
    if origin is dict:
        return isinstance(value, dict) and (
            not args or all(_matches(k, args[0]) and _matches(v, args[1]) for k, v in value.items())
        )
    return True  # a type no config uses: left to the config's own checks


def _describe(tp: Any) -> str:
    if tp is Any:
        return "any value"
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arm) for arm in typing.get_args(tp))
    names = {type(None): "null", bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    if tp in names:
        return names[tp]
    args = typing.get_args(tp)
    if origin is list:
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    if origin is dict:
        return "an object"
    return str(tp)
