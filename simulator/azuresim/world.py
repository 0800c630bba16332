"""The simulated world: tenants, principals, subscriptions, resource groups, resources, operations."""

from __future__ import annotations

import copy
import heapq
import itertools
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azuresim.clock import SimClock
from azuresim.errors import JSON, deep_merge

DEFAULT_CONFIG: JSON = {
    "batch": {
        "nodesPerMinute": 200,
        "maxNodesPerResize": 400,
        "managedImagePoolsRetired": True,
        "managedImageDedicatedNodeLimit": 2500,
        "managedImageLowPriorityNodeLimit": 1000,
        "deleteSeconds": 60,
        "stopResizeSeconds": 30,
        "imageFailureSeconds": 60,
        # False: an ARM PATCH whose scaleSettings equal the pool's starts no resize (Batch does not
        # document which it does); the data plane's Pool_Resize always starts one.
        "identicalScalePatchStartsResize": True,
        "removeNodesSeconds": 30,
        # Pool_ListByBatchAccount page size (Azure does not document its own; maxresults caps it).
        "pageSize": 1000,
        # Account_ListPoolNodeCounts: the most pools one page holds when maxresults asks for more
        # than the default 10. The 2025-06-01 reference (the SDK's API version) documents 1000;
        # earlier versions documented 10. A larger maxresults is clamped, not refused.
        "nodeCountsMaxResults": 1000,
    },
    "throttling": {
        "enabled": True,
        "reads": {"capacity": 250, "refillPerSecond": 25},
        "writes": {"capacity": 200, "refillPerSecond": 10},
        "deletes": {"capacity": 200, "refillPerSecond": 10},
    },
    "compute": {
        "snapshotSeconds": 30,
        "snapshotDeleteSeconds": 10,
        "imageSeconds": 60,
        "imageDeleteSeconds": 20,
        "galleryImageDefinitionSeconds": 5,
        "galleryImageVersionBaseSeconds": 120,
        "galleryReplicaSeconds": 60,
        "galleryImageVersionDeleteSeconds": 30,
    },
    # retryAfterSeconds: fixed Retry-After on 201/202 LRO responses; null = computed (1-5 s); 0 = omit
    "lro": {"retryAfterSeconds": None},
}

_NAMESPACE = uuid.UUID("6f1f8e3c-3c55-4bb4-9a4b-8f0c2a6c0a11")


def region(name: str | None) -> str:
    """'West Europe' -> 'westeurope' (ARM's canonical location form)."""
    return re.sub(r"\s+", "", (name or "")).lower()


def key_of(rid: str) -> str:
    """The lookup key of an ARM id. Azure's examples write ids both with and without the leading
    slash (and ids are case-insensitive), so `subscriptions/x/...` and `/Subscriptions/X/...` match."""
    return "/" + rid.strip().strip("/").lower()


def stable_uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


@dataclass
class Principal:
    client_id: str
    secret: str | None
    name: str
    tenant: str
    object_id: str
    federated_subjects: list[str] = field(default_factory=list)


@dataclass
class RoleAssignment:
    principal: str
    scope: str
    role: str


@dataclass
class ResourceGroup:
    name: str
    location: str
    subscription: str

    @property
    def id(self) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{self.name}"


@dataclass
class Subscription:
    id: str
    tenant: str
    role_assignments: list[RoleAssignment] = field(default_factory=list)
    resource_groups: dict[str, ResourceGroup] = field(default_factory=dict)


@dataclass
class Resource:
    id: str
    type: str
    name: str
    location: str
    properties: JSON
    tags: dict[str, str] = field(default_factory=dict)
    extra: JSON = field(default_factory=dict)  # top-level fields besides properties (sku, plan, ...)
    state: JSON = field(default_factory=dict)  # simulator-internal, never serialized
    etag: str | None = None


@dataclass
class Operation:
    id: str
    resource_id: str
    kind: str  # "create" | "update" | "delete"
    start: float
    done_at: float
    location: str
    namespace: str  # "Microsoft.Compute" | "Microsoft.Batch"
    status: str = "InProgress"
    error: JSON | None = None
    on_done: Callable[[World, Operation], None] | None = None
    failure: JSON | None = None  # the error the operation ends with (status Failed) when it is due


