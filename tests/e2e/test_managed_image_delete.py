"""Protected deletion: a ManagedImage stays while a BatchPool uses it; Delete vs Orphan."""

from __future__ import annotations

from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import SimulatorHandle, World, wait_condition, wait_for
from tests.e2e.managed_image_support import (
    DEFINITIONS,
    IMAGES,
    SNAPSHOTS,
    VERSIONS,
    condition,
    event_reasons,
    image_manifest,
    in_rg,
    pool_manifest,
    vm_source,
)
from tests.kube import Kubectl


def _wait_gone(kubectl: Kubectl, namespace: str, name: str, timeout: int = 60) -> None:
    kubectl.run("wait", f"managedimage/{name}", "-n", namespace, "--for=delete", f"--timeout={timeout}s")


def test_deletion_waits_for_pools_then_removes_what_it_created(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    ns = world.namespace
    kubectl.apply(
        image_manifest(
            world, "img", vm_source(world), gallery={"imageDefinition": "render", "version": "1.0.0"}
        )
    )
    # The pool points at a Batch account that does not exist: the operator creates nothing for it.
    nowhere = world.account_id.replace(world.account_name, "no-such-account")
    kubectl.apply(pool_manifest(world, "pool-a", "img", account_id=nowhere))
    obj = wait_condition(kubectl, "managedimage", ns, "img", "Ready", reason="Succeeded", timeout=90)
    obj = wait_for(kubectl, "managedimage", ns, "img", "{.status.usedBy[0].name}", "pool-a", timeout=30)
    assert obj["status"]["usedBy"] == [{"namespace": ns, "name": "pool-a"}]
    owned_snapshots = [s.lower() for s in obj["status"]["snapshotIds"]]
    assert len(owned_snapshots) == 2

    kubectl.run("delete", "managedimage/img", "-n", ns, "--wait=false")
    obj = wait_condition(kubectl, "managedimage", ns, "img", "Ready", reason="ImageInUse", status="False")
    message = condition(obj, "Ready")["message"]
    assert f"{ns}/pool-a" in message
    assert "delete or repoint" in message
    assert obj["status"]["usedBy"] == [{"namespace": ns, "name": "pool-a"}]
    assert any(r == "ImageInUse" for _, r in event_reasons(kubectl, ns, "img"))
    # Azure is untouched while the pool exists.
    assert len(in_rg(simulator.admin, world, IMAGES)) == 1
    assert len(in_rg(simulator.admin, world, VERSIONS)) == 1

    kubectl.run("delete", "batchpool/pool-a", "-n", ns, "--timeout=60s")
    _wait_gone(kubectl, ns, "img", timeout=90)
    assert in_rg(simulator.admin, world, VERSIONS) == []
    assert in_rg(simulator.admin, world, IMAGES) == []
    left = {str(s["id"]).lower() for s in in_rg(simulator.admin, world, SNAPSHOTS)}
    assert not left & set(owned_snapshots)
    # What the user brought is left alone: the seeded snapshots, the VM, the gallery definition.
    assert {"os-snap", "data0-snap"} <= {i.rsplit("/", 1)[-1] for i in left}
    assert simulator.admin.resource(world.vm_id) is not None
    assert len(in_rg(simulator.admin, world, DEFINITIONS)) == 1


def test_orphan_leaves_azure_untouched(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    ns = world.namespace
    kubectl.apply(
        image_manifest(
            world,
            "keep",
            vm_source(world),
            gallery={"imageDefinition": "render", "version": "1.0.0"},
            deletionPolicy="Orphan",
        )
    )
    obj = wait_condition(kubectl, "managedimage", ns, "keep", "Ready", reason="Succeeded", timeout=90)
    snapshots = {s.lower() for s in obj["status"]["snapshotIds"]}
    kubectl.run("delete", "managedimage/keep", "-n", ns, "--wait=false")
    _wait_gone(kubectl, ns, "keep")
    assert len(in_rg(simulator.admin, world, IMAGES)) == 1
    assert len(in_rg(simulator.admin, world, VERSIONS)) == 1
    assert snapshots <= {str(s["id"]).lower() for s in in_rg(simulator.admin, world, SNAPSHOTS)}
