"""One guard per object: the reconcile pass and the finalizer never act at once, and the write gate
is asked right before each Azure write is sent."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from azbatch_operator.azure.resources import Resources, WriteRefused
from azbatch_operator.handlers import guard

pytestmark = pytest.mark.unit

SNAPSHOT = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/snapshots/snap"


class Group:
    """An SDK operations group that records what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def _record(self, what: str) -> None:
        self.sent.append(what)

    def begin_delete(self, *names: str) -> Any:
        return self._record(f"DELETE {'/'.join(names)}")

    def begin_create_or_update(self, *args: Any) -> Any:
        return self._record(f"PUT {'/'.join(a for a in args if isinstance(a, str))}")


class Clients:
    def __init__(self) -> None:
        self.group = Group()

    def compute(self, subscription: str) -> Any:
        groups = (
            "images",
            "disks",
            "virtual_machines",
            "galleries",
            "gallery_images",
            "gallery_image_versions",
        )
        return SimpleNamespace(snapshots=self.group, **{g: Group() for g in groups})


@pytest.fixture
def leading() -> asyncio.Event:
    """This replica's leadership (the runtime's ``leading``): set, until a test clears it."""
    flag = asyncio.Event()
    flag.set()
    return flag


def body(deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"namespace": "ns", "name": "img", "uid": "u1"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta}


async def test_a_pass_sends_writes_only_while_leading_running_and_not_deleted(leading: asyncio.Event) -> None:
    clients = Clients()
    resources = Resources(clients)  # type: ignore[arg-type]
    live = body()
    stopping = False
    async with guard.reconcile_pass({}, live, lambda: stopping, leading.is_set):  # type: ignore[arg-type]
        await resources.begin_create(SNAPSHOT, {"location": "westeurope"})
        assert clients.group.sent == ["PUT rg/snap"]
        # The object is deleted during the pass: the next write is refused before it is sent.
        live["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        with pytest.raises(WriteRefused, match="being deleted"):
            await resources.begin_create(SNAPSHOT, {"location": "westeurope"})
    async with guard.reconcile_pass({}, body(), lambda: True, leading.is_set):  # type: ignore[arg-type]
        with pytest.raises(WriteRefused, match="stopping"):
            await resources.begin_delete(SNAPSHOT)
    leading.clear()
    async with guard.reconcile_pass({}, body(), lambda: stopping, leading.is_set):  # type: ignore[arg-type]
        with pytest.raises(WriteRefused, match="leader"):
            await resources.begin_create(SNAPSHOT, {})
    assert clients.group.sent == ["PUT rg/snap"]


async def test_a_finalizer_sends_deletes_only_and_only_while_leading(leading: asyncio.Event) -> None:
    clients = Clients()
    resources = Resources(clients)  # type: ignore[arg-type]
    async with guard.finalizer({}, leading.is_set):
        await resources.begin_delete(SNAPSHOT)
        with pytest.raises(WriteRefused, match="only deletes"):
            await resources.begin_create(SNAPSHOT, {})
        leading.clear()
        with pytest.raises(WriteRefused, match="leader"):
            await resources.begin_delete(SNAPSHOT)
    assert clients.group.sent == ["DELETE rg/snap"]


async def test_the_pass_and_the_finalizer_of_one_object_never_act_at_once(leading: asyncio.Event) -> None:
    memo: dict[str, Any] = {}
    acting: list[str] = []
    overlaps: list[tuple[str, ...]] = []

    async def act(who: str) -> None:
        acting.append(who)
        if len(acting) > 1:
            overlaps.append(tuple(acting))
        await asyncio.sleep(0.01)
        acting.remove(who)

    async def reconcile() -> None:
        for _ in range(5):
            async with guard.reconcile_pass(memo, body(), lambda: False, leading.is_set):  # type: ignore[arg-type]
                await act("pass")

    async def finalize() -> None:
        for _ in range(5):
            async with guard.finalizer(memo, leading.is_set):
                await act("finalizer")

    await asyncio.gather(reconcile(), finalize())
    assert overlaps == []
    # Another object's guard is its own.
    other: dict[str, Any] = {}
    async with guard.finalizer(memo, leading.is_set):
        await asyncio.wait_for(guard.lock_of(other).acquire(), timeout=1)


def test_status_of_overlays_this_process_writes_and_drops_removed_keys() -> None:
    memo: dict[str, Any] = {}
    obj = {"metadata": {"uid": "u1"}, "status": {"poolId": "old", "observedGeneration": 1}}
    guard.remember(memo, obj, {"operations": [{"type": "CreatePool"}]})
    guard.remember(memo, obj, {"poolId": None})
    status = guard.status_of(memo, obj)  # type: ignore[arg-type]
    assert status == {"observedGeneration": 1, "operations": [{"type": "CreatePool"}]}
    # Another incarnation (new uid) of the same name does not inherit them.
    reborn = {"metadata": {"uid": "u2"}, "status": {}}
    assert guard.status_of(memo, reborn) == {}  # type: ignore[arg-type]
