"""Microsoft.Compute: one module per resource-provider area, the ARM plumbing shared.

`common` (ids, lookups, LRO start/finish, operation-status routes), `disks` (Disk RP: disks and
snapshots), `vms` (virtual machines), `images` (managed images), `galleries` (Gallery RP: galleries,
image definitions, image versions). Modules import `common` and never each other, except `vms`,
whose seeded VMs own managed disks.
"""

from __future__ import annotations

from azuresim.arm import Arm
from azuresim.compute import common, disks, galleries, images, vms
from azuresim.errors import JSON
from azuresim.world import ResourceGroup, World


def seed_resource_group(world: World, rg: ResourceGroup, doc: JSON) -> None:
    """Seed in dependency order: disks, VMs (and their disks), snapshots, images, galleries."""
    disks.seed_disks(world, rg, doc)
    vms.seed_vms(world, rg, doc)
    disks.seed_snapshots(world, rg, doc)
    images.seed_images(world, rg, doc)
    galleries.seed_galleries(world, rg, doc)


def register(arm: Arm, world: World) -> None:
    for area in (disks, vms, images, galleries, common):
        area.register(arm)
    world.views[common.T_GVERSION.lower()] = galleries.version_view
    world.seeders.append(seed_resource_group)
