"""No drift for GitOps: once the operator has reconciled an object, the user's manifest still matches.

Argo CD and Flux compare the manifest in Git with the live object (Flux and Argo CD's
server-side mode through a server-side dry-run apply, as `kubectl diff --server-side` does).
The operator must therefore write only `status` (and kopf's finalizer in metadata.finalizers):
never spec, labels or annotations. kopf keeps its handler progress in status
(handlers/lifecycle.py), not in its default annotations, and no diff-base at all (the operator
has no create/update handlers that would need one).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import World, wait_condition
from tests.e2e.test_smoke_flow import image_manifest, pool_manifest
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated

FINALIZER = "kopf.zalando.org/KopfFinalizerMarker"
#: What kubectl itself (the user's tool, not the operator) adds on a client-side apply.
KUBECTL_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"


def operator_writes(obj: dict[str, Any]) -> list[dict[str, Any]]:
    """managedFields entries of every writer other than kubectl (the user)."""
    return [m for m in obj["metadata"]["managedFields"] if not m["manager"].startswith("kubectl")]


def assert_only_status_and_finalizer(obj: dict[str, Any], user_manifest: dict[str, Any]) -> None:
    meta = obj["metadata"]
    assert meta["generation"] == 1, "the operator never changes spec"
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != KUBECTL_ANNOTATION}
    assert annotations == (user_manifest["metadata"].get("annotations") or {})
    assert (meta.get("labels") or {}) == (user_manifest["metadata"].get("labels") or {})
    assert meta.get("finalizers") == [FINALIZER]
    writes = operator_writes(obj)
    assert any(entry.get("subresource") != "status" for entry in writes), "kopf's finalizer write is seen"
    for entry in writes:
        if entry.get("subresource") == "status":
            continue
        assert entry["fieldsV1"] == {"f:metadata": {"f:finalizers": {".": {}, f'v:"{FINALIZER}"': {}}}}, entry


def diff(kubectl: Kubectl, manifest: Path, *mode: str) -> str:
    result = kubectl.run("diff", *mode, "-f", str(manifest), check=False)
    assert result.returncode == 0, f"drift (exit {result.returncode}):\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.mark.parametrize("apply_mode", ["server-side", "client-side"])
def test_reconciled_objects_do_not_drift_from_their_manifests(
    kubectl: Kubectl, own_operator: Operator, world: World, tmp_path: Path, apply_mode: str
) -> None:
    ns = world.namespace
    image = image_manifest(world)
    image["metadata"]["labels"] = {"team": "render"}
    image["metadata"]["annotations"] = {"example.com/owner": "render-team"}
    pool = pool_manifest(world)
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump_all([image, pool]))
    mode = ("--server-side",) if apply_mode == "server-side" else ()
    kubectl.run("apply", *mode, "-f", str(manifest))
    try:
        wait_condition(kubectl, "managedimage", ns, "img", "Ready", timeout=90)
        wait_condition(kubectl, "batchpool", ns, "pool", "Ready", timeout=90)
        diff(kubectl, manifest, *mode)
        # Steady state: a few more polls must not write anything the manifest would disagree with.
        time.sleep(3)
        diff(kubectl, manifest, *mode)
        for kind, name, user_manifest in (("managedimage", "img", image), ("batchpool", "pool", pool)):
            live = kubectl.json("get", f"{kind}/{name}", "-n", ns, "--show-managed-fields")
            assert_only_status_and_finalizer(live, user_manifest)
        live_pool = kubectl.json("get", "batchpool/pool", "-n", ns)
        annotations = live_pool["metadata"].get("annotations") or {}
        assert not [a for a in annotations if "kopf" in a], "kopf's bookkeeping never goes into annotations"
        assert "diffbase" not in (live_pool["status"].get("kopf") or {}), "no copy of the spec in status"
    finally:
        kubectl.run("delete", "-f", str(manifest), "--timeout=90s", check=False, timeout=150)
    log = (tmp_path / "operator.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-4000:]
