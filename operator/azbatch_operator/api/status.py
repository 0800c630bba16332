"""The one status writer: what the operator writes to an object's status, through its kind's model.

A status patch is a JSON merge patch: a field given as None is sent as null (the apiserver removes
it), a field not given is not sent (it stays as it is). Validating through the model keeps every
write within the CRD: its fields only (a field the CRD lacks is refused, not silently pruned), and
messages cut to their limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from azbatch_operator.api.batch_pool import BatchPoolStatus
from azbatch_operator.api.common import StatusModel
from azbatch_operator.api.managed_image import ManagedImageStatus

#: Each kind's status model, by the plural of its resource.
STATUS_MODELS: dict[str, type[StatusModel]] = {
    "batchpools": BatchPoolStatus,
    "managedimages": ManagedImageStatus,
}


def status_patch(plural: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The merge patch of ``status`` for ``fields`` (camelCase, as planners write them)."""
    return STATUS_MODELS[plural].model_validate(dict(fields)).to_wire()
