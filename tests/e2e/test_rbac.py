"""deploy/base's RBAC is enough, and no more than enough, on a real kube-apiserver.

The operator runs as a process whose kubeconfig holds a token of deploy/base's ServiceAccount
(`system:serviceaccount:azbatch-system:azbatch-operator`, issued by the TokenRequest API as the
kubelet would), so every request it makes (kopf's watches, finalizer patches, events; its own
status patches) is authenticated and authorized exactly as in a cluster. (A kubeconfig with
`as:` impersonation would not do: kopf's login ignores it and the operator would run as admin.)
It serves only the test's namespace (kopf `--namespace`), so it never touches another test's
objects. The ablation tests remove one grant each and show the failure is visible.
"""

from __future__ import annotations

import copy
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from azbatch_operator.devtools.controlplane import ControlPlane
from azbatch_operator.devtools.stack import Operator
from tests.conftest import REPO
from tests.e2e.conftest import OPERATOR_ENV, SimulatorHandle, World, events_for, wait_condition
from tests.e2e.test_smoke_flow import image_manifest, pool_manifest
from tests.kube import KUBECTL, Kubectl

pytestmark = pytest.mark.isolated

BASE = REPO / "deploy" / "base"
SERVICE_ACCOUNT = "system:serviceaccount:azbatch-system:azbatch-operator"
#: What shows that the apiserver refused a request (kopf's and the status writer's messages): a 403
#: as an HTTP status field or the words of a denial, never three digits anywhere in a line (a port
#: such as 127.0.0.1:40311 or a millisecond field such as ",403" is no denial).
DENIED = re.compile(
    r"\b(?:status|code|HTTP|http)[\"']?[=: ]+[\"']?403\b|\(403\)|\b403 Forbidden|"
    r"Forbidden|forbidden|Not enough permissions"
)


def rendered(kustomization: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [KUBECTL, "kustomize", str(kustomization)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def find(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind)


@pytest.fixture(scope="module")
def deployed(kubectl: Kubectl, crds: list[str]) -> list[dict[str, Any]]:
    """`kubectl apply -k deploy/base` (what `make deploy` runs) on the real apiserver."""
    kubectl.run("apply", "-k", str(BASE))
    grant(
        kubectl,
        "azbatch-operator-test-namespace-scan",
        NAMESPACE_SCAN_RULES,
        "azbatch-system",
        "azbatch-operator",
    )
    return rendered(BASE)


def service_account_kubeconfig(
    kubectl: Kubectl, control_plane: ControlPlane, namespace: str, name: str, path: Path
) -> Path:
    """A kubeconfig that authenticates as the ServiceAccount (a bound token), not as admin."""
    token = kubectl.run("create", "token", name, "-n", namespace, "--duration=1h").stdout.strip()
    config = control_plane.kubeconfig_dict()
    config["users"] = [{"name": f"{namespace}-{name}", "user": {"token": token}}]
    config["contexts"] = [{"name": "local", "context": {"cluster": "local", "user": f"{namespace}-{name}"}}]
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def operator_as(
    kubectl: Kubectl,
    control_plane: ControlPlane,
    simulator: SimulatorHandle,
    service_account: tuple[str, str],
    namespace: str,
    workdir: Path,
) -> Operator:
    """The operator, authenticated as `service_account` (namespace, name), serving `namespace`."""
    kubeconfig = service_account_kubeconfig(
        kubectl, control_plane, *service_account, workdir / "kubeconfig-service-account"
    )
    operator = Operator(
        kubeconfig,
        env={**simulator.env(), **OPERATOR_ENV},
        log_file=workdir / "operator.log",
        namespaces=[namespace],
    )
    operator.start()
    return operator


#: `kopf run --namespace=<ns>` (how tests isolate their operator) lists and watches namespaces to
#: match its patterns; deploy/base runs `--all-namespaces`, which does not, so the deployed
#: ClusterRole rightly lacks this. Tests grant it separately.
NAMESPACE_SCAN_RULES = [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list", "watch"]}]


def grant(kubectl: Kubectl, name: str, rules: list[dict[str, Any]], sa_namespace: str, sa_name: str) -> None:
    """A ClusterRole with `rules`, bound to one ServiceAccount."""
    subject = {"kind": "ServiceAccount", "name": sa_name, "namespace": sa_namespace}
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name}
    docs = [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": role_ref,
            "subjects": [subject],
        },
    ]
    kubectl.apply(yaml.safe_dump_all(docs))


def denials(log: str) -> list[str]:
    return [line for line in log.splitlines() if DENIED.search(line)]


def wait_gone(kubectl: Kubectl, kind: str, namespace: str, name: str, timeout: int = 90) -> None:
    kubectl.run(
        "wait",
        f"{kind}/{name}",
        "-n",
        namespace,
        "--for=delete",
        f"--timeout={timeout}s",
        timeout=timeout + 30,
    )


#: Every (apiGroup, resource, verb) the deployed ClusterRole grants. Widening it must come with a
#: reason here; each entry is either exercised by the lifecycle test or shown necessary below.
EXPECTED_GRANTS = {
    *(
        (g, r, v)
        for g in ["azbatch.io"]
        for r in ["managedimages", "batchpools"]
        for v in ["list", "watch", "patch"]
    ),
    ("azbatch.io", "managedimages/status", "patch"),
    ("azbatch.io", "batchpools/status", "patch"),
    ("", "events", "create"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "list"),
    ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
    ("", "secrets", "get"),  # BatchPool secretRefs
}


def grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (g, r, v)
        for rule in rules
        for g in rule["apiGroups"]
        for r in rule["resources"]
        for v in rule["verbs"]
    }


