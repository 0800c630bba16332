"""Base models shared by the CRD mirrors: camelCase on the wire, snake_case in Python, frozen values."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

DeletionPolicy = Literal["Delete", "Orphan"]

#: A condition message never exceeds this (the CRD allows 32768; a status, an event and a
#: `kubectl get` column stay readable). Longer text (a long Azure error) is cut with a marker.
MESSAGE_MAX = 4096


def bounded(message: str, limit: int = MESSAGE_MAX) -> str:
    return message if len(message) <= limit else f"{message[: limit - 15]} … (truncated)"


def capped(limit: int) -> AfterValidator:
    """A status text field cut to ``limit`` characters (its CRD maxLength, or less) with a marker."""
    return AfterValidator(lambda message: bounded(message, limit))


class ApiModel(BaseModel):
    """Parse with ``Model.model_validate(body["spec"])``; dump with ``model_dump(by_alias=True)``.

    Unknown keys are ignored rather than rejected: the apiserver already validated the object
    against the CRD schema, and a newer CRD must not break an older operator.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        extra="ignore",
    )

    def to_wire(self) -> dict[str, Any]:
        """The camelCase JSON form of the fields given (what a merge patch expects): a field given
        as None is sent as null (the apiserver removes it), a field not given is not sent."""
        return self.model_dump(by_alias=True, exclude_unset=True, mode="json")


class StatusModel(ApiModel):
    """A kind's status, or part of one, as the operator writes it: the CRD's fields and no others
    (a field the CRD lacks would be pruned by the apiserver without a word, so it is refused here)."""

    model_config = ConfigDict(extra="forbid")


class ObjectRef(StatusModel):
    """A namespaced object, as listed in ``ManagedImage.status.usedBy``."""

    name: str
    namespace: str


class StatusCondition(StatusModel):
    """One ``metav1.Condition`` (reconcile/conditions.py builds them)."""

    type: str
    status: Literal["True", "False", "Unknown"]
    observed_generation: int | None = None
    last_transition_time: str
    reason: str
    message: Annotated[str, capped(MESSAGE_MAX)]


class Operation(StatusModel):
    """An Azure write recorded before it is sent (reconcile/lro.py ``Operation.to_status``)."""

    type: str
    resource_id: str
    started_at: str
