"""One guard per object: its reconcile pass and its finalizer never act at once, and no Azure write
leaves this process unless it may still be sent.

- The lock lives in kopf's per-object ``memo``, which the daemon and the deletion handler of one
  object share (and which goes away with the object). The daemon holds it for a whole pass; the
  finalizer takes it before it looks at Azure, so it sees the pass's result (a pool just created,
  a create recorded in status) instead of racing it.
- The write gate (``azure.resources.write_gate``) is asked right before each write is sent, after
  any wait for the ARM budget: a pass refuses every write once this replica stops leading, its daemon
  is stopping or the object has a deletionTimestamp; a finalizer sends only deletes, and only while
  this replica leads.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import kopf

from azbatch_operator.azure import resources

_LOCK_KEY = "azbatch_guard"
_PUBLISHED_KEY = "published"


def lock_of(memo: Any) -> asyncio.Lock:
    """The object's lock (created on first use; memo access is synchronous, so no race)."""
    found = memo.get(_LOCK_KEY)
    if found is None:
        found = asyncio.Lock()
        memo[_LOCK_KEY] = found
    assert isinstance(found, asyncio.Lock)
    return found


def _deleting(body: kopf.Body) -> bool:
    return bool((body.get("metadata") or {}).get("deletionTimestamp"))


def pass_gate(
    body: kopf.Body, stopped: Callable[[], bool], leading: Callable[[], bool]
) -> resources.WriteGate:
    """For a reconcile pass: writes only while leading, running, and the object is not deleted."""

    def gate(operation: str, resource_id: str) -> str | None:
        if not leading():
            return "this replica is no longer the leader"
        if stopped():
            return "the object's reconcile loop is stopping"
        if _deleting(body):
            return "the object is being deleted"
        return None

    return gate


def finalizer_gate(leading: Callable[[], bool]) -> resources.WriteGate:
    """For a finalizer: deletes only, and only while leading."""

    def gate(operation: str, resource_id: str) -> str | None:
        if not leading():
            return "this replica is no longer the leader"
        if not operation.endswith("_Delete"):
            return "a finalizer only deletes"
        return None

    return gate


@contextlib.asynccontextmanager
async def reconcile_pass(
    memo: Any, body: kopf.Body, stopped: Callable[[], bool], leading: Callable[[], bool]
) -> AsyncIterator[None]:
    """``leading``: whether this replica may still act (the runtime's ``may_act``)."""
    async with lock_of(memo):
        with resources.write_gate(pass_gate(body, stopped, leading)):
            yield


@contextlib.asynccontextmanager
async def finalizer(memo: Any, leading: Callable[[], bool]) -> AsyncIterator[None]:
    async with lock_of(memo):
        with resources.write_gate(finalizer_gate(leading)):
            yield


def remember(memo: Any, body: kopf.Body, written: dict[str, Any]) -> None:
    """Keep what this process last wrote to the object's status (merged over what it wrote before)."""
    uid = body["metadata"].get("uid", "")
    published = memo.get(_PUBLISHED_KEY)
    before = published[1] if published is not None and published[0] == uid else {}
    memo[_PUBLISHED_KEY] = (uid, {**before, **written})


def status_of(memo: Any, body: kopf.Body) -> dict[str, Any]:
    """The object's status with this process's last writes over it: kopf's copy of the body lags
    behind its own watch when many objects change at once, and a finalizer's body can predate the
    status the reconcile pass just wrote (a create it recorded, a pool id). Merge-patch ``None``
    entries remove keys, as the apiserver does."""
    status = dict(body.get("status") or {})
    published = memo.get(_PUBLISHED_KEY)
    if published is not None and published[0] == body["metadata"].get("uid", ""):
        status.update(published[1])
    return {k: v for k, v in status.items() if v is not None}
