"""The Helm chart on a real kube-apiserver: install, upgrade, uninstall, as a platform team runs them.

A control plane of its own (started for this module, a few seconds) so the chart's CRDs are
installed by helm itself, not already present from the session fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from azbatch_operator.devtools.controlplane import ControlPlane
from tests import helm
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated

REPO = helm.REPO
NAMESPACE = "azbatch-system"
RELEASE = "azb"
FULLNAME = "azb-azbatch-operator"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    plane = ControlPlane(workdir=tmp_path_factory.mktemp("helm-controlplane"))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="module")
def kube(cluster: ControlPlane) -> Kubectl:
    return Kubectl(cluster.kubeconfig)


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return helm.staged(tmp_path_factory.mktemp("chart"))


def assert_served_rbac(kube: Kubectl, manifests: list[dict[str, Any]]) -> None:
    """Every RBAC object of `manifests` exists under the release's name with the same rules."""
    for doc in manifests:
        name = doc["metadata"]["name"].replace("azbatch-operator", FULLNAME, 1)
        scope = ["-n", NAMESPACE] if doc["kind"] in {"Role", "RoleBinding"} else []
        served = kube.json(*scope, "get", doc["kind"].lower(), name)
        if doc["kind"].endswith("Binding"):
            assert served["roleRef"]["name"] == doc["roleRef"]["name"].replace(
                "azbatch-operator", FULLNAME, 1
            )
            assert served["subjects"] == [
                {"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}
            ]
        else:
            assert served["rules"] == doc["rules"], f"{doc['kind']} {name}"


def _crd_spec(path: Path) -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load(path.read_text())["spec"]
    return spec


def test_install_upgrade_uninstall(cluster: ControlPlane, kube: Kubectl, chart: Path) -> None:
    config = cluster.kubeconfig
    installed = helm.helm(
        "install", RELEASE, str(chart), "--namespace", NAMESPACE, "--create-namespace", kubeconfig=config
    )
    # NOTES: what to check next, and the Argo CD health check verbatim.
    assert f"kubectl -n {NAMESPACE} rollout status deployment/{FULLNAME}" in installed.stdout
    lua = (REPO / "deploy" / "argocd" / "health.lua").read_text()
    assert "resource.customizations.health.azbatch.io_BatchPool: |" in installed.stdout
    for line in lua.strip().splitlines():
        assert ("  " + line).rstrip() in installed.stdout

    # The CRDs helm installed are crds/ as they are in the repository.
    for path in sorted((REPO / "crds").glob("*.yaml")):
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        kube.run("wait", "--for=condition=Established", "--timeout=60s", f"crd/{name}")
        served = kube.json("get", f"crd/{name}")["spec"]
        expected = _crd_spec(path)
        assert served["group"] == expected["group"]
        assert served["names"] == {**served["names"], **expected["names"]}
        assert [v["name"] for v in served["versions"]] == [v["name"] for v in expected["versions"]]
        for got, want in zip(served["versions"], expected["versions"], strict=True):
            assert got["schema"] == want["schema"]

    # RBAC on the server equals deploy/base's, whatever deploy/base holds today.
    base = helm.rbac_documents(REPO / "deploy" / "base" / "rbac.yaml")
    assert_served_rbac(kube, base)
    sa = f"system:serviceaccount:{NAMESPACE}:{FULLNAME}"
    assert (
        kube.run("auth", "can-i", "patch", "batchpools.azbatch.io/status", f"--as={sa}", "-A").stdout.strip()
        == "yes"
    )
    can_delete = kube.run("auth", "can-i", "delete", "batchpools.azbatch.io", f"--as={sa}", "-A", check=False)
    assert can_delete.stdout.strip() == "no"

    # The hardened pod, as the apiserver stored it.
    deployment = kube.json("-n", NAMESPACE, "get", "deployment", FULLNAME)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["serviceAccountName"] == FULLNAME
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert deployment["spec"]["replicas"] == 1
    assert kube.json("-n", NAMESPACE, "get", "pdb", FULLNAME)["spec"]["maxUnavailable"] == 1
    assert (
        kube.json("-n", NAMESPACE, "get", "service", f"{FULLNAME}-metrics")["spec"]["ports"][0]["port"]
        == 9090
    )
    no_lease_role = kube.run("-n", NAMESPACE, "get", "role", f"{FULLNAME}-leader-election", check=False)
    assert no_lease_role.returncode != 0

    # Upgrade to two replicas with leader election: the Lease RBAC of deploy/overlays/ha appears.
    helm.helm(
        "upgrade",
        RELEASE,
        str(chart),
        "--namespace",
        NAMESPACE,
        "--set",
        "replicaCount=2",
        "--set",
        "leaderElection.enabled=true",
        "--set",
        "workloadIdentity.enabled=true",
        "--set",
        "workloadIdentity.clientId=00000000-0000-0000-0000-0000000000aa",
        kubeconfig=config,
    )
    history = helm.helm("history", RELEASE, "--namespace", NAMESPACE, "-o", "yaml", kubeconfig=config).stdout
    assert [entry["revision"] for entry in yaml.safe_load(history)] == [1, 2]
    deployment = kube.json("-n", NAMESPACE, "get", "deployment", FULLNAME)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    account = kube.json("-n", NAMESPACE, "get", "serviceaccount", FULLNAME)
    assert account["metadata"]["annotations"]["azure.workload.identity/client-id"].endswith("aa")
    data = kube.json("-n", NAMESPACE, "get", "configmap", FULLNAME)["data"]
    assert data["AZBATCH_LEADER_ELECTION"] == "true"
    lease = helm.rbac_documents(REPO / "deploy" / "overlays" / "ha" / "leader-election-rbac.yaml")
    assert_served_rbac(kube, base + lease)
    verb = kube.run(
        "auth", "can-i", "update", "leases/azbatch-operator-leader", f"--as={sa}", "-n", NAMESPACE
    )
    assert verb.stdout.strip() == "yes"

    # Uninstall removes everything the release made, cluster-scoped RBAC included; the CRDs stay
    # (helm never deletes CRDs: that would delete every ManagedImage and BatchPool with them).
    helm.helm("uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", kubeconfig=config)
    for args in (
        ("clusterrole", FULLNAME),
        ("clusterrolebinding", FULLNAME),
        ("-n", NAMESPACE, "deployment", FULLNAME),
        ("-n", NAMESPACE, "configmap", FULLNAME),
        ("-n", NAMESPACE, "serviceaccount", FULLNAME),
        ("-n", NAMESPACE, "role", f"{FULLNAME}-leader-election"),
    ):
        gone = kube.run("get", *args, "--ignore-not-found", "-o", "name")
        assert gone.stdout.strip() == "", f"{args} survived helm uninstall"
    assert kube.run("get", "crd", "batchpools.azbatch.io", "-o", "name").stdout.strip()
