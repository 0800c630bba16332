"""Hostile and semantically wrong manifests (tests/e2e/badinput/): refused or Stalled, never harmful.

Each file starts with `# expect: rejected: <substring of the apiserver's message>` or
`# expect: stalled: <Reason>`. Placeholders like `${ACCOUNT}` are filled from the world seeded for
the test. Every case is checked against one operator of the test's own (in an `iso-` namespace):
rejected cases never reach it; stalled cases end Stalled with exactly that reason. At the end the
operator is still alive, logged no Traceback, and Azure saw no successful write at all.
(tests/e2e/invalid/ holds the plain schema cases of the CRD tests; this corpus does not repeat them.)
"""

from __future__ import annotations

import json
import re
import string
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import SUBSCRIPTION, TENANT, SimulatorHandle, World
from tests.e2e.test_batch_pool_resize import seed_gallery_version
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated

CORPUS = sorted((Path(__file__).parent / "badinput").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (rejected|stalled): (.+)$")
OTHER_SUB = "00000000-0000-0000-0000-0000000000ff"  # exists, same tenant, no role for the operator
MISSING_SUB = "00000000-0000-0000-0000-00000000dead"
WRITES = ("PUT", "PATCH", "POST", "DELETE")


def expectation(path: Path) -> tuple[str, str]:
    found = EXPECT.match(path.read_text().splitlines()[0])
    assert found, f"{path.name}: first line must be '# expect: rejected|stalled: ...'"
    return found.group(1), found.group(2).strip()


def test_corpus_is_large_and_annotated() -> None:
    assert len(CORPUS) >= 60, len(CORPUS)
    kinds = [expectation(p)[0] for p in CORPUS]
    assert kinds.count("stalled") >= 15, kinds
    assert kinds.count("rejected") >= 30, kinds
    invalid = {p.name for p in (Path(__file__).parent / "invalid").glob("*.yaml")}
    assert not invalid & {p.name for p in CORPUS}, "do not duplicate tests/e2e/invalid/"


def seed_extras(admin: Any, world: World) -> dict[str, str]:
    """What the corpus refers to beyond the standard world; returns the placeholder values."""
    image = seed_gallery_version(admin, world)
    east = seed_gallery_version(admin, world, version="2.0.0", regions=("eastus",))
    admin.seed(
        {
            "subscriptions": [
                {
                    "id": SUBSCRIPTION,
                    "tenant": TENANT,
                    "resourceGroups": [
                        {
                            "name": world.images_rg,
                            "location": "westeurope",
                            "virtualMachines": [
                                {
                                    "name": "ext-vm",
                                    "osDisk": {"name": "ext-vm-os", "sizeGB": 64, "osType": "Linux"},
                                    "extensions": ["CustomScript"],
                                }
                            ],
                        },
                        {
                            "name": world.batch_rg,
                            "location": "westeurope",
                            "batchAccounts": [
                                {
                                    "name": "acct",
                                    "pools": [
                                        {
                                            "name": "foreign-pool",
                                            "vmSize": "Standard_D2s_v5",
                                            "deploymentConfiguration": {
                                                "virtualMachineConfiguration": {
                                                    "imageReference": {"id": image},
                                                    "nodeAgentSkuId": "batch.node.ubuntu 22.04",
                                                }
                                            },
                                            "scaleSettings": {"fixedScale": {"targetDedicatedNodes": 0}},
                                        }
                                    ],
                                }
                            ],
                        },
                    ],
                },
                {
                    "id": OTHER_SUB,
                    "tenant": TENANT,
                    "resourceGroups": [{"name": "rg", "location": "westeurope"}],
                },
            ]
        }
    )
    return {
        "SUB": SUBSCRIPTION,
        "OTHER_SUB": OTHER_SUB,
        "MISSING_SUB": MISSING_SUB,
        "ACCOUNT": world.account_id,
        "IMAGE": image,
        "IMAGE_EASTUS": east,
        "IMAGES_RG": world.images_rg,
        "BATCH_RG": world.batch_rg,
        "GALLERY": world.gallery_id,
        "SNAP": world.snapshot_id("os-snap"),
        "VM_EXT": f"{world.rg_id(world.images_rg)}/providers/Microsoft.Compute/virtualMachines/ext-vm",
    }


def azure_writes(admin: Any, prefixes: tuple[str, ...]) -> list[dict[str, Any]]:
    return [
        e
        for e in admin.requests()["recent"]
        if e["method"] in WRITES
        and 200 <= int(e["status"]) < 400
        and any(e["path"].lower().startswith(p) for p in prefixes)
    ]


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def test_bad_input_is_refused_or_stalled_and_harmless(
    kubectl: Kubectl, own_operator: Operator, simulator: SimulatorHandle, world: World, tmp_path: Path
) -> None:
    admin, ns = simulator.admin, world.namespace
    values = seed_extras(admin, world)
    admin.reset_requests()
    prefixes = (f"/subscriptions/{SUBSCRIPTION.lower()}/", f"/subscriptions/{OTHER_SUB}/")
    stalled: dict[tuple[str, str], tuple[str, str]] = {}  # (kind, name) -> (file, reason)
    failures: list[str] = []
    for path in CORPUS:
        kind, expected = expectation(path)
        text = string.Template(path.read_text()).safe_substitute(values)
        result = kubectl.run("apply", "-n", ns, "-f", "-", input=text, check=False)
        if kind == "rejected":
            if result.returncode == 0 or expected not in result.stderr:
                failures.append(f"{path.name}: expected rejection containing {expected!r}, got {result}")
            continue
        if result.returncode != 0:
            failures.append(f"{path.name}: expected the apiserver to accept it: {result.stderr.strip()}")
            continue
        for doc in yaml.safe_load_all(text):
            stalled[(doc["kind"].lower(), doc["metadata"]["name"])] = (path.name, expected)
    assert not failures, "\n".join(failures)

    deadline = time.monotonic() + 120
    pending = dict(stalled)
    seen: dict[tuple[str, str], Any] = {}
    while pending and time.monotonic() < deadline:
        for kind in ("batchpool", "managedimage"):
            for obj in kubectl.json("get", kind, "-n", ns)["items"]:
                key = (kind, obj["metadata"]["name"])
                seen[key] = obj.get("status")
                if key in pending:
                    cond = condition(obj, "Stalled")
                    if cond.get("status") == "True" and cond.get("reason") == pending[key][1]:
                        del pending[key]
        time.sleep(1)
    assert not pending, "\n".join(
        f"{file}: {kind}/{name} never Stalled/{reason}; status: {json.dumps(seen.get((kind, name)))}"
        for (kind, name), (file, reason) in pending.items()
    )
    assert own_operator.proc is not None
    assert own_operator.proc.poll() is None, "the operator died"
    log = (tmp_path / "operator.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-6000:]
    assert not azure_writes(admin, prefixes), azure_writes(admin, prefixes)
    # Deleting them all: every finalizer lets go (nothing was created), still without a Traceback.
    kubectl.run("delete", "batchpools,managedimages", "--all", "-n", ns, "--timeout=90s", timeout=150)
    assert not kubectl.json("get", "batchpools,managedimages", "-n", ns)["items"]
    assert own_operator.proc.poll() is None, "the operator died"
    log = (tmp_path / "operator.log").read_text(errors="replace")
    assert "Traceback" not in log, log[-6000:]
    assert not azure_writes(admin, prefixes), azure_writes(admin, prefixes)
    pools = admin.resources("Microsoft.Batch/batchAccounts/pools")
    ours = [p["id"] for p in pools if p["id"].lower().startswith(world.account_id.lower() + "/")]
    assert ours == [f"{world.account_id}/pools/foreign-pool"] or [i.lower() for i in ours] == [
        f"{world.account_id}/pools/foreign-pool".lower()
    ], ours
