"""A value derived from index entries is rebuilt exactly when an entry was replaced, added or removed."""

from __future__ import annotations

import pytest

from azbatch_operator.handlers.derived import Derived

pytestmark = pytest.mark.unit


class Entry:
    """An index entry: kopf stores a new object for every indexer call, equal or not."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


def test_rebuilt_only_when_an_entry_is_a_new_object() -> None:
    builds: list[int] = []
    cache: Derived[int] = Derived()

    def get(entries: list[Entry]) -> int:
        def build() -> int:
            builds.append(1)
            return sum(e.value for e in entries)

        return cache.get(entries, build)

    a, b = Entry(1), Entry(2)
    assert get([a, b]) == 3
    assert get([a, b]) == 3
    assert len(builds) == 1, "the same entries: not built again"
    assert get([a, Entry(2)]) == 3
    assert len(builds) == 2, "an equal but new entry (a new watch event) is built again"
    c = Entry(5)
    assert get([a, c]) == 6
    assert get([a, c, Entry(1)]) == 7
    assert get([a, c]) == 6
    assert get([]) == 0
    assert len(builds) == 6
