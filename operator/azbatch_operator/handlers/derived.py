"""Values derived from kopf's indexes, rebuilt only when an index entry changed."""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class Derived(Generic[T]):
    """A value computed from index entries, computed again only when an entry changed.  kopf stores
    each entry an indexer returns as a new object, and ours are immutable, so comparing the
    entries' identities with those the value was built from tells whether anything changed, at a
    small fraction of the cost of building it (and with no counter to update in step with kopf)."""

    def __init__(self) -> None:
        self._inputs: tuple[object, ...] = ()
        self._value: T | None = None

    def get(self, inputs: Iterable[object], build: Callable[[], T]) -> T:
        now = tuple(inputs)
        same = len(now) == len(self._inputs) and all(map(operator.is_, now, self._inputs))
        if self._value is None or not same:
            self._value, self._inputs = build(), now
        return self._value
