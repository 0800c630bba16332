"""Typed mirrors of the CRD schema (crds/ is the source of truth): pure values, no I/O.

Rule: imports nothing of the operator but itself, and no I/O library (checked by `make lint`).

Parse what the apiserver gives with ``XxxSpec.model_validate(body["spec"])``; a
``pydantic.ValidationError`` there is an ``InvalidSpec`` condition (see ``describe_validation_error``).
Write status only through ``status.status_patch``: the kind's status model, serialised by ``to_wire``.
"""

from __future__ import annotations

from pydantic import ValidationError

from azbatch_operator.api.batch_pool import BatchPoolSpec, BatchPoolStatus
from azbatch_operator.api.durations import InvalidDuration, format_duration, parse_duration
from azbatch_operator.api.managed_image import ManagedImageSpec, ManagedImageStatus

__all__ = [
    "BatchPoolSpec",
    "BatchPoolStatus",
    "InvalidDuration",
    "ManagedImageSpec",
    "ManagedImageStatus",
    "describe_validation_error",
    "format_duration",
    "parse_duration",
]


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, with the camelCase field path users see in their YAML."""
    lines = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"]) or "spec"
        lines.append(f"spec.{path}: {item['msg']}")
    return "; ".join(lines)
