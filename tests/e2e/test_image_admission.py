"""The per-image node limit (seed S7) counted the way Azure counts it, with an operator of the
test's own whose limit is lowered to 50 dedicated nodes.

- a pool refused for the limit counts zero: it never stops a running pool on the same image from
  growing into the headroom;
- two pools applied in the same instant that do not both fit: exactly one is admitted, the older
  (creationTimestamp, then namespace/name), never both refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from azbatch_operator.devtools.controlplane import ControlPlane
from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import (
    SimulatorHandle,
    World,
    isolated_operator,
    patch_fixed_scale,
    wait_condition,
    wait_for,
)
from tests.e2e.test_batch_pool_resize import condition, fixed_pool, seed_gallery_version
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated

LIMIT = 50


@pytest.fixture
def limited_operator(
    control_plane: ControlPlane, simulator: SimulatorHandle, namespace: str, tmp_path: Path
) -> Iterator[Operator]:
    with isolated_operator(
        control_plane,
        simulator,
        namespace,
        tmp_path / "operator.log",
        AZBATCH_IMAGE_MAX_DEDICATED_NODES=str(LIMIT),
    ) as operator:
        yield operator


def stalled_reason(kubectl: Kubectl, ns: str, name: str) -> str | None:
    obj = kubectl.json("get", f"batchpool/{name}", "-n", ns)
    stalled = [c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Stalled"]
    return stalled[0]["reason"] if stalled and stalled[0]["status"] == "True" else None


def test_a_refused_pool_does_not_stop_a_running_pool_from_growing(
    kubectl: Kubectl, limited_operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    kubectl.apply(fixed_pool(world, version, name="running", dedicated=20))
    wait_condition(kubectl, "batchpool", ns, "running", "Ready", "Succeeded", timeout=90)
    # 20 + 40 > 50: refused, and never created in Azure.
    kubectl.apply(fixed_pool(world, version, name="refused", dedicated=40))
    refused = wait_condition(
        kubectl, "batchpool", ns, "refused", "Stalled", "ImageNodeLimitExceeded", timeout=60
    )
    assert admin.resource(world.pool_id("refused")) is None
    assert f"{ns}/running (20 dedicated" in condition(refused, "Stalled")["message"]

    # The running pool grows into the headroom: the refused pool holds nothing in Azure.
    patch_fixed_scale(kubectl, ns, "running", targetDedicatedNodes=45)
    wait_for(kubectl, "batchpool", ns, "running", ".status.observedGeneration", "2", timeout=30)
    running = wait_condition(kubectl, "batchpool", ns, "running", "Ready", "Succeeded", timeout=90)
    assert running["status"]["currentDedicatedNodes"] == 45
    assert stalled_reason(kubectl, ns, "refused") == "ImageNodeLimitExceeded"
    assert admin.resource(world.pool_id("refused")) is None

    # Growing past the limit on its own is still refused; the pool keeps what it has.
    patch_fixed_scale(kubectl, ns, "running", targetDedicatedNodes=60)
    wait_for(kubectl, "batchpool", ns, "running", ".status.observedGeneration", "3", timeout=30)
    running = wait_condition(
        kubectl, "batchpool", ns, "running", "Stalled", "ImageNodeLimitExceeded", timeout=60
    )
    assert running["status"]["currentDedicatedNodes"] == 45


def test_two_pools_applied_at_once_exactly_one_is_admitted_the_older(
    kubectl: Kubectl, limited_operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    names = ["beta", "alpha"]  # both 30: either fits alone, both do not
    docs = [fixed_pool(world, version, name=n, dedicated=30) for n in names]
    kubectl.run("apply", "-f", "-", input=yaml.safe_dump_all(docs))
    objs = {n: kubectl.json("get", f"batchpool/{n}", "-n", ns) for n in names}
    older = min(names, key=lambda n: (objs[n]["metadata"]["creationTimestamp"], f"{ns}/{n}"))
    newer = next(n for n in names if n != older)

    wait_condition(kubectl, "batchpool", ns, older, "Ready", "Succeeded", timeout=90)
    refused = wait_condition(kubectl, "batchpool", ns, newer, "Stalled", "ImageNodeLimitExceeded", timeout=60)
    assert "60 dedicated nodes exceed the limit of 50" in condition(refused, "Stalled")["message"]
    assert admin.resource(world.pool_id(older)) is not None
    assert admin.resource(world.pool_id(newer)) is None
    # And it stays that way: the older pool is not pushed out later by the newer one.
    assert stalled_reason(kubectl, ns, older) is None
