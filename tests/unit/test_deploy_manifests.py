"""deploy/: every kustomization renders, and the properties a cluster admin relies on hold."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kube import KUBECTL

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
OVERLAYS = ["base", "overlays/workload-identity", "overlays/ha", "overlays/local"]


def render(path: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [KUBECTL, "kustomize", str(DEPLOY / path)], capture_output=True, text=True, check=True
    )
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


@pytest.mark.parametrize("path", OVERLAYS)
def test_renders_a_hardened_deployment_with_its_crds(path: str) -> None:
    docs = render(path)
    assert {d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"} == {
        "managedimages.azbatch.io",
        "batchpools.azbatch.io",
    }
    pod = one(docs, "Deployment", "azbatch-operator")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["livenessProbe"]
    assert container["readinessProbe"]
    assert container["resources"]["limits"]
    assert container["resources"]["requests"]
    assert {e["name"] for e in container.get("env", [])} >= {"POD_NAME"}


def test_ha_overlay_runs_two_replicas_with_leader_election_and_its_lease_rbac() -> None:
    docs = render("overlays/ha")
    assert one(docs, "Deployment")["spec"]["replicas"] == 2
    assert one(docs, "ConfigMap", "azbatch-operator")["data"]["AZBATCH_LEADER_ELECTION"] == "true"
    rules = one(docs, "Role", "azbatch-operator-leader-election")["rules"]
    assert {"create"} <= {verb for rule in rules for verb in rule["verbs"]}
    named = [rule for rule in rules if rule.get("resourceNames")]
    assert named == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["azbatch-operator-leader"],
            "verbs": ["get", "update"],
        }
    ]
    binding = one(docs, "RoleBinding", "azbatch-operator-leader-election")
    assert binding["subjects"][0]["name"] == "azbatch-operator"


def test_workload_identity_overlay_sets_the_annotation_and_the_pod_label() -> None:
    docs = render("overlays/workload-identity")
    annotations = one(docs, "ServiceAccount", "azbatch-operator")["metadata"]["annotations"]
    assert "azure.workload.identity/client-id" in annotations
    labels = one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert labels["azure.workload.identity/use"] == "true"
