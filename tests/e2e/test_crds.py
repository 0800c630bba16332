"""The CRDs on a real kube-apiserver: install, examples, validation corpus, immutability,
status subresource, printer columns, explain, categories and defaults.

Everything here goes through kubectl against the session's control plane, so what passes here is
what users get from `kubectl apply`.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from azbatch_operator.api.batch_pool import NodeStateCounts
from azbatch_operator.api.status import STATUS_MODELS, status_patch
from tests.kube import Kubectl

#: The apiserver alone judges these manifests: no operator serves iso-* namespaces, so status
#: written by a test stays as the test wrote it.
pytestmark = pytest.mark.isolated

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
INVALID = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))
CRD_NAMES = ("batchpools.azbatch.io", "managedimages.azbatch.io")

SUB = "00000000-0000-0000-0000-000000000001"
ACCOUNT = f"/subscriptions/{SUB}/resourceGroups/batch-rg/providers/Microsoft.Batch/batchAccounts/acct1"
COMPUTE = f"/subscriptions/{SUB}/resourceGroups/images-rg/providers/Microsoft.Compute"
GALLERY = f"{COMPUTE}/galleries/batchimages"
GALLERY_VERSION = f"{GALLERY}/images/render-node/versions/1.0.0"


def pool(name: str = "render", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "accountId": ACCOUNT,
        "vmSize": "Standard_D4s_v5",
        "nodeAgentSkuId": "batch.node.ubuntu 22.04",
        "image": {"managedImageRef": {"name": "render-node-v1"}},
        "scale": {"fixed": {"targetDedicatedNodes": 4}},
    }
    body.update(spec)
    return {
        "apiVersion": "azbatch.io/v1alpha1",
        "kind": "BatchPool",
        "metadata": {"name": name},
        "spec": body,
    }


def image(name: str = "render-node-v1", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "resourceGroup": "images-rg",
        "location": "westeurope",
        "source": {
            "snapshots": {"osDisk": {"snapshotId": f"{COMPUTE}/snapshots/os-snap", "osType": "Linux"}}
        },
        "gallery": {"galleryId": GALLERY, "imageDefinition": "render-node", "version": "1.0.0"},
    }
    body.update(spec)
    return {
        "apiVersion": "azbatch.io/v1alpha1",
        "kind": "ManagedImage",
        "metadata": {"name": name},
        "spec": body,
    }


def expectation(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: <substring>'"
    return first.removeprefix("# expect: ").strip()


@pytest.fixture(scope="module")
def scratch_ns(kubectl: Kubectl, crds: list[str]) -> str:
    """One namespace for the many dry-run cases of this module (nothing is persisted in it)."""
    name = f"t-crds-dryrun-{int(time.time() * 1000) % 10**8}"
    kubectl.run("create", "namespace", name)
    return name


def get(kubectl: Kubectl, namespace: str, resource: str, name: str) -> dict[str, Any]:
    obj: dict[str, Any] = kubectl.json("get", resource, name, "-n", namespace)
    return obj


# --- installation and examples -------------------------------------------------------------


def test_crds_are_established_with_names_and_categories(kubectl: Kubectl, crds: list[str]) -> None:
    assert crds == ["batchpools.azbatch.io.yaml", "managedimages.azbatch.io.yaml"]
    for crd_name, short in zip(CRD_NAMES, ("bp", "mimg"), strict=True):
        crd = kubectl.json("get", "crd", crd_name)
        conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
        assert conditions["Established"] == "True"
        assert conditions["NamesAccepted"] == "True"
        assert crd["spec"]["scope"] == "Namespaced"
        assert crd["spec"]["names"]["shortNames"] == [short]
        assert crd["spec"]["names"]["categories"] == ["azbatch"]
        (version,) = crd["spec"]["versions"]
        assert version["name"] == "v1alpha1"
        assert version["subresources"] == {"status": {}}


def test_server_side_apply_of_crds_is_idempotent(kubectl: Kubectl, crds: list[str]) -> None:
    result = kubectl.run("apply", "--server-side", "-f", str(REPO / "crds"))
    assert "serverside-applied" in result.stdout


def test_every_schema_field_has_a_description(kubectl: Kubectl, crds: list[str]) -> None:
    missing: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        if path not in ("", ".metadata") and not node.get("description"):
            missing.append(path)
        for key, child in node.get("properties", {}).items():
            walk(child, f"{path}.{key}")
        if "items" in node:
            walk(node["items"], f"{path}[]")

    for crd_name in CRD_NAMES:
        crd = kubectl.json("get", "crd", crd_name)
        walk(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"], "")
    assert missing == []


def test_examples_exist() -> None:
    kinds = [yaml.safe_load(p.read_text())["kind"] for p in EXAMPLES]
    assert kinds.count("ManagedImage") >= 2
    assert kinds.count("BatchPool") >= 2
    for path in EXAMPLES:
        assert path.read_text().startswith("#"), f"{path.name} needs a comment header"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_is_accepted(kubectl: Kubectl, scratch_ns: str, example: Path) -> None:
    result = kubectl.run("apply", "--dry-run=server", "-n", scratch_ns, "-f", str(example))
    assert "created (server dry run)" in result.stdout


# --- the invalid corpus --------------------------------------------------------------------


def test_invalid_corpus_is_large_and_annotated() -> None:
    assert len(INVALID) >= 30
    for path in INVALID:
        assert expectation(path)


@pytest.mark.parametrize("manifest", INVALID, ids=lambda p: p.stem)
def test_invalid_manifest_is_rejected(kubectl: Kubectl, scratch_ns: str, manifest: Path) -> None:
    stderr = kubectl.rejects(manifest.read_text(), "--dry-run=server", "-n", scratch_ns)
    assert expectation(manifest) in stderr


@pytest.mark.parametrize(
    "timeout", ["PT5M", "PT300S", "PT25M", "PT1H", "PT1H30M", "P1D", "P1DT2H", "PT4M60S"]
)
def test_resize_timeouts_of_five_minutes_or_more_are_accepted(
    kubectl: Kubectl, scratch_ns: str, timeout: str
) -> None:
    manifest = pool(scale={"fixed": {"targetDedicatedNodes": 1, "resizeTimeout": timeout}})
    kubectl.apply(manifest, "--dry-run=server", "-n", scratch_ns)


@pytest.mark.parametrize("interval", ["PT5M", "PT15M", "PT168H", "P7D", "P6DT23H59M59S"])
def test_evaluation_intervals_within_batch_limits_are_accepted(
    kubectl: Kubectl, scratch_ns: str, interval: str
) -> None:
    manifest = pool(scale={"auto": {"formula": "$TargetDedicatedNodes = 1;", "evaluationInterval": interval}})
    kubectl.apply(manifest, "--dry-run=server", "-n", scratch_ns)


def test_arm_ids_are_case_insensitive(kubectl: Kubectl, scratch_ns: str) -> None:
    manifest = pool(
        accountId=ACCOUNT.lower().replace("microsoft.batch", "MICROSOFT.BATCH"),
        image={"id": GALLERY_VERSION.lower()},
    )
    kubectl.apply(manifest, "--dry-run=server", "-n", scratch_ns)


# --- immutability --------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def set_path(path: str, value: Any) -> Mutation:
    def mutate(obj: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = obj
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value

    return mutate


IMMUTABLE_CHANGES = [
    ("bp-pool-name-added", pool(), "spec.poolName", "other", "spec.poolName is immutable"),
    (
        "bp-pool-name-changed",
        pool(poolName="render-a"),
        "spec.poolName",
        "render-b",
        "spec.poolName is immutable",
    ),
    ("bp-pool-name-removed", pool(poolName="render-a"), "spec.poolName", None, "spec.poolName is immutable"),
    ("bp-account", pool(), "spec.accountId", ACCOUNT.replace("acct1", "acct2"), "accountId is immutable"),
    ("mimg-location", image(), "spec.location", "northeurope", "location is immutable"),
    (
        "mimg-source",
        image(),
        "spec.source.snapshots.osDisk.snapshotId",
        f"{COMPUTE}/snapshots/os-snap-2",
        "source is immutable",
    ),
    (
        "mimg-source-kind",
        image(),
        "spec.source",
        {"virtualMachine": {"id": f"{COMPUTE}/virtualMachines/prep-vm"}},
        "source is immutable",
    ),
    ("mimg-resource-group", image(), "spec.resourceGroup", "other-rg", "resourceGroup is immutable"),
    ("mimg-hyperv", image(), "spec.hyperVGeneration", "V2", "hyperVGeneration is immutable"),
    ("mimg-image-name", image(), "spec.imageName", "other", "spec.imageName is immutable"),
    ("mimg-subscription-added", image(), "spec.subscriptionId", SUB, "subscriptionId is immutable"),
    (
        "mimg-subscription-changed",
        image(subscriptionId=SUB),
        "spec.subscriptionId",
        SUB.replace("1", "2"),
        "subscriptionId is immutable",
    ),
    ("mimg-gallery-version", image(), "spec.gallery.version", "1.0.1", "gallery.version is immutable"),
    (
        "mimg-gallery-definition",
        image(),
        "spec.gallery.imageDefinition",
        "other",
        "imageDefinition is immutable",
    ),
    ("mimg-gallery-id", image(), "spec.gallery.galleryId", GALLERY + "2", "gallery.galleryId is immutable"),
    ("mimg-gallery-removed", image(), "spec.gallery", None, "gallery cannot be added or removed"),
    (
        "mimg-gallery-added",
        image(gallery=None),
        "spec.gallery",
        {"galleryId": GALLERY, "imageDefinition": "d", "version": "1.0.0"},
        "gallery cannot be added or removed",
    ),
]


def strip_none(obj: dict[str, Any]) -> dict[str, Any]:
    obj["spec"] = {k: v for k, v in obj["spec"].items() if v is not None}
    return obj


@pytest.mark.parametrize(
    ("base", "path", "value", "message"),
    [case[1:] for case in IMMUTABLE_CHANGES],
    ids=[case[0] for case in IMMUTABLE_CHANGES],
)
def test_immutable_field_change_is_rejected(
    kubectl: Kubectl, namespace: str, base: dict[str, Any], path: str, value: Any, message: str
) -> None:
    original = strip_none(copy.deepcopy(base))
    kubectl.apply(original, "-n", namespace)
    changed = copy.deepcopy(original)
    set_path(path, value)(changed)
    stderr = kubectl.rejects(changed, "-n", namespace)
    assert message in stderr
    assert "create a new" in stderr  # says what to do instead
    stored = get(kubectl, namespace, original["kind"].lower(), original["metadata"]["name"])
    assert stored["metadata"]["generation"] == 1
    # Re-applying the original is still fine (a no-op).
    kubectl.apply(original, "-n", namespace)


MUTABLE_CHANGES = [
    # Batch changes these on a pool with 0 nodes (the operator: UpdateRequiresEmptyPool otherwise).
    ("bp-vmsize", pool(), "spec.vmSize", "Standard_D8s_v5"),
    ("bp-node-agent", pool(), "spec.nodeAgentSkuId", "batch.node.ubuntu 24.04"),
    ("bp-image-ref", pool(), "spec.image.managedImageRef.name", "render-node-v2"),
    ("bp-image-ref-to-id", pool(), "spec.image", {"id": GALLERY_VERSION}),
    ("bp-start-task", pool(), "spec.startTask", {"commandLine": "/bin/sh -c 'echo ready'"}),
    ("bp-task-slots", pool(), "spec.taskSlotsPerNode", 4),
    ("bp-target", pool(), "spec.scale.fixed.targetDedicatedNodes", 400),
    ("bp-fixed-to-auto", pool(), "spec.scale", {"auto": {"formula": "$TargetDedicatedNodes = 2;"}}),
    ("bp-retry", pool(), "spec.resizeRetry", {"maxAttempts": 0, "backoffSeconds": 30}),
    ("bp-deletion-policy", pool(), "spec.deletionPolicy", "Orphan"),
    ("bp-pool-name-made-explicit", pool(), "spec.poolName", "render"),
    ("mimg-deletion-policy", image(), "spec.deletionPolicy", "Orphan"),
    ("mimg-replica-count", image(), "spec.gallery.replicaCount", 3),
    ("mimg-target-regions", image(), "spec.gallery.targetRegions", ["westeurope", "northeurope"]),
    ("mimg-image-name-made-explicit", image(), "spec.imageName", "render-node-v1"),
]


def at_path(obj: dict[str, Any], path: str) -> Any:
    for key in path.split("."):
        obj = obj[key]
    return obj


@pytest.mark.parametrize(
    ("base", "path", "value"),
    [case[1:] for case in MUTABLE_CHANGES],
    ids=[case[0] for case in MUTABLE_CHANGES],
)
def test_mutable_field_change_is_accepted(
    kubectl: Kubectl, namespace: str, base: dict[str, Any], path: str, value: Any
) -> None:
    kubectl.apply(base, "-n", namespace)
    changed = copy.deepcopy(base)
    set_path(path, value)(changed)
    kubectl.apply(changed, "-n", namespace)
    stored = get(kubectl, namespace, base["kind"].lower(), base["metadata"]["name"])
    assert stored["metadata"]["generation"] == 2
    stored_value = at_path(stored, path)
    if isinstance(value, dict):  # defaults may have been added around what was set
        stored_value = {k: v for k, v in stored_value.items() if k in value}
        if path == "spec.scale":
            stored_value["auto"] = {
                k: v for k, v in stored_value["auto"].items() if k != "evaluationInterval"
            }
    assert stored_value == value


# --- generation and the status subresource -------------------------------------------------


def test_generation_and_status_subresource(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(pool(), "-n", namespace)
    assert get(kubectl, namespace, "bp", "render")["metadata"]["generation"] == 1

    changed = pool(scale={"fixed": {"targetDedicatedNodes": 8}})
    kubectl.apply(changed, "-n", namespace)
    assert get(kubectl, namespace, "bp", "render")["metadata"]["generation"] == 2

    status = {
        "status": {
            "poolId": f"{ACCOUNT}/pools/render",
            "allocationState": "Resizing",
            "currentDedicatedNodes": 3,
            "targetDedicatedNodes": 8,
            "resizeAttempts": 1,
            "observedGeneration": 2,
            "lastResizeError": {
                "code": "AllocationTimedOut",
                "message": "short",
                "time": "2026-01-01T00:00:00Z",
            },
            "conditions": [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "Resizing",
                    "message": "3/8 dedicated nodes",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "observedGeneration": 2,
                },
                {
                    "type": "Reconciling",
                    "status": "True",
                    "reason": "Resizing",
                    "message": "resizing to 8",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                    "observedGeneration": 2,
                },
            ],
        }
    }
    kubectl.run(
        "patch",
        "bp",
        "render",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(status),
    )
    stored = get(kubectl, namespace, "bp", "render")
    assert stored["metadata"]["generation"] == 2
    assert stored["status"]["currentDedicatedNodes"] == 3
    assert [c["type"] for c in stored["status"]["conditions"]] == ["Ready", "Reconciling"]

    # A status in an ordinary apply is ignored; the spec part of the same apply is not.
    with_status = pool(scale={"fixed": {"targetDedicatedNodes": 9}})
    with_status["status"] = {"currentDedicatedNodes": 99, "allocationState": "Steady"}
    kubectl.apply(with_status, "-n", namespace)
    stored = get(kubectl, namespace, "bp", "render")
    assert stored["metadata"]["generation"] == 3
    assert stored["spec"]["scale"]["fixed"]["targetDedicatedNodes"] == 9
    assert stored["status"]["currentDedicatedNodes"] == 3
    assert stored["status"]["allocationState"] == "Resizing"


def test_status_is_validated(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(image(), "-n", namespace)
    bad = {"status": {"conditions": [{"type": "Ready", "status": "Maybe"}]}}
    result = kubectl.run(
        "patch",
        "mimg",
        "render-node-v1",
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps(bad),
        check=False,
    )
    assert result.returncode != 0
    assert 'Unsupported value: "Maybe"' in result.stderr
    assert "lastTransitionTime: Required value" in result.stderr


def _full_statuses() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """(resource, name, status) per plural: every field of the kind's status model, as the status
    writer sends it."""
    states = dict.fromkeys(NodeStateCounts.model_fields, 1)
    counts = NodeStateCounts.model_validate(states).to_wire()
    operation = {
        "type": "CreatePool",
        "resourceId": f"{ACCOUNT}/pools/render",
        "startedAt": "2026-01-01T00:00:00Z",
    }
    pool_status = {
        "poolId": f"{ACCOUNT}/pools/render",
        "operations": [operation],
        "rollout": {
            "phase": "Creating",
            "strategy": "BlueGreen",
            "fromImage": f"{COMPUTE}/images/a",
            "toImage": f"{COMPUTE}/images/b",
            "newPoolId": f"{ACCOUNT}/pools/render-b",
            "oldPoolId": f"{ACCOUNT}/pools/render",
            "startedAt": "2026-01-01T00:00:00Z",
            "fields": ["spec.vmSize"],
            "oldTargets": [600, 0],
            "cause": "quota",
            "failedGeneration": 2,
            "pool": {"resizeAttempts": 1, "lastResizeError": {"code": "AllocationTimedOut"}},
        },
        "allocationState": "Steady",
        "currentDedicatedNodes": 3,
        "currentLowPriorityNodes": 0,
        "targetDedicatedNodes": 4,
        "targetLowPriorityNodes": 0,
        "resizeAttempts": 1,
        "lastResizeError": {
            "code": "AllocationTimedOut",
            "message": "m",
            "time": "2026-01-01T00:00:00Z",
            "azureTime": "2026-01-01T00:00:00.123Z",
        },
        "imageReference": f"{COMPUTE}/images/a",
        "secretVersions": {"creds/token": "12"},
        "accountPoolAllocationMode": "BatchService",
        "nodeCounts": {"dedicated": counts, "lowPriority": counts},
        "usableNodes": "3/4",
        "nodeHealth": {"reason": "NodesUnusable", "since": "2026-01-01T00:00:00Z"},
        "observedGeneration": 1,
        "conditions": [{**READY, "observedGeneration": 1}],
    }
    image_status = {
        "imageId": f"{COMPUTE}/images/render-node-v1",
        "snapshotIds": [f"{COMPUTE}/snapshots/s-os"],
        "galleryImageVersionId": f"{COMPUTE}/galleries/g/images/d/versions/1.0.0",
        "targetRegions": ["westeurope"],
        "provisioningState": "Succeeded",
        "operations": [
            {**operation, "type": "CreateImage", "resourceId": f"{COMPUTE}/images/render-node-v1"}
        ],
        "usedBy": [{"namespace": "ns", "name": "render"}],
        "observedGeneration": 1,
        "conditions": [{**READY, "observedGeneration": 1}],
    }
    return {
        "batchpools": ("bp", "render", status_patch("batchpools", pool_status)),
        "managedimages": ("mimg", "render-node-v1", status_patch("managedimages", image_status)),
    }


@pytest.mark.parametrize("plural", ["batchpools", "managedimages"])
def test_every_status_field_the_operator_writes_is_kept(
    kubectl: Kubectl, namespace: str, plural: str
) -> None:
    """Nothing the status writer sends is pruned by the apiserver (a field the CRD lacks would
    vanish without an error)."""
    resource, name, status = _full_statuses()[plural]
    model = STATUS_MODELS[plural]
    assert set(status) == {f.alias for f in model.model_fields.values()}, "the sample has every field"
    kubectl.apply(pool() if plural == "batchpools" else image(), "-n", namespace)
    patch_status(kubectl, namespace, resource, name, status)
    stored = get(kubectl, namespace, resource, name)["status"]
    assert {k: v for k, v in stored.items() if k != "kopf"} == status


# --- printer columns, explain, categories, short names -------------------------------------


def patch_status(kubectl: Kubectl, namespace: str, resource: str, name: str, status: dict[str, Any]) -> None:
    kubectl.run(
        "patch",
        resource,
        name,
        "-n",
        namespace,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": status}),
    )


READY = {
    "type": "Ready",
    "status": "True",
    "reason": "Succeeded",
    "message": "ok",
    "lastTransitionTime": "2026-01-01T00:00:00Z",
}


def test_batchpool_printer_columns(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(pool(), "-n", namespace)
    patch_status(
        kubectl,
        namespace,
        "bp",
        "render",
        {
            "targetDedicatedNodes": 4,
            "currentDedicatedNodes": 4,
            "currentLowPriorityNodes": 0,
            "allocationState": "Steady",
            "usableNodes": "3/4",
            "conditions": [READY],
        },
    )
    header, row = kubectl.run("get", "bp", "-n", namespace).stdout.splitlines()
    assert header.split() == [
        "NAME",
        "VM",
        "SIZE",
        "TARGET",
        "CURRENT",
        "ALLOCATION",
        "READY",
        "REASON",
        "USABLE",
        "AGE",
    ]
    assert row.split()[:8] == ["render", "Standard_D4s_v5", "4", "4", "Steady", "True", "Succeeded", "3/4"]
    wide = kubectl.run("get", "bp", "-n", namespace, "-o", "wide").stdout.splitlines()[0]
    assert "LOW PRIORITY" in wide
    assert "POOL ID" in wide


def test_managedimage_printer_columns(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(image(), "-n", namespace)
    patch_status(
        kubectl,
        namespace,
        "mimg",
        "render-node-v1",
        {
            "provisioningState": "Succeeded",
            "imageId": f"{COMPUTE}/images/render-node-v1",
            "conditions": [READY],
        },
    )
    header, row = kubectl.run("get", "mimg", "-n", namespace).stdout.splitlines()
    assert header.split() == ["NAME", "LOCATION", "VERSION", "STATE", "READY", "REASON", "AGE"]
    assert row.split()[:6] == ["render-node-v1", "westeurope", "1.0.0", "Succeeded", "True", "Succeeded"]
    wide = kubectl.run("get", "mimg", "-n", namespace, "-o", "wide").stdout
    assert f"{COMPUTE}/images/render-node-v1" in wide


def explain(kubectl: Kubectl, path: str) -> str:
    """`kubectl explain` reads the published OpenAPI, which lags CRD establishment slightly."""
    deadline = time.monotonic() + 30
    while True:
        result = kubectl.run("explain", path, check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            assert result.returncode == 0, result.stderr
            return result.stdout
        time.sleep(0.5)


def test_explain_prints_descriptions(kubectl: Kubectl, crds: list[str]) -> None:
    scale = explain(kubectl, "batchpool.spec.scale")
    assert "exactly one of fixed" in scale
    assert "fixed\t<Object>" in scale
    assert "auto\t<Object>" in scale
    fixed = explain(kubectl, "batchpool.spec.scale.fixed.resizeTimeout")
    assert "At least PT5M" in fixed
    source = explain(kubectl, "managedimage.spec.source")
    assert "exactly one of snapshots" in source
    assert "virtualMachine\t<Object>" in source
    assert "empty-pool only" in explain(kubectl, "bp.spec.vmSize").lower()
    password = explain(kubectl, "bp.spec.containerConfiguration.containerRegistries.password")
    assert "secretRef\t<Object>" in password


def test_category_and_short_names(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(image(), "-n", namespace)
    kubectl.apply(pool(), "-n", namespace)
    listed = kubectl.run("get", "azbatch", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(listed) == ["batchpool.azbatch.io/render", "managedimage.azbatch.io/render-node-v1"]
    assert kubectl.run("get", "bp", "-n", namespace, "-o", "name").stdout.split() == [
        "batchpool.azbatch.io/render"
    ]
    assert kubectl.run("get", "mimg", "-n", namespace, "-o", "name").stdout.split() == [
        "managedimage.azbatch.io/render-node-v1"
    ]


# --- defaults ------------------------------------------------------------------------------


def test_batchpool_defaults(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(pool(), "-n", namespace)
    spec = get(kubectl, namespace, "bp", "render")["spec"]
    assert spec["scale"]["fixed"] == {
        "targetDedicatedNodes": 4,
        "targetLowPriorityNodes": 0,
        "resizeTimeout": "PT25M",
        "nodeDeallocationOption": "Requeue",
    }
    assert spec["resizeRetry"] == {"maxAttempts": 10, "backoffSeconds": 60}
    assert spec["deletionPolicy"] == "Delete"
    assert "poolName" not in spec

    kubectl.apply(pool("auto", scale={"auto": {"formula": "$TargetDedicatedNodes = 1;"}}), "-n", namespace)
    assert get(kubectl, namespace, "bp", "auto")["spec"]["scale"]["auto"]["evaluationInterval"] == "PT15M"


def test_managedimage_defaults(kubectl: Kubectl, namespace: str) -> None:
    kubectl.apply(image(), "-n", namespace)
    spec = get(kubectl, namespace, "mimg", "render-node-v1")["spec"]
    assert spec["hyperVGeneration"] == "V1"
    assert spec["deletionPolicy"] == "Delete"
    assert spec["gallery"]["replicaCount"] == 1
    assert spec["source"]["snapshots"]["osDisk"]["osState"] == "Generalized"
    assert "targetRegions" not in spec["gallery"]  # the operator defaults it to [location]
