"""JSON from outside (API bodies, Stripe's webhooks, WebSocket frames), parsed with a bound on
its nesting: Python's decoder recurses once per level, so a body nested a thousand levels deep
would raise RecursionError (a 500) and one just under that would reach code that recurses again
(serializers, the database's JSON encoder). No document we accept nests anywhere near the
bound."""

from __future__ import annotations

import json
from typing import Any

# GeoJSON routes nest 3 levels, Stripe's events about 8; this leaves room and stays far below
# the interpreter's recursion limit.
MAX_DEPTH = 32


class JSONInputError(ValueError):
    """Not JSON, or nested deeper than MAX_DEPTH (a ValueError, as json.JSONDecodeError is)."""


def loads_bounded(
    data: str | bytes, *, max_depth: int = MAX_DEPTH, parse_constant: Any = None
) -> Any:
    """json.loads, refusing (JSONInputError) what nests deeper than `max_depth`."""
    try:
        value = json.loads(data, parse_constant=parse_constant)
    except RecursionError as exc:
        raise JSONInputError(f"JSON nested deeper than {max_depth} levels.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JSONInputError(f"Not valid JSON: {exc}") from exc
    if _depth(value, max_depth) > max_depth:
        raise JSONInputError(f"JSON nested deeper than {max_depth} levels.")
    return value


def _depth(value: Any, limit: int) -> int:
    """How deep lists and objects nest in a parsed value (stops counting past `limit`)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest
