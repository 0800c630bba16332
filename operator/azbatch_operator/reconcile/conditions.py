"""metav1.Condition-shaped dicts and the kstatus triad (Ready / Reconciling / Stalled).

Named constructors keep the three conditions consistent: exactly one of "ready", "progressing",
"stalled" holds at a time.  ``merge`` preserves ``lastTransitionTime`` when a condition's status did
not change, as Kubernetes API conventions require (so ``kubectl wait`` and Argo CD see stable times).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TypedDict

from azbatch_operator.api.common import MESSAGE_MAX as MESSAGE_MAX
from azbatch_operator.api.common import bounded as bounded

READY = "Ready"
RECONCILING = "Reconciling"
STALLED = "Stalled"
#: Seed S5 warning: True while another BatchPool uses the same image.
IMAGE_SHARED = "ImageShared"


class Reason(StrEnum):
    """Every condition reason the operator reports (DESIGN.md "Conditions"); CamelCase, stable."""

    CREATING = "Creating"
    RESIZING = "Resizing"
    RESIZE_RETRY = "ResizeRetry"
    SUCCEEDED = "Succeeded"
    INVALID_SPEC = "InvalidSpec"
    IMAGE_NOT_FOUND = "ImageNotFound"
    IMAGE_NOT_READY = "ImageNotReady"
    IMAGE_IN_USE = "ImageInUse"
    IMAGE_REGION_MISMATCH = "ImageRegionMismatch"
    IMAGE_NODE_LIMIT_EXCEEDED = "ImageNodeLimitExceeded"
    IMAGE_SHARED = "ImageShared"
    PREFLIGHT_FAILED = "PreflightFailed"
    QUOTA_EXCEEDED = "QuotaExceeded"
    RESIZE_RETRIES_EXHAUSTED = "ResizeRetriesExhausted"
    ACCESS_DENIED = "AccessDenied"
    THROTTLED = "Throttled"
    AZURE_ERROR = "AzureError"
    DELETING = "Deleting"
    ADOPTED = "Adopted"
    ALREADY_OWNED = "AlreadyOwned"
    PUBLISHING = "Publishing"
    REPLICATING = "Replicating"
    SNAPSHOTTING = "Snapshotting"
    STOPPING_RESIZE = "StoppingResize"
    UPDATING = "Updating"
    WAITING = "Waiting"
    TRANSIENT_ERROR = "TransientError"
    NOT_SHARED = "NotShared"
    # Pool configuration (issue 12).
    UPDATE_REQUIRES_EMPTY_POOL = "UpdateRequiresEmptyPool"
    SECRET_NOT_FOUND = "SecretNotFound"
    START_TASK_FAILED = "StartTaskFailed"
    NODES_UNUSABLE = "NodesUnusable"
    # Rollouts (issue 13).
    ROLLING_OUT = "RollingOut"
    ROLLOUT_FAILED = "RolloutFailed"


class Condition(TypedDict):
    type: str
    status: str
    reason: str
    message: str
    lastTransitionTime: str
    observedGeneration: int


def rfc3339(now: datetime) -> str:
    """``2025-01-02T03:04:05Z``; naive datetimes are refused because they hide clock bugs."""
    if now.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (pass datetime.now(UTC))")
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(text: str) -> datetime:
    """Inverse of :func:`rfc3339`; also accepts ARM's fractional seconds and ``+00:00`` offsets."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def condition(
    type_: str, status: bool | None, reason: str, message: str, gen: int, now: datetime
) -> Condition:
    """One condition; ``status`` True/False/None maps to "True"/"False"/"Unknown"."""
    text = "Unknown" if status is None else ("True" if status else "False")
    return Condition(
        type=type_,
        status=text,
        reason=str(reason),
        message=bounded(message),
        lastTransitionTime=rfc3339(now),
        observedGeneration=gen,
    )


def ready(gen: int, now: datetime, reason: str = Reason.SUCCEEDED, message: str = "") -> list[Condition]:
    """Azure state matches the spec."""
    return [
        condition(READY, True, reason, message or "Azure state matches the spec", gen, now),
        condition(RECONCILING, False, reason, "", gen, now),
        condition(STALLED, False, reason, "", gen, now),
    ]


def progressing(gen: int, now: datetime, reason: str, message: str) -> list[Condition]:
    """Work is under way and will finish without a human."""
    return [
        condition(READY, False, reason, message, gen, now),
        condition(RECONCILING, True, reason, message, gen, now),
        condition(STALLED, False, reason, "", gen, now),
    ]


def stalled(gen: int, now: datetime, reason: str, message: str) -> list[Condition]:
    """Nothing will progress without a human; ``message`` says what to do."""
    return [
        condition(READY, False, reason, message, gen, now),
        condition(RECONCILING, False, reason, "", gen, now),
        condition(STALLED, True, reason, message, gen, now),
    ]


def deleting(gen: int, now: datetime, message: str, reason: str = Reason.DELETING) -> list[Condition]:
    """The object is being deleted and its Azure resources are being removed."""
    return progressing(gen, now, reason, message)


def merge(existing: Iterable[Condition], new: Sequence[Condition]) -> list[Condition]:
    """Replace conditions by type, keeping ``lastTransitionTime`` when the status is unchanged.

    Conditions of other types in ``existing`` are kept, in their original order, before new types.
    """
    previous = {c["type"]: c for c in existing}
    replacing = {c["type"]: c for c in new}
    out: list[Condition] = []
    for ctype, old in previous.items():
        fresh = replacing.get(ctype)
        if fresh is None:
            out.append(old)
            continue
        if fresh["status"] == old.get("status") and old.get("lastTransitionTime"):
            fresh = Condition(**{**fresh, "lastTransitionTime": old["lastTransitionTime"]})
        out.append(fresh)
    out.extend(c for c in new if c["type"] not in previous)
    return out


def find(conditions: Iterable[Condition], type_: str) -> Condition | None:
    return next((c for c in conditions if c.get("type") == type_), None)


def holds(conditions: Iterable[Condition], type_: str) -> bool:
    """The condition of ``type_`` is there with status True."""
    found = find(conditions, type_)
    return found is not None and found["status"] == "True"
