"""Prometheus metrics: what the operator does, what Azure answers, and where each pool stands.

Azure requests are counted from the SDK pipeline's response hook, so SDK retries (429, 5xx) are
counted as the separate requests they are; a request that got no response at all is counted by
`azure.calls` with status "none".
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RECONCILES = Counter(
    "azbatch_reconciles_total",
    "Reconcile passes by kind and result (the action taken, or error).",
    ["kind", "result"],
)
RECONCILE_SECONDS = Histogram(
    "azbatch_reconcile_duration_seconds",
    "Wall time of one reconcile pass, Azure calls included.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
AZURE_REQUESTS = Counter(
    "azbatch_azure_requests_total",
    "HTTP requests to Azure Resource Manager by operation and status code.",
    ["operation", "status"],
)
AZURE_THROTTLED = Counter(
    "azbatch_azure_throttled_total", "429 responses from Azure Resource Manager, by operation.", ["operation"]
)
POOL_NODES = Gauge(
    "azbatch_pool_nodes",
    "Nodes of a BatchPool by kind (dedicated / lowPriority) and state (current / target).",
    ["namespace", "name", "kind", "state"],
)
POOL_RESIZE_ATTEMPTS = Gauge(
    "azbatch_pool_resize_attempts",
    "Resize attempts towards the current target (status.resizeAttempts).",
    ["namespace", "name"],
)
POOL_NODE_STATES = Gauge(
    "azbatch_pool_node_states",
    "Nodes of a BatchPool by kind (dedicated / lowPriority) and Batch node state (status.nodeCounts).",
    ["namespace", "name", "kind", "state"],
)
DATA_PLANE_REQUESTS = Counter(
    "azbatch_batch_data_plane_requests_total",
    "HTTP requests to the Batch data plane (account endpoints) by operation and status code.",
    ["operation", "status"],
)
OBJECT_CONDITION = Gauge(
    "azbatch_object_condition",
    "Ready / Reconciling / Stalled of each object: 1 while the condition is True, else 0; reason as a label.",
    ["kind", "namespace", "name", "type", "reason"],
)
LEADER = Gauge(
    "azbatch_leader",
    "1 while this replica may reconcile (it holds the leader Lease, or leader election is off), else 0.",
)

#: The condition types exported per object, and the reason each series was last set with.
CONDITION_TYPES = ("Ready", "Reconciling", "Stalled")
_condition_reasons: dict[tuple[str, str, str, str], str] = {}
#: The node-state values last set per pool (namespace, name).
_node_states: dict[tuple[str, str], tuple[tuple[str, str, float], ...]] = {}


def operation_of(method: str, path: str) -> str:
    """`GET Microsoft.Batch/batchAccounts/pools` style: the resource type, never resource names."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    lowered = [p.lower() for p in parts]
    if "providers" not in lowered:
        return f"{method} {'/'.join(p for p in parts[::2])}"
    rest = parts[lowered.index("providers") + 1 :]
    if not rest:
        return f"{method} providers"
    namespace, tail = rest[0], rest[1:]
    types = tail[::2]
    action = [tail[-1]] if len(tail) % 2 == 1 and len(tail) > 1 else []
    types = types[: len(types) - len(action)] if action else types
    return f"{method} {'/'.join([namespace, *types, *action])}"


def observe_response(response: Any) -> None:
    """azure-core `raw_response_hook`: called once per HTTP response, retries included."""
    request = response.http_request
    operation = operation_of(request.method, request.url.split("://", 1)[-1].split("/", 1)[-1])
    status = response.http_response.status_code
    AZURE_REQUESTS.labels(operation, str(status)).inc()
    if status == 429:
        AZURE_THROTTLED.labels(operation).inc()


def observe_data_plane_response(response: Any) -> None:
    """Like :func:`observe_response`, for the data plane: ``GET pools/nodes``, ``GET nodecounts``."""
    request = response.http_request
    parts = [p for p in request.url.split("?", 1)[0].split("://", 1)[-1].split("/")[1:] if p]
    lowered = [p.lower() for p in parts]
    start = next((i for i, p in enumerate(lowered) if p in ("pools", "nodecounts")), len(parts))
    operation = f"{request.method} {'/'.join(parts[start:][::2])}"
    DATA_PLANE_REQUESTS.labels(operation, str(response.http_response.status_code)).inc()


def set_node_states(namespace: str, name: str, counts: dict[str, Any]) -> None:
    """Set the pool's node-state series; unchanged counts (most passes) touch no series."""
    flat = tuple(
        (kind, state, float(value))
        for kind in ("dedicated", "lowPriority")
        for state, value in (counts.get(kind) or {}).items()
    )
    if _node_states.get((namespace, name)) == flat:
        return
    _node_states[(namespace, name)] = flat
    for kind, state, value in flat:
        POOL_NODE_STATES.labels(namespace, name, kind, state).set(value)


def observe_no_response(operation: str) -> None:
    AZURE_REQUESTS.labels(operation, "none").inc()


def set_pool(namespace: str, name: str, status: dict[str, Any]) -> None:
    for kind in ("Dedicated", "LowPriority"):
        label = kind[0].lower() + kind[1:]
        for state in ("current", "target"):
            value = status.get(f"{state}{kind}Nodes")
            if value is not None:
                POOL_NODES.labels(namespace, name, label, state).set(float(value))
    if status.get("resizeAttempts") is not None:
        POOL_RESIZE_ATTEMPTS.labels(namespace, name).set(float(status["resizeAttempts"]))


def set_conditions(kind: str, namespace: str, name: str, conditions: Iterable[Mapping[str, Any]]) -> None:
    """One series per object and condition type; a new reason replaces the old series."""
    for cond in conditions:
        type_ = cond.get("type")
        if type_ not in CONDITION_TYPES:
            continue
        key = (kind, namespace, name, str(type_))
        reason = str(cond.get("reason") or "")
        old = _condition_reasons.get(key)
        if old is not None and old != reason:
            with contextlib.suppress(KeyError):
                OBJECT_CONDITION.remove(*key, old)
        _condition_reasons[key] = reason
        OBJECT_CONDITION.labels(*key, reason).set(1.0 if cond.get("status") == "True" else 0.0)


def forget_object(kind: str, namespace: str, name: str) -> None:
    for type_ in CONDITION_TYPES:
        reason = _condition_reasons.pop((kind, namespace, name, type_), None)
        if reason is not None:
            with contextlib.suppress(KeyError):
                OBJECT_CONDITION.remove(kind, namespace, name, type_, reason)


def track_leadership(is_leading: Callable[[], bool]) -> None:
    """`azbatch_leader` reads `is_leading` at every scrape (no bookkeeping in the elector)."""
    LEADER.set_function(lambda: 1.0 if is_leading() else 0.0)


def forget_pool(namespace: str, name: str) -> None:
    for kind in ("dedicated", "lowPriority"):
        for state in ("current", "target"):
            with contextlib.suppress(KeyError):
                POOL_NODES.remove(namespace, name, kind, state)
    with contextlib.suppress(KeyError):
        POOL_RESIZE_ATTEMPTS.remove(namespace, name)
    _node_states.pop((namespace, name), None)
    for labels in list(POOL_NODE_STATES._metrics):
        if labels[:2] == (namespace, name):
            with contextlib.suppress(KeyError):
                POOL_NODE_STATES.remove(*labels)
    forget_object("batchpools", namespace, name)


def serve(port: int) -> None:
    """Expose /metrics on `port` (0 disables)."""
    if port:
        start_http_server(port)
