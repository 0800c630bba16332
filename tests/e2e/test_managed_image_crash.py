"""Crash safety and cost: SIGKILL the operator during creation; count ARM requests once Ready.

These tests restart the session operator (the one every e2e module shares) instead of running a
second one beside it: two operators on the same objects would race. It is always running again
when a test here ends, with the session's settings.
"""

from __future__ import annotations

from collections import Counter

from azbatch_operator.devtools import processes
from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import OPERATOR_ENV, SimulatorHandle, World, wait_condition
from tests.e2e.managed_image_support import (
    DEFINITIONS,
    IMAGES,
    SNAPSHOTS,
    VERSIONS,
    arm_requests_for,
    image_manifest,
    in_rg,
    vm_source,
)
from tests.kube import Kubectl


def test_sigkill_during_creation_adopts_instead_of_duplicating(
    kubectl: Kubectl, restartable: Operator, simulator: SimulatorHandle, world: World
) -> None:
    ns, admin = world.namespace, simulator.admin
    seeded_snapshots = len(in_rg(admin, world, SNAPSHOTS))

    def owned(type_: str) -> list[dict[str, object]]:
        return [
            r
            for r in in_rg(admin, world, type_)
            if (r.get("tags") or {}).get("azbatch.io-owner") == f"{ns}/img"
        ]

    kubectl.apply(
        image_manifest(
            world, "img", vm_source(world), gallery={"imageDefinition": "render", "version": "1.0.0"}
        )
    )
    # Kill right after each create request reached Azure, before the operator could record it.
    for type_ in (SNAPSHOTS, IMAGES, VERSIONS):
        processes.wait_until(lambda: bool(owned(type_)), 60, f"a {type_} to appear")  # noqa: B023 (called at once)
        restartable.kill()
        restartable.start()

    obj = wait_condition(kubectl, "managedimage", ns, "img", "Ready", reason="Succeeded", timeout=120)
    assert len(owned(SNAPSHOTS)) == 2  # OS + data disk lun 0: one set
    assert len(in_rg(admin, world, SNAPSHOTS)) == seeded_snapshots + 2
    assert len(in_rg(admin, world, IMAGES)) == 1
    assert len(in_rg(admin, world, DEFINITIONS)) == 1
    assert len(in_rg(admin, world, VERSIONS)) == 1
    assert sorted(str(s["id"]).lower() for s in owned(SNAPSHOTS)) == sorted(
        s.lower() for s in obj["status"]["snapshotIds"]
    )


def test_arm_requests_per_image(
    kubectl: Kubectl, restartable: Operator, simulator: SimulatorHandle, world: World
) -> None:
    """Apply->Ready cost and the steady-state read rate of one published image.

    The steady pass is measured with a short slow interval, then scaled to the default
    AZBATCH_POLL_SLOW_SECONDS (600 s) for the per-hour figure.
    """
    slow = 3.0
    restartable.stop()
    restartable.env = {**restartable.env, "AZBATCH_POLL_SLOW_SECONDS": str(slow)}
    restartable.start()
    ns, admin = world.namespace, simulator.admin
    kubectl.apply(
        image_manifest(
            world, "cost", vm_source(world), gallery={"imageDefinition": "render", "version": "1.0.0"}
        )
    )
    wait_condition(kubectl, "managedimage", ns, "cost", "Ready", reason="Succeeded", timeout=90)
    to_ready = arm_requests_for(admin, world)

    admin.reset_requests()
    processes.wait_until(
        lambda: sum(r["operation"] == "Images_Get" for r in arm_requests_for(admin, world)) >= 3,
        30,
        "three steady passes",
    )
    steady = arm_requests_for(admin, world)
    by_operation = Counter(r["operation"] for r in steady)
    passes = by_operation["Images_Get"]
    # A pass reads the image, then the gallery, definition and version together; the window may
    # end inside a pass, so every other read is counted at most once per started pass.
    assert all(count <= passes for count in by_operation.values()), by_operation
    per_pass = float(len(by_operation))
    default_slow = 600.0
    per_hour = per_pass * 3600 / default_slow
    writes = [r for r in to_ready if r["method"] != "GET"]
    print(
        f"\nARM requests, VM source + gallery: apply->Ready {len(to_ready)} ({len(writes)} writes); "
        f"steady {per_pass:.1f} GETs per pass -> {per_hour:.0f}/hour at AZBATCH_POLL_SLOW_SECONDS=600 "
        f"(test env {OPERATOR_ENV['AZBATCH_POLL_SLOW_SECONDS']} s would be {per_pass * 3600 / 30:.0f}/hour)"
    )
    assert {r["method"] for r in steady} == {"GET"}  # a Ready image never writes
    assert set(by_operation) <= {
        "Images_Get",
        "Galleries_Get",
        "GalleryImages_Get",
        "GalleryImageVersions_Get",
    }
    assert len(writes) == 5  # 2 snapshots, image, definition, version
