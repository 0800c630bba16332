"""charts/azbatch-operator renders what deploy/ declares: the same CRDs, RBAC and hardened pod.

`helm lint --strict` and `helm template` with bin/helm; no server. Installing, upgrading and
uninstalling on a real apiserver is tests/e2e/test_helm.py.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests import helm

REPO = helm.REPO


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return helm.staged(tmp_path_factory.mktemp("chart"))


@pytest.fixture(scope="module")
def default(chart: Path) -> list[dict[str, Any]]:
    return helm.template(chart)


@pytest.fixture(scope="module")
def full(chart: Path) -> list[dict[str, Any]]:
    return helm.template(chart, "-f", str(helm.FULL_VALUES), release="prod", namespace="ops")


@pytest.mark.parametrize("values", [[], ["-f", str(helm.FULL_VALUES)]], ids=["default", "full"])
def test_chart_lints_clean(chart: Path, values: list[str]) -> None:
    out = helm.helm("lint", "--strict", str(chart), *values)
    assert "1 chart(s) linted, 0 chart(s) failed" in out.stdout


def test_chart_crds_are_the_repository_crds_byte_for_byte(chart: Path, tmp_path: Path) -> None:
    """crds/ is the one source: the packaged chart carries exactly its CRD files, unchanged."""
    helm.helm("package", str(chart), "--destination", str(tmp_path))
    (package,) = tmp_path.glob("azbatch-operator-*.tgz")
    with tarfile.open(package) as tar:
        shipped = {
            Path(m.name).name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile() and Path(m.name).parent.name == "crds"
        }
    expected = {p.name: p.read_bytes() for p in (REPO / "crds").glob("*.yaml")}
    assert expected, "no CRDs in crds/"
    assert shipped == expected
    shown = helm.helm("show", "crds", str(package)).stdout
    assert {yaml.safe_load(body)["metadata"]["name"] for body in expected.values()} <= set(
        line.split(": ", 1)[1] for line in shown.splitlines() if line.startswith("  name: ")
    )


def _rbac(docs: list[dict[str, Any]], fullname: str = "azbatch-operator") -> list[tuple[str, str, Any]]:
    """(kind, name with the release's prefix, rules or roleRef) of every RBAC object, sorted."""
    out = []
    for doc in docs:
        if doc["apiVersion"].startswith("rbac.authorization.k8s.io/"):
            name = doc["metadata"]["name"].replace("azbatch-operator", fullname, 1)
            if doc["kind"].endswith("Binding"):
                ref = {
                    **doc["roleRef"],
                    "name": doc["roleRef"]["name"].replace("azbatch-operator", fullname, 1),
                }
                out.append((doc["kind"], name, ref))
            else:
                out.append((doc["kind"], name, doc["rules"]))
    return sorted(out, key=lambda item: (item[0], item[1]))


def test_rbac_equals_deploy_base(default: list[dict[str, Any]]) -> None:
    """Whatever deploy/base/rbac.yaml holds today, the chart renders the same objects and rules."""
    base = helm.rbac_documents(REPO / "deploy" / "base" / "rbac.yaml")
    assert _rbac(default) == _rbac(base)
    for binding in (d for d in default if d["kind"].endswith("Binding")):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "azbatch-operator", "namespace": "azbatch-system"}
        ]


def test_leader_election_adds_the_ha_overlays_lease_rbac(full: list[dict[str, Any]]) -> None:
    base = helm.rbac_documents(REPO / "deploy" / "base" / "rbac.yaml")
    lease = helm.rbac_documents(REPO / "deploy" / "overlays" / "ha" / "leader-election-rbac.yaml")
    rendered = [d for d in full if d["apiVersion"].startswith("rbac.authorization.k8s.io/")]
    assert _rbac(rendered) == _rbac(base + lease, "prod-azbatch-operator")
    for binding in (d for d in rendered if d["kind"].endswith("Binding")):
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": "prod-azbatch-operator", "namespace": "ops"}
        ]
    for role in helm.find(rendered, "Role") + helm.find(rendered, "RoleBinding"):
        assert role["metadata"]["namespace"] == "ops"