@dataclass(frozen=True)
class ArmId:
    subscription: str
    resource_group: str | None
    namespace: str | None
    types: tuple[str, ...]
    names: tuple[str, ...]

    @property
    def type(self) -> str:
        return "/".join((self.namespace or "", *self.types))

    @property
    def name(self) -> str:
        return self.names[-1] if self.names else ""


def parse_id(rid: str) -> ArmId | None:
    parts = [p for p in rid.split("/") if p]
    if len(parts) < 2 or parts[0].lower() != "subscriptions":
        return None
    sub = parts[1]
    if len(parts) == 2:
        return ArmId(sub, None, None, (), ())
    if parts[2].lower() != "resourcegroups" or len(parts) < 4:
        return None
    rg = parts[3]
    rest = parts[4:]
    if not rest:
        return ArmId(sub, rg, None, (), ())
    if rest[0].lower() != "providers" or len(rest) < 4 or len(rest) % 2 != 0:
        return None
    ns = rest[1]
    pairs = rest[2:]
    return ArmId(sub, rg, ns, tuple(pairs[0::2]), tuple(pairs[1::2]))


class World:
    """All simulator state. Accessed from one asyncio loop only (no locking)."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.config: JSON = copy.deepcopy(DEFAULT_CONFIG)
        self.tenants: dict[str, dict[str, Principal]] = {}
        self.principals: dict[str, Principal] = {}
        self.subscriptions: dict[str, Subscription] = {}
        self.resources: dict[str, Resource] = {}
        self.operations: dict[str, Operation] = {}
        self._due: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self.views: dict[str, Callable[[World, Resource], JSON]] = {}
        self.refreshers: dict[str, Callable[[World, Resource], None]] = {}
        self.listeners: list[Callable[[World], None]] = []
        self.seeders: list[Callable[[World, ResourceGroup, JSON], None]] = []

    # ---------------------------------------------------------------- config
    def cfg(self, section: str) -> JSON:
        value = self.config.get(section, {})
        return value if isinstance(value, dict) else {}

    # ---------------------------------------------------------------- lookup
    def subscription(self, sub: str) -> Subscription | None:
        return self.subscriptions.get(sub.lower())

    def resource_group(self, sub: str, rg: str) -> ResourceGroup | None:
        s = self.subscription(sub)
        return s.resource_groups.get(rg.lower()) if s else None

    def get(self, rid: str) -> Resource | None:
        res = self.resources.get(key_of(rid))
        if res is not None:
            refresh = self.refreshers.get(res.type.lower())
            if refresh is not None:
                refresh(self, res)
        return res

    def exists(self, rid: str) -> bool:
        return key_of(rid) in self.resources

    def put(self, res: Resource) -> Resource:
        self.resources[key_of(res.id)] = res
        return res

    def delete(self, rid: str) -> Resource | None:
        res = self.resources.pop(key_of(rid), None)
        prefix = key_of(rid) + "/"
        for key in [k for k in self.resources if k.startswith(prefix)]:
            del self.resources[key]
        return res

    def children(self, parent_id: str, child_type: str) -> list[Resource]:
        prefix = key_of(parent_id) + "/"
        ct = child_type.lower()
        out = []
        for key, res in self.resources.items():
            if (
                key.startswith(prefix)
                and res.type.lower() == ct
                and "/" not in key[len(prefix) :].split("/", 1)[1]
            ):
                out.append(res)
        return sorted(out, key=lambda r: r.name.lower())

    def by_type(self, rtype: str | None = None) -> list[Resource]:
        out = [r for r in self.resources.values() if rtype is None or r.type.lower() == rtype.lower()]
        return sorted(out, key=lambda r: r.id.lower())

    def view(self, res: Resource) -> JSON:
        refresh = self.refreshers.get(res.type.lower())
        if refresh is not None:
            refresh(self, res)
        fn = self.views.get(res.type.lower())
        if fn is not None:
            return fn(self, res)
        return default_view(res)

    # ---------------------------------------------------------------- operations
    def start_operation(
        self,
        resource_id: str,
        kind: str,
        sim_seconds: float,
        location: str,
        namespace: str,
        on_done: Callable[[World, Operation], None] | None = None,
        op_id: str | None = None,
        error: JSON | None = None,
    ) -> Operation:
        """Schedule an operation; with `error` it ends `Failed` with that ARM error body."""
        now = self.clock.now()
        op = Operation(
            id=op_id or str(uuid.uuid4()),
            resource_id=resource_id,
            kind=kind,
            start=now,
            done_at=now + max(0.0, sim_seconds),
            location=location,
            namespace=namespace,
            on_done=on_done,
            failure=error,
        )
        self.operations[op.id] = op
        heapq.heappush(self._due, (op.done_at, next(self._seq), op.id))
        return op

    def tick(self) -> None:
        """Complete every operation whose time has come (called on each request)."""
        now = self.clock.now()
        while self._due and self._due[0][0] <= now:
            _, _, op_id = heapq.heappop(self._due)
            op = self.operations.get(op_id)
            if op is None or op.status != "InProgress":
                continue
            op.status = "Failed" if op.failure is not None else "Succeeded"
            op.error = op.failure
            if op.on_done is not None:
                op.on_done(self, op)
        if len(self.operations) > 5000:
            done = [k for k, o in self.operations.items() if o.status != "InProgress"]
            for k in done[: len(done) // 2]:
                del self.operations[k]

    # ---------------------------------------------------------------- seeding
    def seed(self, world: JSON) -> None:
        """Merge a world document (see docs/simulator.md) into the current state."""
        for key in ("batch", "throttling", "compute", "lro", "apiVersions"):
            if isinstance(world.get(key), dict):
                self.config.setdefault(key, {})
                deep_merge(self.config[key], copy.deepcopy(world[key]))
        for t in world.get("tenants") or []:
            tid = str(t["id"]).lower()
            principals = self.tenants.setdefault(tid, {})
            for p in t.get("principals") or []:
                cid = str(p["clientId"]).lower()
                pr = Principal(
                    client_id=cid,
                    secret=p.get("secret"),
                    name=str(p.get("name") or cid),
                    tenant=tid,
                    object_id=str(p.get("objectId") or stable_uuid("principal", cid)),
                    federated_subjects=[str(s) for s in p.get("federatedSubjects") or []],
                )
                principals[cid] = pr
                self.principals[cid] = pr
        for s in world.get("subscriptions") or []:
            sid = str(s["id"]).lower()
            sub = self.subscriptions.get(sid)
            if sub is None:
                sub = Subscription(id=sid, tenant=str(s.get("tenant") or "").lower())
                self.subscriptions[sid] = sub
            elif s.get("tenant"):
                sub.tenant = str(s["tenant"]).lower()
            for ra in s.get("roleAssignments") or []:
                assignment = RoleAssignment(
                    principal=str(ra["principal"]).lower(),
                    scope=str(ra.get("scope") or f"/subscriptions/{sid}"),
                    role=str(ra.get("role") or "Reader"),
                )
                if assignment not in sub.role_assignments:
                    sub.role_assignments.append(assignment)
            for g in s.get("resourceGroups") or []:
                rg = ResourceGroup(
                    name=str(g["name"]), location=region(g.get("location") or "westeurope"), subscription=sid
                )
                existing = sub.resource_groups.get(rg.name.lower())
                if existing is None:
                    sub.resource_groups[rg.name.lower()] = rg
                else:
                    rg = existing
                    if g.get("location"):
                        rg.location = region(g["location"])
                for listener in self.seeders:
                    listener(self, rg, g)
        for fn in self.listeners:
            fn(self)

    def first_identity(self) -> tuple[str, Principal, str]:
        """(tenant id, first principal of the first tenant, first subscription id)."""
        if not self.tenants:
            raise LookupError("the world has no tenants")
        tenant = next(iter(self.tenants))
        principals = self.tenants[tenant]
        if not principals:
            raise LookupError(f"tenant {tenant} has no principals")
        sub = next(iter(self.subscriptions), "")
        return tenant, next(iter(principals.values())), sub


def default_view(res: Resource) -> JSON:
    body: JSON = {"id": res.id, "name": res.name, "type": res.type, "location": res.location}
    if res.tags:
        body["tags"] = dict(res.tags)
    body.update(copy.deepcopy(res.extra))
    if res.etag:
        body["etag"] = res.etag
    body["properties"] = copy.deepcopy(res.properties)
    return body


def generic_record(world: World, res: Resource) -> dict[str, Any]:
    """What /_sim/resources lists for one resource."""
    return world.view(res)
