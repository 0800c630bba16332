"""The VM sizes Batch offers in a region, and the allocation failures they cause.

A world declares the catalogue under `batch.vmSizes` (without one, every size is accepted and
allocates, as before). Each entry is what `Location_ListSupportedVirtualMachineSkus` reports
(LocationListVirtualMachineSkus.json: name, familyName, capabilities vCPUs / HyperVGenerations /
LowPriorityCapable / AcceleratedNetworkingEnabled / EphemeralOSDiskSupported) plus `allocation`,
how the region answers a resize that needs new nodes of that size:

* `ok` (default): nodes arrive;
* `capacity` / `internal`: `AllocationFailed` (the pool's image is fine), with the Compute
  provider's error in `details` (the messages of "Understand common error messages when you manage
  virtual machines in Azure");
* `overconstrained`: `OverconstrainedAllocationRequestError` (a PoolResizeErrorCodes value).

Independent of `allocation`: a Gen2 image on a size without `V2` in `hyperVGenerations` (and a Gen1
image on a V2-only size) fails with `AllocationFailed` whose detail is the provider's `BadRequest`
"The selected VM size '...' cannot boot Hypervisor Generation '2'" (as Batch reports it,
microsoft/ga4gh-tes#43); low-priority nodes on a size that is not `lowPriorityCapable`, accelerated
networking or an ephemeral OS disk on a size without them: `IncompatibleVMSize` ("Requested VM size
is not compatible with requested configuration").
"""

from __future__ import annotations

from typing import Any

from azuresim.allocation import image_id_of, vm_cores, vm_family
from azuresim.errors import JSON
from azuresim.world import Resource, World, region

CAPACITY = (
    "Allocation failed. We do not have sufficient capacity for the requested VM size in this region. "
    "Read more about improving likelihood of allocation success at http://aka.ms/allocation-guidance"
)
INTERNAL = (
    "The VM allocation failed due to an internal error. Please retry later or try deploying to a "
    "different location."
)
OVERCONSTRAINED = (
    "Allocation failed. VM(s) with the following constraints cannot be allocated, because the "
    "condition is too restrictive. Please remove some constraints and try again. Constraints "
    "applied are: - VM Size"
)


def catalogue(world: World, location: str) -> list[JSON] | None:
    """The declared sizes offered in `location`, or None when the world declares none for it.

    An entry without `locations` applies to every region; a region no entry applies to is not
    constrained (so a world can model one region's catalogue without touching the others)."""
    declared = world.cfg("batch").get("vmSizes")
    if not isinstance(declared, list):
        return None
    out = []
    for entry in declared:
        sku = {"name": entry} if isinstance(entry, str) else dict(entry)
        where = [region(r) for r in sku.get("locations") or []]
        if not where or location in where:
            out.append(sku)
    return out or None


def find(world: World, location: str, vm_size: str) -> JSON | None:
    """The catalogue entry for `vm_size` (case-insensitive); {} when no catalogue is declared."""
    skus = catalogue(world, location)
    if skus is None:
        return {}
    for sku in skus:
        if str(sku.get("name", "")).lower() == vm_size.lower():
            return sku
    return None


def listing(world: World, location: str) -> list[JSON]:
    """`Location_ListSupportedVirtualMachineSkus` body items."""
    from azuresim.allocation import VM_CORES

    skus = catalogue(world, location)
    if skus is None:
        skus = [{"name": _display_name(k)} for k in sorted(VM_CORES)]
    items = []
    for sku in skus:
        name = str(sku["name"])
        caps = {
            "vCPUs": str(sku.get("vCPUs") or vm_cores(name)),
            "HyperVGenerations": ",".join(_generations(sku)),
            "LowPriorityCapable": str(bool(sku.get("lowPriorityCapable", True))),
            "AcceleratedNetworkingEnabled": str(bool(sku.get("acceleratedNetworking", True))),
            "EphemeralOSDiskSupported": str(bool(sku.get("ephemeralOSDisk", True))),
        }
        items.append(
            {
                "name": name,
                "familyName": str(sku.get("family") or vm_family(name)),
                "capabilities": [{"name": k, "value": v} for k, v in caps.items()],
            }
        )
    return items


def _display_name(key: str) -> str:
    """standard_d4s_v5 -> Standard_D4s_v5."""
    head, _, rest = key.partition("_")
    return f"{head.capitalize()}_{rest[:1].upper()}{rest[1:]}"


def _generations(sku: JSON) -> list[str]:
    return [str(g).upper() for g in sku.get("hyperVGenerations") or ["V1", "V2"]]


def image_generation(world: World, pool: Resource) -> str | None:
    """V1/V2 of the pool's custom image: a managed image's own, a gallery version's definition's."""
    image_id = image_id_of(pool)
    if not image_id:
        return None
    low = image_id.lower()
    if "/versions/" in low:
        definition = world.get(image_id[: low.rindex("/versions/")])
        gen = definition.properties.get("hyperVGeneration") if definition else None
    else:
        image = world.get(image_id)
        gen = image.properties.get("hyperVGeneration") if image else None
    return str(gen or "V1").upper()


def _failed(code: str, message: str, details: list[JSON] | None = None) -> JSON:
    return {"code": code, "message": message, "details": details or []}


def allocation_failure(world: World, pool: Resource, location: str, low_priority: bool) -> JSON | None:
    """The resize error a growing resize of `pool` ends with, or None when nodes can be allocated."""
    vm_size = str(pool.properties.get("vmSize", ""))
    sku = find(world, location, vm_size)
    if not sku:
        return None
    kind = "low priority" if low_priority else "dedicated"
    incompatible = _incompatibility(pool, sku, low_priority)
    if incompatible:
        return _failed(
            "IncompatibleVMSize",
            f"Requested VM size is not compatible with requested configuration: {incompatible}.",
        )
    gen = image_generation(world, pool)
    if gen is not None and gen not in _generations(sku):
        return _failed(
            "AllocationFailed",
            f"Desired number of {kind} nodes could not be allocated",
            [
                {
                    "code": "BadRequest",
                    "message": f"The selected VM size '{vm_size}' cannot boot Hypervisor Generation "
                    f"'{gen[1:]}'. If this was a Create operation please check that the Hypervisor "
                    "Generation of the Image matches the Hypervisor Generation of the selected VM "
                    "Size. For more information, see https://aka.ms/azuregen2vm",
                }
            ],
        )
    outcome = str(sku.get("allocation") or "ok").lower()
    if outcome in ("capacity", "internal"):
        detail = {"code": "AllocationFailed", "message": CAPACITY if outcome == "capacity" else INTERNAL}
        return _failed("AllocationFailed", f"Desired number of {kind} nodes could not be allocated", [detail])
    if outcome == "overconstrained":
        return _failed("OverconstrainedAllocationRequestError", OVERCONSTRAINED)
    return None


def _incompatibility(pool: Resource, sku: JSON, low_priority: bool) -> str:
    props: dict[str, Any] = pool.properties
    name = sku.get("name")
    if low_priority and not sku.get("lowPriorityCapable", True):
        return f"{name} does not support Spot/low-priority nodes"
    if (props.get("networkConfiguration") or {}).get("enableAcceleratedNetworking") and not sku.get(
        "acceleratedNetworking", True
    ):
        return f"{name} does not support accelerated networking"
    vmc = (props.get("deploymentConfiguration") or {}).get("virtualMachineConfiguration") or {}
    if ((vmc.get("osDisk") or {}).get("ephemeralOSDiskSettings") or {}).get("placement") and not sku.get(
        "ephemeralOSDisk", True
    ):
        return f"{name} does not support an ephemeral OS disk"
    return ""
