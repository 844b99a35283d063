"""Per-request limits on decoded input (rows, values, nesting, string sizes), enforced while decoding.

Every violation is an ``InvalidInput`` (400) naming the limit and its environment variable. The limits are
checked from cheap outlines of the JSON (list lengths, the first-element chain, declared V2 shapes) before large
arrays are built, and from the array shapes after; the common path never walks every value in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.errors import InvalidInput

#: numpy arrays have at most this many dimensions.
MAX_DIMS = 64


@dataclass(frozen=True)
class Limits:
    """The limits of one request. The defaults are those of ``app.settings.Settings``."""

    max_instances: int = 10_000
    """MAX_INSTANCES: most examples (rows, the first dimension) in one request."""
    max_elements: int = 4_000_000
    """MAX_ELEMENTS: most scalar values in one request, over all its tensors."""
    max_nesting_depth: int = 32
    """MAX_NESTING_DEPTH: deepest JSON nesting; the request body's top-level object is level 1."""
    max_string_bytes: int = 1024 * 1024
    """MAX_STRING_BYTES: longest single string (UTF-8) or decoded {"b64"} value."""

    def check_instances(self, count: int) -> None:
        if count > self.max_instances:
            raise InvalidInput(f"request has {count} instances; the limit is {self.max_instances} (MAX_INSTANCES)")

    def check_depth(self, depth: int) -> None:
        if depth > self.max_nesting_depth:
            raise InvalidInput(
                f"request is nested at least {depth} levels deep; "
                f"the limit is {self.max_nesting_depth} (MAX_NESTING_DEPTH)"
            )

    def check_string(self, size: int, label: str) -> None:
        if size > self.max_string_bytes:
            raise InvalidInput(
                f"{label} has a string of {size} bytes; the limit is {self.max_string_bytes} (MAX_STRING_BYTES)"
            )


class Budget:
    """What one request has used so far: values over all its tensors, against ``limits.max_elements``."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.elements = 0

    def check(self, count: int) -> None:
        """Raise unless ``count`` more values fit (called before building an array)."""
        total = self.elements + count
        if total > self.limits.max_elements:
            raise InvalidInput(f"request has {total} values; the limit is {self.limits.max_elements} (MAX_ELEMENTS)")

    def add(self, count: int) -> None:
        """Count ``count`` values that were decoded."""
        self.check(count)
        self.elements += count


def outline(value: Any) -> tuple[int, int]:
    """(depth, size) of a nested list judged by its chain of first elements, in O(depth).

    Exact for rectangular data; for ragged data the conversion that follows fails anyway.
    """
    depth, size = 0, 1
    while isinstance(value, list):
        depth += 1
        size *= len(value)
        if not value:
            break
        value = value[0]
    return depth, size


def check_free_form(value: Any, limits: Limits, depth: int) -> None:
    """Walk a free-form JSON value (e.g. ``parameters``) iteratively and enforce the nesting limit.

    ``depth`` is the number of containers around ``value``. O(size of ``value``); tensor data never comes here.
    """
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = item.values()
        elif not isinstance(item, list):
            continue
        limits.check_depth(level + 1)
        stack.extend((child, level + 1) for child in item if isinstance(child, dict | list))
