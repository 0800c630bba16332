"""Reliability campaign: the operator SIGKILLed 20 times at seeded random moments, during creates,
resizes and deletes. Every object still converges, Azure never gets a duplicate or an orphan, and
deleting everything leaves nothing behind.

Sizes: 200 BatchPools (180 on a seeded gallery version, 20 on ManagedImages) and 20 ManagedImages;
8 kills while creating, 6 while resizing every pool (2 -> 5 nodes), 6 while deleting.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from azbatch_operator.devtools.controlplane import ControlPlane
from azbatch_operator.devtools.stack import Operator
from tests.e2e.campaign_support import (
    apply_all,
    assert_azure_matches_objects,
    assert_nothing_left,
    big_world,
    objects,
    pool,
    wait_all_ready,
    wait_until,
)
from tests.e2e.conftest import SimulatorHandle, isolated_operator
from tests.e2e.test_smoke_flow import image_manifest
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated

POOLS, IMAGES = 200, 20
SEED = 20261126


def kill_at_random(operator: Operator, rng: random.Random, times: int, low: float, high: float) -> None:
    """SIGKILL `times` times, each after a random 0.2-2 s of work, restarting at once."""
    for _ in range(times):
        time.sleep(rng.uniform(low, high))
        operator.kill()
        operator.start()


def test_sigkill_twenty_times_during_creates_resizes_and_deletes(
    kubectl: Kubectl,
    control_plane: ControlPlane,
    simulator: SimulatorHandle,
    namespace: str,
    tmp_path: Path,
) -> None:
    admin, rng = simulator.admin, random.Random(SEED)
    world, version = big_world(admin, namespace, POOLS)

    def docs(nodes: int) -> list[dict[str, object]]:
        out: list[dict[str, object]] = [image_manifest(world, f"img{i:02d}") for i in range(IMAGES)]
        out += [pool(world, f"p{i:03d}", image_id=version, nodes=nodes) for i in range(POOLS - IMAGES)]
        out += [pool(world, f"r{i:02d}", image_ref=f"img{i:02d}", nodes=nodes) for i in range(IMAGES)]
        return out

    counts = {"managedimage": IMAGES, "batchpool": POOLS}
    with isolated_operator(control_plane, simulator, namespace, tmp_path / "operator.log") as operator:
        apply_all(kubectl, docs(2))
        kill_at_random(operator, rng, 8, 0.2, 2.0)
        wait_all_ready(kubectl, namespace, counts, timeout=180)
        assert_azure_matches_objects(admin, world, kubectl)

        apply_all(kubectl, docs(5))
        kill_at_random(operator, rng, 6, 0.2, 2.0)
        wait_all_ready(kubectl, namespace, counts, timeout=180)
        for obj in objects(kubectl, "batchpool", namespace):
            assert obj["status"]["currentDedicatedNodes"] == 5, obj["status"]
        assert_azure_matches_objects(admin, world, kubectl)

        kubectl.run("delete", "batchpools,managedimages", "--all", "-n", namespace, "--wait=false")
        kill_at_random(operator, rng, 6, 0.2, 2.0)
        wait_until(
            "every object gone",
            lambda: (
                not objects(kubectl, "batchpool", namespace)
                and not objects(kubectl, "managedimage", namespace)
            ),
            timeout=180,
        )
        assert_nothing_left(admin, world)
