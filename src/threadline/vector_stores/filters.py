"""Attribute filters of searches: comparison filters and their `and`/`or` compounds."""

from __future__ import annotations

import operator
from typing import Any

from pydantic import TypeAdapter

from threadline.vector_stores.schemas import ComparisonFilter, CompoundFilter, Filter

_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def _same(a: Any, b: Any) -> bool:
    # Numbers compare as numbers (1 == 1.0); booleans only with booleans.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    return a == b


def _compare(condition: ComparisonFilter, attributes: dict[str, Any]) -> bool:
    if condition.key not in attributes:
        return condition.type in ("ne", "nin")
    actual, wanted = attributes[condition.key], condition.value
    kind = condition.type
    if kind == "eq":
        return _same(actual, wanted)
    if kind == "ne":
        return not _same(actual, wanted)
    if kind in ("in", "nin"):
        options = wanted if isinstance(wanted, list) else [wanted]
        found = any(_same(actual, option) for option in options)
        return found if kind == "in" else not found
    comparable = (isinstance(actual, str) and isinstance(wanted, str)) or (
        isinstance(actual, int | float)
        and not isinstance(actual, bool)
        and isinstance(wanted, int | float)
        and not isinstance(wanted, bool)
    )
    return comparable and _ORDER[kind](actual, wanted)


def matches(condition: ComparisonFilter | CompoundFilter, attributes: dict[str, Any]) -> bool:
    if isinstance(condition, CompoundFilter):
        results = (matches(inner, attributes) for inner in condition.filters)
        return all(results) if condition.type == "and" else any(results)
    return _compare(condition, attributes)


_FILTER: TypeAdapter[Any] = TypeAdapter(Filter)


def from_stored(value: dict[str, Any] | None) -> ComparisonFilter | CompoundFilter | None:
    """A filter kept as JSON (a response's file_search tool) as the one `matches` reads."""
    return None if value is None else _FILTER.validate_python(value)
