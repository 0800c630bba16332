"""Reliability campaign: kube-apiserver restarted (etcd and the port kept) while the operator works.
Its watch streams and connections are cut; it must recover by itself: the same process converges
every pool, then sees a spec change made after the second restart.

Sizes: 100 BatchPools on a seeded gallery version.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from azbatch_operator.devtools.controlplane import ControlPlane
from tests.e2e.campaign_support import (
    apply_all,
    assert_azure_matches_objects,
    big_world,
    objects,
    pool,
    wait_all_ready,
    wait_until,
)
from tests.e2e.conftest import SimulatorHandle, isolated_operator
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated

POOLS = 100


def test_apiserver_restarts_mid_run_and_the_operator_recovers_on_its_own(
    kubectl: Kubectl,
    control_plane: ControlPlane,
    simulator: SimulatorHandle,
    namespace: str,
    tmp_path: Path,
) -> None:
    admin = simulator.admin
    world, version = big_world(admin, namespace, POOLS)
    with isolated_operator(control_plane, simulator, namespace, tmp_path / "operator.log") as operator:
        assert operator.proc is not None
        pid = operator.proc.pid
        apply_all(kubectl, [pool(world, f"p{i:03d}", image_id=version) for i in range(POOLS)])
        # Cut it mid-run: some pools are created, most are not yet.
        wait_until(
            "some pools created",
            lambda: (
                sum(
                    bool((o.get("status") or {}).get("poolId"))
                    for o in objects(kubectl, "batchpool", namespace)
                )
                >= 5
            ),
            timeout=60,
            every=0.2,
        )
        control_plane.restart_apiserver()
        wait_all_ready(kubectl, namespace, {"batchpool": POOLS}, timeout=120)

        control_plane.restart_apiserver()
        # A change made after the restart can only be seen through a re-established watch.
        apply_all(kubectl, [pool(world, f"p{i:03d}", image_id=version, nodes=3) for i in range(POOLS)])
        wait_all_ready(kubectl, namespace, {"batchpool": POOLS}, timeout=120)
        for obj in objects(kubectl, "batchpool", namespace):
            assert obj["metadata"]["generation"] == 2
            assert obj["status"]["currentDedicatedNodes"] == 3, obj["status"]
        assert_azure_matches_objects(admin, world, kubectl)
        assert operator.proc is not None
        assert operator.proc.pid == pid
        assert operator.proc.poll() is None, "the operator exited instead of recovering"
