"""Compute RP: virtual machines (read-only, seeded with their managed disks and extensions)."""

from __future__ import annotations

from aiohttp import web

from azuresim.arm import RG, Arm, Ctx, ok
from azuresim.clock import iso
from azuresim.compute.common import T_VM, P, get_or_404, rid, view
from azuresim.compute.disks import seed_disk
from azuresim.errors import JSON
from azuresim.world import Resource, ResourceGroup, World, region, stable_uuid


def seed_vms(world: World, rg: ResourceGroup, doc: JSON) -> None:
    now = iso(world.clock.now())
    for vm in doc.get("virtualMachines") or []:
        _seed_vm(world, rg.subscription, rg.name, rg.location, vm, now)


def _seed_vm(world: World, sub: str, rg: str, loc: str, vm: JSON, now: str) -> None:
    vm_id = rid(sub, rg, "virtualMachines", vm["name"])
    osd: JSON = vm.get("osDisk") or {}
    osd.setdefault("name", f"{vm['name']}-os")
    os_type = osd.get("osType", "Linux")
    encrypted = bool(osd.get("encrypted", False))
    os_disk: JSON = {
        "osType": os_type,
        "name": osd["name"],
        "createOption": "FromImage",
        "caching": "ReadWrite",
        "deleteOption": "Detach",
        "diskSizeGB": int(osd.get("sizeGB", 64)),
    }
    if osd.get("managed", True):
        disk_id = seed_disk(world, sub, rg, loc, osd, vm_id, now, os_type=os_type, encrypted=encrypted)
        os_disk["managedDisk"] = {"id": disk_id, "storageAccountType": osd.get("sku", "Premium_LRS")}
    else:
        os_disk["vhd"] = {
            "uri": f"https://{vm['name'].lower()}stor.blob.core.windows.net/vhds/{osd['name']}.vhd"
        }
    if encrypted:
        os_disk["encryptionSettings"] = {"enabled": True}
    data_disks: list[JSON] = []
    for dd in vm.get("dataDisks") or []:
        entry: JSON = {
            "lun": int(dd.get("lun", len(data_disks))),
            "name": dd["name"],
            "createOption": "Empty",
            "caching": "None",
            "diskSizeGB": int(dd.get("sizeGB", 128)),
            "toBeDetached": False,
        }
        if dd.get("managed", True):
            entry["managedDisk"] = {
                "id": seed_disk(world, sub, rg, loc, dd, vm_id, now),
                "storageAccountType": dd.get("sku", "Premium_LRS"),
            }
        else:
            entry["vhd"] = {
                "uri": f"https://{vm['name'].lower()}stor.blob.core.windows.net/vhds/{dd['name']}.vhd"
            }
        data_disks.append(entry)
    image_ref = vm.get("imageReference") or {
        "publisher": "Canonical",
        "offer": "0001-com-ubuntu-server-jammy",
        "sku": "22_04-lts-gen2",
        "version": "latest",
    }
    props: JSON = {
        "vmId": stable_uuid(vm_id.lower()),
        "hardwareProfile": {"vmSize": vm.get("vmSize", "Standard_D2s_v5")},
        "storageProfile": {"imageReference": image_ref, "osDisk": os_disk, "dataDisks": data_disks},
        "osProfile": {
            "computerName": vm["name"],
            "adminUsername": "azureuser",
            "linuxConfiguration": {"disablePasswordAuthentication": True},
        },
        "networkProfile": {
            "networkInterfaces": [
                {
                    "id": f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
                    f"Microsoft.Network/networkInterfaces/{vm['name']}-nic"
                }
            ]
        },
        "provisioningState": "Succeeded",
        "timeCreated": now,
    }
    if vm.get("encryptionAtHost"):
        props["securityProfile"] = {"encryptionAtHost": True}
    extra: JSON = {}
    if vm.get("plan"):
        extra["plan"] = dict(vm["plan"])
    exts = []
    for e in vm.get("extensions") or []:
        ename = e if isinstance(e, str) else e["name"]
        exts.append(
            {
                "id": f"{vm_id}/extensions/{ename}",
                "name": ename,
                "type": "Microsoft.Compute/virtualMachines/extensions",
                "location": loc,
                "properties": {
                    "autoUpgradeMinorVersion": True,
                    "provisioningState": "Succeeded",
                    "publisher": "Microsoft.Azure.Extensions",
                    "type": ename,
                    "typeHandlerVersion": "2.1",
                },
            }
        )
    if exts:
        extra["resources"] = exts
    world.put(
        Resource(
            vm_id,
            T_VM,
            vm["name"],
            region(vm.get("location") or loc),
            props,
            tags=dict(vm.get("tags") or {}),
            extra=extra,
        )
    )


async def vms_get(ctx: Ctx) -> web.StreamResponse:
    p = ctx.params
    body = view(ctx, get_or_404(ctx, rid(p["sub"], p["rg"], "virtualMachines", p["name"]), T_VM, p["name"]))
    expand = ctx.request.query.get("$expand", "")
    if expand.lower() == "instanceview":
        body["properties"]["instanceView"] = {
            "statuses": [
                {
                    "code": "ProvisioningState/succeeded",
                    "level": "Info",
                    "displayStatus": "Provisioning succeeded",
                },
                {"code": "PowerState/running", "level": "Info", "displayStatus": "VM running"},
            ]
        }
    return ok(body)


def register(arm: Arm) -> None:
    arm.add(
        "GET",
        RG + P + "/virtualMachines/(?P<name>[^/]+)",
        "VirtualMachines_Get",
        "read",
        "Microsoft.Compute/virtualMachines/read",
        "compute",
        vms_get,
    )