def test_pod_is_hardened_and_runs_the_operator_as_deploy_base_does(default: list[dict[str, Any]]) -> None:
    base = yaml.safe_load((REPO / "deploy" / "base" / "deployment.yaml").read_text())
    deployment = helm.one(default, "Deployment")
    pod, base_pod = deployment["spec"]["template"]["spec"], base["spec"]["template"]["spec"]
    container, base_container = pod["containers"][0], base_pod["containers"][0]
    assert pod["securityContext"] == base_pod["securityContext"]
    assert container["securityContext"] == base_container["securityContext"]
    assert container["command"] == base_container["command"]
    assert container["resources"] == base_container["resources"]
    assert pod["volumes"] == base_pod["volumes"]
    assert container["image"] == "ghcr.io/azbatch/azbatch-operator:0.1.0"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_settings_reach_the_configmap_like_deploy_base(default: list[dict[str, Any]]) -> None:
    base = yaml.safe_load((REPO / "deploy" / "base" / "configmap.yaml").read_text())
    assert helm.one(default, "ConfigMap")["data"] == base["data"]


def test_full_values_wire_identity_ha_scheduling_and_monitoring(full: list[dict[str, Any]]) -> None:
    values = yaml.safe_load(helm.FULL_VALUES.read_text())
    account = helm.one(full, "ServiceAccount")
    assert account["metadata"]["annotations"] == {
        "azure.workload.identity/client-id": values["workloadIdentity"]["clientId"],
        "azure.workload.identity/tenant-id": values["workloadIdentity"]["tenantId"],
    }
    deployment = helm.one(full, "Deployment")
    pod = deployment["spec"]["template"]
    assert pod["metadata"]["labels"]["azure.workload.identity/use"] == "true"
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    spec = pod["spec"]
    assert spec["nodeSelector"] == values["nodeSelector"]
    assert spec["tolerations"] == values["tolerations"]
    assert spec["affinity"] == values["affinity"]
    assert spec["priorityClassName"] == values["priorityClassName"]
    container = spec["containers"][0]
    assert container["image"] == f"ghcr.io/azbatch/azbatch-operator@{values['image']['digest']}"
    assert {"secretRef": {"name": "azbatch-operator-azure"}} in container["envFrom"]
    assert {"name": "SSL_CERT_FILE", "value": "/etc/ssl/certs/ca-certificates.crt"} in container["env"]
    (settings,) = [
        d for d in helm.find(full, "ConfigMap") if d["metadata"]["name"] == "prod-azbatch-operator"
    ]
    data = settings["data"]
    assert data["AZBATCH_LEADER_ELECTION"] == "true"
    assert data["AZBATCH_LEADER_LEASE_SECONDS"] == "20"
    assert data["AZBATCH_POLL_FAST_SECONDS"] == "10"
    assert data["AZURE_CLIENT_ID"] == values["workloadIdentity"]["clientId"]
    assert data["AZURE_SUBSCRIPTION_ID"] == values["azure"]["subscriptionId"]
    assert helm.one(full, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    monitor = helm.one(full, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True
    service = helm.one(full, "Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    rule = helm.one(full, "PrometheusRule")
    source = yaml.safe_load((REPO / "deploy" / "monitoring" / "prometheusrule.yaml").read_text())
    assert rule["spec"] == source["spec"]
    dashboards = [d for d in helm.find(full, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard")]
    assert len(dashboards) == 1
    shipped = json.loads(dashboards[0]["data"]["azbatch-operator.json"])
    assert shipped == json.loads((REPO / "deploy" / "monitoring" / "grafana-dashboard.json").read_text())


def test_config_change_rolls_the_pods(chart: Path) -> None:
    def checksum(*args: str) -> str:
        pod = helm.one(helm.template(chart, *args), "Deployment")["spec"]["template"]
        return str(pod["metadata"]["annotations"]["checksum/config"])

    assert checksum() == checksum()
    assert checksum() != checksum("--set", "settings.AZBATCH_POLL_FAST_SECONDS=5")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "replicaCount=2"], "replicaCount > 1 needs leaderElection.enabled=true"),
        (["--set", "workloadIdentity.enabled=true"], "workloadIdentity.clientId is required"),
        (["--set", "settings.HTTP_PROXY=x"], "only AZBATCH_* variables belong in settings"),
    ],
)
def test_contradictory_values_are_refused_with_a_reason(chart: Path, args: list[str], message: str) -> None:
    result = helm.helm("template", "x", str(chart), *args, check=False)
    assert result.returncode != 0
    assert message in result.stderr
