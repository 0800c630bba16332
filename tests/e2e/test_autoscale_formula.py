"""A formula Batch cannot parse: Azure answers 400, the user sees Stalled InvalidSpec with Batch's code."""

from __future__ import annotations

from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import SimulatorHandle, World, wait_condition
from tests.e2e.test_batch_pool_resize import condition, fixed_pool, seed_gallery_version
from tests.kube import Kubectl


def test_a_formula_with_a_syntax_error_stalls_invalid_spec_and_a_fixed_one_heals(
    kubectl: Kubectl, operator: Operator, simulator: SimulatorHandle, world: World
) -> None:
    admin, ns = simulator.admin, world.namespace
    version = seed_gallery_version(admin, world)
    pool = fixed_pool(world, version)
    pool["spec"]["scale"] = {
        "auto": {"formula": "$TargetDedicatedNodes = max(2, ;", "evaluationInterval": "PT5M"}
    }
    kubectl.apply(pool)
    obj = wait_condition(kubectl, "batchpool", ns, "pool", "Stalled", "InvalidSpec", timeout=90)
    message = condition(obj, "Stalled")["message"]
    assert "AutoScalingFormulaSyntaxError" in message, message
    assert admin.resource(world.pool_id("pool")) is None

    kubectl.run(
        "patch",
        "bp",
        "pool",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec":{"scale":{"auto":{"formula":"$TargetDedicatedNodes = max(2, 1);"}}}}',
    )
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", "Succeeded", timeout=90)
    created = admin.resource(world.pool_id("pool"))
    assert created is not None
    assert (
        created["properties"]["scaleSettings"]["autoScale"]["formula"] == "$TargetDedicatedNodes = max(2, 1);"
    )
