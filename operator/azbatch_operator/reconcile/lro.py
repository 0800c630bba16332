"""Long-running operations remembered in status (CAPZ style) and ARM provisioning states.

A create is recorded in ``status.operations`` as ``{type, resourceId, startedAt}`` in the same patch
that reports the action.  If the next GET still says 404 within ``create_grace_seconds`` this is ARM
lag, not a lost request, so the planner waits instead of sending a second PUT.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from azbatch_operator.reconcile import arm_ids
from azbatch_operator.reconcile.conditions import parse_rfc3339, rfc3339


class State(StrEnum):
    ABSENT = "absent"
    IN_PROGRESS = "in_progress"
    DELETING = "deleting"
    FAILED = "failed"
    SUCCEEDED = "succeeded"


def state_of(resource: Mapping[str, Any] | None) -> State:
    """Map ARM ``properties.provisioningState`` to the few states the planners care about."""
    if resource is None:
        return State.ABSENT
    props = resource.get("properties")
    raw = str(props.get("provisioningState") or "Succeeded") if isinstance(props, Mapping) else "Succeeded"
    value = raw.lower()
    if value == "succeeded":
        return State.SUCCEEDED
    if value in ("failed", "canceled", "cancelled"):
        return State.FAILED
    if value == "deleting":
        return State.DELETING
    return State.IN_PROGRESS


def error_of(resource: Mapping[str, Any]) -> str:
    """Azure's ``code: message`` for a failed resource, when it says one."""
    props = resource.get("properties")
    err = props.get("error") if isinstance(props, Mapping) else None
    if isinstance(err, Mapping):
        return f"{err.get('code', 'Failed')}: {err.get('message', '')}".rstrip(": ")
    return "provisioningState Failed"


@dataclass(frozen=True)
class Operation:
    type: str
    resource_id: str
    started_at: datetime

    def to_status(self) -> dict[str, str]:
        return {"type": self.type, "resourceId": self.resource_id, "startedAt": rfc3339(self.started_at)}

    @classmethod
    def from_status(cls, raw: Mapping[str, Any]) -> Operation | None:
        try:
            return cls(str(raw["type"]), str(raw["resourceId"]), parse_rfc3339(str(raw["startedAt"])))
        except (KeyError, ValueError, TypeError):
            return None


def operations(status: Mapping[str, Any]) -> tuple[Operation, ...]:
    raw: Iterable[Any] = status.get("operations") or ()
    parsed = (Operation.from_status(r) for r in raw if isinstance(r, Mapping))
    return tuple(op for op in parsed if op is not None)


def recently_started(
    ops: Iterable[Operation], resource_id: str, now: datetime, grace_seconds: float
) -> Operation | None:
    """The recorded operation on ``resource_id`` if it started less than ``grace_seconds`` ago."""
    for op in ops:
        if (
            arm_ids.same(op.resource_id, resource_id)
            and (now - op.started_at).total_seconds() < grace_seconds
        ):
            return op
    return None
