"""Base model shared by the CRD mirrors: camelCase on the wire, snake_case in Python, frozen values."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

DeletionPolicy = Literal["Delete", "Orphan"]


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

    def to_wire(self) -> dict[str, object]:
        """The camelCase JSON form, without unset optionals (what a status patch expects)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class ObjectRef(ApiModel):
    """A namespaced object, as listed in ``ManagedImage.status.usedBy``."""

    name: str
    namespace: str
