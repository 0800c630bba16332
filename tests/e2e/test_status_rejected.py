"""A status update the apiserver rejects is not swallowed: the operator logs the apiserver's reason
and posts a Warning event on the object.

The rejection comes from the real apiserver: a ValidatingAdmissionPolicy, bound to this test's
namespace only, refuses every BatchPool status that carries the reason ImageNotReady.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from azbatch_operator.devtools.stack import Operator
from tests.e2e.campaign_support import wait_until
from tests.e2e.conftest import World, events_for
from tests.e2e.test_smoke_flow import pool_manifest
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated


@pytest.fixture
def refusing_policy(kubectl: Kubectl, namespace: str) -> Iterator[str]:
    name = f"refuse-{namespace}"[:63]
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["azbatch.io"],
                        "apiVersions": ["v1alpha1"],
                        "operations": ["UPDATE"],
                        "resources": ["batchpools/status"],
                    }
                ]
            },
            "validations": [
                {
                    "expression": "!has(object.status) || !has(object.status.conditions) || "
                    "object.status.conditions.all(c, c.reason != 'ImageNotReady')",
                    "message": "test policy: no ImageNotReady here",
                    "reason": "Invalid",
                }
            ],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
            },
        },
    }
    kubectl.apply(policy)
    kubectl.apply(binding)
    try:
        yield name
    finally:
        kubectl.run("delete", "validatingadmissionpolicybinding", name, "--ignore-not-found")
        kubectl.run("delete", "validatingadmissionpolicy", name, "--ignore-not-found")


def test_a_rejected_status_patch_is_logged_and_reported_as_an_event(
    kubectl: Kubectl, refusing_policy: str, own_operator: Operator, world: World, tmp_path: Path
) -> None:
    ns = world.namespace
    # The pool waits for a ManagedImage that does not exist: its status would say ImageNotReady.
    kubectl.apply(pool_manifest(world, name="pool", image="missing"))

    def rejected() -> list[dict[str, object]]:
        return [e for e in events_for(kubectl, ns, "pool") if e["reason"] == "StatusUpdateRejected"]

    wait_until("a StatusUpdateRejected event", lambda: bool(rejected()), timeout=90)
    event = rejected()[0]
    assert event["type"] == "Warning"
    message = str(event["message"])
    assert "(422 Invalid)" in message, message
    assert "test policy: no ImageNotReady here" in message, message
    log = (tmp_path / "operator.log").read_text(errors="replace")
    lines = [line for line in log.splitlines() if "rejected by the apiserver" in line]
    assert lines, log[-3000:]
    assert "test policy: no ImageNotReady here" in lines[0]
    assert "Traceback" not in log, log[-4000:]
    # Reported once per reason, not once per retry.
    assert len(rejected()) == 1
