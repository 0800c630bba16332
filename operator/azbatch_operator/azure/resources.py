"""Azure resources by ARM id: GET, create, patch and delete, whatever the type.

The planners speak ARM ids and ARM-shaped bodies; this module maps each id to the one SDK call
for its type, so the handlers never branch on resource types. Long-running operations are only
*started* here (the initial request is sent, the poller dropped): the next reconcile looks at
`provisioningState` instead of holding a worker for minutes.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any

from azure.core import MatchConditions

from azbatch_operator.azure.budget import ArmBudget
from azbatch_operator.azure.calls import AzureCallError, arm, arm_get
from azbatch_operator.azure.clients import AzureClients
from azbatch_operator.reconcile import arm_ids
from azbatch_operator.reconcile.arm_ids import ResourceId
from azbatch_operator.reconcile.errors import Category

Json = dict[str, Any]

#: Asked right before every Azure write is sent: ``gate(operation, resource_id)`` returns why the
#: write must not go out now (this replica no longer leads, the object is being deleted, its loop is
#: stopping), or None. Handlers install one per pass with `write_gate`; nothing else sends writes.
WriteGate = Callable[[str, str], "str | None"]
_gate: contextvars.ContextVar[WriteGate | None] = contextvars.ContextVar("azbatch_write_gate", default=None)


class WriteRefused(Exception):
    """The write gate refused a write before it was sent (nothing reached Azure)."""

    def __init__(self, operation: str, resource_id: str, why: str) -> None:
        self.operation, self.resource_id, self.why = operation, resource_id, why
        super().__init__(f"{operation} {resource_id} not sent: {why}")


@contextlib.contextmanager
def write_gate(gate: WriteGate) -> Iterator[None]:
    """Every write sent from this context (and tasks it starts) is checked by ``gate`` first."""
    token = _gate.set(gate)
    try:
        yield
    finally:
        _gate.reset(token)


def check_write(operation: str, resource_id: str) -> None:
    """Ask the write gate about a write about to be sent; raises WriteRefused when it says no.

    Every write path calls this last, ARM's (after its budget wait) and the Batch data plane's."""
    gate = _gate.get()
    if gate is not None:
        why = gate(operation, resource_id)
        if why is not None:
            raise WriteRefused(operation, resource_id, why)


def _wire(model: Any) -> Json:
    """SDK models (typespec-generated) are mappings of the wire format: camelCase, as ARM sends."""
    return dict(model.as_dict()) if hasattr(model, "as_dict") else dict(model)


class Resources:
    def __init__(self, clients: AzureClients, budget: ArmBudget | None = None) -> None:
        self._clients = clients
        self._budget = budget or ArmBudget(0, 0)

    @contextlib.asynccontextmanager
    async def _budgeted(self, rid: ResourceId, kind: str, operation: str = "") -> AsyncIterator[None]:
        """Wait for a token of the subscription's ARM budget; a 429 that still comes pauses it.
        A write then asks the write gate, after the wait, so the answer is current when it is sent."""
        await self._budget.take(rid.subscription, kind)
        if kind == "write":
            check_write(operation, str(rid))
        try:
            yield
        except AzureCallError as exc:
            if exc.classification.category is Category.THROTTLED:
                self._budget.throttled(rid.subscription, kind, exc.classification.retry_after)
            raise

    def _target(self, rid: ResourceId) -> tuple[str, Any, tuple[str, ...]]:
        """(operation prefix, SDK operations group, positional names) for a resource id."""
        compute = self._clients.compute(rid.subscription)
        rg = rid.resource_group or ""
        kind = rid.resource_type.lower()
        table: dict[str, tuple[str, Any]] = {
            arm_ids.SNAPSHOT.lower(): ("Snapshots", compute.snapshots),
            arm_ids.MANAGED_IMAGE.lower(): ("Images", compute.images),
            arm_ids.DISK.lower(): ("Disks", compute.disks),
            arm_ids.VIRTUAL_MACHINE.lower(): ("VirtualMachines", compute.virtual_machines),
            arm_ids.GALLERY.lower(): ("Galleries", compute.galleries),
            arm_ids.GALLERY_IMAGE.lower(): ("GalleryImages", compute.gallery_images),
            arm_ids.GALLERY_IMAGE_VERSION.lower(): ("GalleryImageVersions", compute.gallery_image_versions),
        }
        if kind in table:
            prefix, group = table[kind]
            return prefix, group, (rg, *rid.names)
        batch = self._clients.batch(rid.subscription)
        if kind == arm_ids.BATCH_ACCOUNT.lower():
            return "BatchAccount", batch.batch_account, (rg, *rid.names)
        if kind == arm_ids.BATCH_POOL.lower():
            return "Pool", batch.pool, (rg, *rid.names)
        raise ValueError(f"unsupported resource type {rid.resource_type!r} in {rid}")

    async def get(self, resource_id: str) -> Json | None:
        """The resource as ARM returns it, or None when it does not exist."""
        rid = arm_ids.parse(resource_id)
        prefix, group, names = self._target(rid)
        async with self._budgeted(rid, "read"):
            found = await arm_get(f"{prefix}_Get", group.get(*names))
        return None if found is None else _wire(found)

    async def list_pools(self, account_id: str) -> list[list[Json]]:
        """Every pool of a Batch account, page by page (Pool_ListByBatchAccount, following ``nextLink``); each
        page is one ARM read and waits for its own budget token. Whole pools: the planners diff
        every configured property, so a ``$select`` would have to name them all."""
        rid = arm_ids.parse(account_id)
        group = self._clients.batch(rid.subscription).pool
        pages = group.list_by_batch_account(rid.resource_group or "", rid.names[-1]).by_page()
        found: list[list[Json]] = []
        while True:
            async with self._budgeted(rid, "read"):
                try:
                    page = await arm("Pool_ListByBatchAccount", pages.__anext__())
                except AzureCallError as exc:
                    if exc.not_found and not found:
                        return [[]]  # no such account: it holds no pools (as a Pool_Get's 404 says)
                    raise
            found.append([_wire(p) async for p in page])
            if not getattr(pages, "continuation_token", None):  # no nextLink: the last page
                return found

    async def begin_create(self, resource_id: str, body: Mapping[str, Any]) -> None:
        """Send the PUT of a long-running create; completion is observed by later GETs."""
        rid = arm_ids.parse(resource_id)
        prefix, group, names = self._target(rid)
        async with self._budgeted(rid, "write", f"{prefix}_CreateOrUpdate"):
            await arm(f"{prefix}_CreateOrUpdate", group.begin_create_or_update(*names, dict(body)))

    async def begin_update(self, resource_id: str, body: Mapping[str, Any]) -> None:
        rid = arm_ids.parse(resource_id)
        prefix, group, names = self._target(rid)
        async with self._budgeted(rid, "write", f"{prefix}_Update"):
            await arm(f"{prefix}_Update", group.begin_update(*names, dict(body)))

    async def begin_delete(self, resource_id: str) -> None:
        """Send the DELETE; a resource already gone counts as deleted."""
        rid = arm_ids.parse(resource_id)
        prefix, group, names = self._target(rid)
        async with self._budgeted(rid, "write", f"{prefix}_Delete"):
            await arm_get(f"{prefix}_Delete", group.begin_delete(*names))

    # Batch pools: create and update are synchronous in Batch.
    async def create_pool(self, pool_id: str, body: Mapping[str, Any]) -> Json:
        """PUT a new pool with If-None-Match: * so a pool that appeared meanwhile is never overwritten."""
        rid = arm_ids.parse(pool_id)
        _, group, names = self._target(rid)
        async with self._budgeted(rid, "write", "Pool_Create"):
            created = await arm(
                "Pool_Create", group.create(*names, dict(body), match_condition=MatchConditions.IfMissing)
            )
        return _wire(created)

    async def update_pool(self, pool_id: str, body: Mapping[str, Any]) -> Json:
        rid = arm_ids.parse(pool_id)
        _, group, names = self._target(rid)
        async with self._budgeted(rid, "write", "Pool_Update"):
            return _wire(await arm("Pool_Update", group.update(*names, dict(body))))

    async def pool_action(self, pool_id: str, action: str) -> None:
        """`stopResize` or `disableAutoScale`."""
        rid = arm_ids.parse(pool_id)
        _, group, names = self._target(rid)
        calls: dict[str, Callable[..., Awaitable[Any]]] = {
            "stopResize": group.stop_resize,
            "disableAutoScale": group.disable_auto_scale,
        }
        operation = f"Pool_{action[0].upper()}{action[1:]}"
        async with self._budgeted(rid, "write", operation):
            await arm(operation, calls[action](*names))
