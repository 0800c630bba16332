"""Small builders for ARM-shaped dicts and specs used across the unit tests."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from azbatch_operator.api.status import status_patch
from azbatch_operator.reconcile import admission
from azbatch_operator.reconcile.image_limits import ImageLimitVerdict
from azbatch_operator.reconcile.names import ObjectMeta
from azbatch_operator.reconcile.plan import Plan

SUB = "00000000-0000-0000-0000-000000000001"
RG = f"/subscriptions/{SUB}/resourceGroups/images-rg"
ACCOUNT_ID = f"{RG}/providers/Microsoft.Batch/batchAccounts/acct1"
VM_ID = f"{RG}/providers/Microsoft.Compute/virtualMachines/prep-vm"
GALLERY_ID = f"{RG}/providers/Microsoft.Compute/galleries/batchimages"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
META = ObjectMeta(namespace="team-a", name="render-node-v1", uid="1234abcd-5678-90ef-1234-567890abcdef")


def disk_id(name: str) -> str:
    return f"{RG}/providers/Microsoft.Compute/disks/{name}"


def vm(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": VM_ID,
        "name": "prep-vm",
        "location": "westeurope",
        "properties": {
            "storageProfile": {
                "osDisk": {
                    "name": "prep-vm-os",
                    "osType": "Linux",
                    "managedDisk": {"id": disk_id("prep-vm-os")},
                },
                "dataDisks": [
                    {"lun": 0, "name": "prep-vm-data0", "managedDisk": {"id": disk_id("prep-vm-data0")}}
                ],
            }
        },
    }
    base.update(overrides)
    return base


def arm(
    resource_id: str, state: str = "Succeeded", tags: dict[str, str] | None = None, **props: Any
) -> dict[str, Any]:
    return {
        "id": resource_id,
        "location": "westeurope",
        "tags": tags or {},
        "properties": {"provisioningState": state, **props},
    }


def pool(
    state: str = "Steady",
    current: tuple[int, int] = (0, 0),
    target: tuple[int, int] | None = (0, 0),
    errors: list[dict[str, str]] | None = None,
    transition: str | None = "2026-01-02T03:00:00Z",
    image_id: str = "",
    vm_size: str = "Standard_D4s_v5",
    provisioning: str = "Succeeded",
) -> dict[str, Any]:
    scale = (
        {"fixedScale": {"targetDedicatedNodes": target[0], "targetLowPriorityNodes": target[1]}}
        if target is not None
        else {"autoScale": {"formula": "$TargetDedicatedNodes=1;", "evaluationInterval": "PT15M"}}
    )
    props: dict[str, Any] = {
        "provisioningState": provisioning,
        "vmSize": vm_size,
        "allocationState": state,
        "currentDedicatedNodes": current[0],
        "currentLowPriorityNodes": current[1],
        "scaleSettings": scale,
        "deploymentConfiguration": {
            "virtualMachineConfiguration": {
                "imageReference": {"id": image_id},
                "nodeAgentSkuId": "batch.node.ubuntu 22.04",
            }
        },
    }
    if transition:
        props["allocationStateTransitionTime"] = transition
    if errors is not None:
        props["resizeOperationStatus"] = {"errors": errors}
    return {"id": f"{ACCOUNT_ID}/pools/render", "name": "render", "properties": props}


def merge_patch(target: Any, patch: Any) -> Any:
    """``patch`` applied to ``target`` as the apiserver applies a JSON merge patch (RFC 7386)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def written(plural: str, plan: Plan) -> Plan:
    """``plan``, once its status and conditions passed through the status writer unchanged: every
    field a planner writes is one the CRD has, of the CRD's type (the writer refuses others)."""
    fields = {**plan.status, "conditions": list(plan.conditions)}
    assert status_patch(plural, fields) == json.loads(json.dumps(fields))
    return plan


def limit_verdict(
    pool: str,
    wanted: tuple[int, int],
    max_dedicated: int,
    max_low_priority: int = 1000,
    others: tuple[tuple[str, int, int], ...] = (),
) -> ImageLimitVerdict:
    """The image-limit verdict of a new ``pool`` on image "k" beside ``others`` (pool, dedicated,
    low-priority nodes Azure already holds for each)."""
    held = [admission.Claim(name, "k", (d, lp), (d, lp)) for name, d, lp in others]
    return admission.admit(admission.Claim(pool, "k", wanted, None), held, max_dedicated, max_low_priority)
