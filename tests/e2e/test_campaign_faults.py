"""Reliability campaign: one ARM call in five fails (429 with Retry-After, 500, 503, dropped
connection), yet every pool and image converges, Azure holds exactly one resource per object, and
deleting everything leaves nothing the operator created.

Sizes: 200 BatchPools (180 on a seeded gallery version, 20 on ManagedImages) and 20 ManagedImages,
applied at once to an operator of the test's own. The simulator draws faults with its own
(unseeded) random numbers; what is asserted holds for any draw.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from azbatch_operator.devtools.controlplane import ControlPlane
from tests.e2e.campaign_support import (
    apply_all,
    assert_azure_matches_objects,
    assert_nothing_left,
    big_world,
    delete_all,
    fault_rules,
    pool,
    wait_all_ready,
)
from tests.e2e.conftest import SimulatorHandle, isolated_operator
from tests.e2e.test_smoke_flow import image_manifest
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated

POOLS, IMAGES = 200, 20
#: Four independent rules at this rate fail 1 - (1 - 0.0543)**4 = 20% of the calls they match.
RULE_RATE = 0.0543


def test_twenty_percent_arm_faults_converge_without_duplicates_or_orphans(
    kubectl: Kubectl,
    control_plane: ControlPlane,
    simulator: SimulatorHandle,
    namespace: str,
    tmp_path: Path,
) -> None:
    admin = simulator.admin
    world, version = big_world(admin, namespace, POOLS)
    docs = [image_manifest(world, f"img{i:02d}") for i in range(IMAGES)]
    docs += [pool(world, f"p{i:03d}", image_id=version) for i in range(POOLS - IMAGES)]
    docs += [pool(world, f"r{i:02d}", image_ref=f"img{i:02d}") for i in range(IMAGES)]
    log = tmp_path / "operator.log"
    admin.faults(*fault_rules(world, RULE_RATE))
    try:
        with isolated_operator(control_plane, simulator, namespace, log) as operator:
            started = time.monotonic()
            apply_all(kubectl, docs)
            wait_all_ready(kubectl, namespace, {"managedimage": IMAGES, "batchpool": POOLS}, timeout=240)
            converged = time.monotonic() - started
            fired = sum(int(rule.get("fired", 0)) for rule in admin.list_faults())
            assert fired >= 50, f"only {fired} faults fired: the campaign did not test much"
            assert_azure_matches_objects(admin, world, kubectl)

            delete_all(kubectl, namespace, timeout=180)
            assert_nothing_left(admin, world)
            assert operator.proc is not None
            assert operator.proc.poll() is None
    finally:
        admin.clear_faults()
    print(f"converged in {converged:.0f} s with {fired} injected faults")
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[text.index("Traceback") - 2000 :][:6000]
