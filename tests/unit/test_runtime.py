"""The runtime every handler shares lives in kopf's memo: built at start-up, found by each object's
copy of the memo, closed at clean-up (handlers/runtime.py, handlers/lifecycle.py)."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import kopf
import pytest

from azbatch_operator.handlers import lifecycle, runtime
from azbatch_operator.handlers.runtime import Runtime
from azbatch_operator.settings import Settings

pytestmark = pytest.mark.unit


class Closing(Runtime):
    """A runtime whose sessions are stand-ins: it only records that it was closed."""

    closed = 0

    async def close(self) -> None:
        self.closed += 1


def make() -> Closing:
    return Closing(Settings(), None, None, None, None)  # type: ignore[arg-type]


def test_every_objects_memo_finds_the_one_runtime_start_up_put_in_the_operators() -> None:
    operator_memo = kopf.Memo()
    rt = make()
    operator_memo[runtime.MEMO_KEY] = rt
    object_memo = copy.copy(operator_memo)  # what kopf gives each object
    object_memo["azbatch_guard"] = "its own"
    assert runtime.of(object_memo) is rt
    assert runtime.installed(object_memo) is rt
    assert "azbatch_guard" not in operator_memo


def test_a_handler_before_start_up_is_retried_and_an_index_does_nothing() -> None:
    with pytest.raises(kopf.TemporaryError, match="not initialised"):
        runtime.of(kopf.Memo())
    assert runtime.installed(kopf.Memo()) is None
    assert runtime.installed({runtime.MEMO_KEY: "something else"}) is None


def test_a_standby_replica_leaves_a_finalizer_to_the_leader() -> None:
    rt = make()
    rt.leading.clear()
    with pytest.raises(kopf.TemporaryError, match="standing by"):
        runtime.require_leadership(rt)
    rt.leading.set()
    runtime.require_leadership(rt)


def test_clean_up_closes_the_runtime_once_and_takes_it_out_of_the_memo() -> None:
    memo = kopf.Memo()
    rt = make()
    memo[runtime.MEMO_KEY] = rt
    kwargs: dict[str, Any] = {"memo": memo}
    asyncio.run(lifecycle.close(**kwargs))
    assert rt.closed == 1
    assert runtime.installed(memo) is None
    asyncio.run(lifecycle.close(**kwargs))  # a second clean-up has nothing left to close
    assert rt.closed == 1