def test_deploy_base_cluster_role_grants_exactly_what_the_operator_uses(
    deployed: list[dict[str, Any]],
) -> None:
    role = find(deployed, "ClusterRole")
    assert grants(role["rules"]) == EXPECTED_GRANTS
    assert all("resourceNames" not in rule and "nonResourceURLs" not in rule for rule in role["rules"])
    binding = find(deployed, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "azbatch-operator", "namespace": "azbatch-system"}
    ]


def test_operator_runs_full_lifecycle_with_only_deploy_base_rbac(
    kubectl: Kubectl,
    control_plane: ControlPlane,
    simulator: SimulatorHandle,
    world: World,
    deployed: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    ns = world.namespace
    # The identity really is limited: what the ClusterRole does not grant is refused.
    can = kubectl.run("auth", "can-i", "list", "secrets", "-n", ns, f"--as={SERVICE_ACCOUNT}", check=False)
    assert can.stdout.strip() == "no"
    # BatchPool secretRefs: a GET of the one Secret named, nothing more.
    can = kubectl.run("auth", "can-i", "get", "secrets", "-n", ns, f"--as={SERVICE_ACCOUNT}", check=False)
    assert can.stdout.strip() == "yes"
    operator = operator_as(
        kubectl, control_plane, simulator, ("azbatch-system", "azbatch-operator"), ns, tmp_path
    )
    whoami = Kubectl(tmp_path / "kubeconfig-service-account").run("auth", "whoami")
    assert SERVICE_ACCOUNT in whoami.stdout
    log_file = tmp_path / "operator.log"
    try:
        kubectl.apply(image_manifest(world))
        kubectl.apply(pool_manifest(world))
        wait_condition(kubectl, "managedimage", ns, "img", "Ready", timeout=90)
        pool = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", timeout=90)
        assert pool["status"]["currentDedicatedNodes"] == 10
        assert pool["metadata"]["finalizers"], "kopf's finalizer patch (azbatch.io patch) was allowed"
        assert events_for(kubectl, ns, "img"), "events create was allowed"
        kubectl.run("delete", "batchpool/pool", "-n", ns, "--wait=false")
        kubectl.run("delete", "managedimage/img", "-n", ns, "--wait=false")
        wait_gone(kubectl, "batchpool", ns, "pool")
        wait_gone(kubectl, "managedimage", ns, "img")
    finally:
        operator.stop()
    log = log_file.read_text(errors="replace")
    assert not denials(log), "\n".join(denials(log))
    assert "Traceback" not in log, log[-4000:]


#: One rule (or verb) taken out of deploy/base's ClusterRole, and what must then visibly break.
ABLATIONS = {
    # StatusWriter's merge-patch of conditions is refused: the object never shows a condition.
    "status-patch": (("azbatch.io", "managedimages/status", "patch"), "managedimages"),
    # kopf cannot add its finalizer (a patch of the object itself).
    "object-patch": (("azbatch.io", "managedimages", "patch"), "managedimages"),
    # kopf.event is refused.
    "events-create": (("", "events", "create"), "events"),
    # kopf cannot watch CRDs.
    "crd-watch": (
        ("apiextensions.k8s.io", "customresourcedefinitions", "watch"),
        "customresourcedefinitions",
    ),
}


def without(rules: list[dict[str, Any]], group: str, resource: str, verb: str) -> list[dict[str, Any]]:
    out = []
    for rule in copy.deepcopy(rules):
        if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
            others = [r for r in rule["resources"] if r != resource]
            if others:
                out.append({**rule, "resources": others})
            rest = [v for v in rule["verbs"] if v != verb]
            if rest:
                out.append({**rule, "resources": [resource], "verbs": rest})
        else:
            out.append(rule)
    return out


@pytest.mark.parametrize("ablation", sorted(ABLATIONS))
def test_each_rule_is_needed_removing_it_fails_visibly(
    kubectl: Kubectl,
    control_plane: ControlPlane,
    simulator: SimulatorHandle,
    world: World,
    deployed: list[dict[str, Any]],
    tmp_path: Path,
    ablation: str,
) -> None:
    ns = world.namespace
    (group, resource, verb), denied = ABLATIONS[ablation]
    rules = find(deployed, "ClusterRole")["rules"]
    kubectl.run("create", "serviceaccount", "ablated", "-n", ns)
    grant(
        kubectl, f"{ns}-ablated", without(rules, group, resource, verb) + NAMESPACE_SCAN_RULES, ns, "ablated"
    )
    operator = operator_as(kubectl, control_plane, simulator, (ns, "ablated"), ns, tmp_path)
    log_file = tmp_path / "operator.log"
    try:
        kubectl.apply(image_manifest(world))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = [line for line in denials(log_file.read_text(errors="replace")) if denied in line]
            if found:
                break
            time.sleep(0.5)
        else:
            raise AssertionError(f"no refusal of {verb} {resource} in the operator log")
        obj = kubectl.json("get", "managedimage/img", "-n", ns)
        if ablation == "status-patch":
            assert not (obj.get("status") or {}).get("conditions"), obj.get("status")
        elif ablation == "object-patch":
            assert not obj["metadata"].get("finalizers"), (
                "without a finalizer, deletion would skip Azure clean-up"
            )
        elif ablation == "events-create":
            assert not events_for(kubectl, ns, "img")
    finally:
        operator.stop()
        kubectl.run("delete", f"clusterrolebinding/{ns}-ablated", f"clusterrole/{ns}-ablated", check=False)
