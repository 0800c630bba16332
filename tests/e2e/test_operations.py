"""What a platform team relies on when running the operator: HA, metrics, no secret anywhere."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from azbatch_operator.devtools import processes
from azbatch_operator.devtools.controlplane import ControlPlane
from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import (
    OPERATOR_ENV,
    SUBSCRIPTION,
    TENANT,
    SimulatorHandle,
    World,
    wait_condition,
    wait_for,
)
from tests.e2e.test_smoke_flow import image_manifest, pool_manifest
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated

LEASE = "azbatch-operator-leader"


def scrape(port: int) -> dict[str, float]:
    """Prometheus text format -> {'name{labels}': value} (comments skipped)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    samples = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples


def metric(samples: dict[str, float], name: str, /, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for key, value in samples.items():
        if key.split("{", 1)[0] != name:
            continue
        if all(f'{k}="{v}"' in key for k, v in labels.items()):
            total += value
    return total


class Replica:
    def __init__(self, operator: Operator, metrics_port: int) -> None:
        self.operator, self.metrics_port = operator, metrics_port

    @property
    def identity_suffix(self) -> str:
        assert self.operator.proc is not None
        return f"-{self.operator.proc.pid}"


def replica(
    control_plane: ControlPlane, simulator: SimulatorHandle, namespace: str, log: Path, **env: str
) -> Replica:
    port = processes.free_port()
    operator = Operator(
        control_plane.kubeconfig,
        env={**simulator.env(), **OPERATOR_ENV, "AZBATCH_METRICS_PORT": str(port), **env},
        log_file=log,
        namespaces=[namespace],
    )
    operator.start()
    return Replica(operator, port)


@pytest.fixture
def replicas(
    control_plane: ControlPlane, simulator: SimulatorHandle, world: World, tmp_path: Path
) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    election = {
        "AZBATCH_LEADER_ELECTION": "true",
        "AZBATCH_LEADER_ELECTION_NAMESPACE": world.namespace,
        "AZBATCH_LEADER_LEASE_SECONDS": "4",
    }
    try:
        for name in ("a", "b"):
            started.append(
                replica(control_plane, simulator, world.namespace, tmp_path / f"{name}.log", **election)
            )
            if name == "a":  # let the first one win, so the test knows who leads
                wait_for_holder(Kubectl(control_plane.kubeconfig), world.namespace, started[0])
        yield started
    finally:
        for r in started:
            r.operator.stop()


def lease_holder(kubectl: Kubectl, namespace: str) -> str:
    result = kubectl.run("get", "lease", LEASE, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout)["spec"].get("holderIdentity", "") if result.returncode == 0 else ""


def wait_for_holder(kubectl: Kubectl, namespace: str, leader: Replica, timeout: float = 60) -> float:
    return processes.wait_until(
        lambda: lease_holder(kubectl, namespace).endswith(leader.identity_suffix), timeout, "lease holder"
    )


def test_two_replicas_only_the_leader_acts_and_the_standby_takes_over_after_sigkill(
    kubectl: Kubectl, simulator: SimulatorHandle, world: World, replicas: list[Replica]
) -> None:
    leader, standby = replicas
    ns = world.namespace
    kubectl.apply(image_manifest(world))
    kubectl.apply(pool_manifest(world, nodes=4))
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", timeout=120)
    assert metric(scrape(leader.metrics_port), "azbatch_azure_requests_total") > 0
    assert metric(scrape(standby.metrics_port), "azbatch_azure_requests_total") == 0, (
        "the standby called Azure"
    )
    assert "standing by" in standby.operator.log_file.read_text()
    assert metric(scrape(leader.metrics_port), "azbatch_leader") == 1
    assert metric(scrape(standby.metrics_port), "azbatch_leader") == 0

    killed_at = time.monotonic()
    leader.operator.kill()
    wait_for_holder(kubectl, ns, standby)
    takeover = time.monotonic() - killed_at
    print(f"takeover after SIGKILL: {takeover:.1f}s (lease 4s)")
    kubectl.run(
        "patch",
        "batchpool",
        "pool",
        "-n",
        ns,
        "--type=merge",
        "-p",
        '{"spec":{"scale":{"fixed":{"targetDedicatedNodes":6}}}}',
    )
    wait_for(kubectl, "batchpool", ns, "pool", "{.status.currentDedicatedNodes}", "6", timeout=120)
    wait_condition(kubectl, "batchpool", ns, "pool", "Ready", timeout=60)
    assert metric(scrape(standby.metrics_port), "azbatch_azure_requests_total") > 0
    assert metric(scrape(standby.metrics_port), "azbatch_leader") == 1
    pool_path = world.pool_id("pool").lower()
    puts = [
        r
        for r in simulator.admin.requests()["recent"]
        if r["method"] == "PUT" and str(r.get("path", "")).lower().split("?")[0] == pool_path
    ]
    assert len(puts) == 1, "the new leader must adopt the pool, not PUT it again"


def test_metrics_report_reconciles_azure_requests_throttling_and_pool_nodes(
    kubectl: Kubectl, control_plane: ControlPlane, simulator: SimulatorHandle, world: World, tmp_path: Path
) -> None:
    ns = world.namespace
    one = replica(control_plane, simulator, ns, tmp_path / "operator.log")
    try:
        simulator.admin.faults(
            method="GET",
            pathRegex=f"(?i){world.batch_rg}/providers/Microsoft.Batch/batchAccounts/acct$",
            status=429,
            count=1,
            retryAfter=1,
        )
        kubectl.apply(image_manifest(world))
        kubectl.apply(pool_manifest(world, nodes=5))
        wait_condition(kubectl, "batchpool", ns, "pool", "Ready", timeout=120)
        samples = scrape(one.metrics_port)
    finally:
        one.operator.stop()
        simulator.admin.clear_faults()
    assert metric(samples, "azbatch_reconciles_total", kind="batchpools", result="Succeeded") >= 1
    assert metric(samples, "azbatch_reconciles_total", kind="managedimages", result="Succeeded") >= 1
    assert metric(samples, "azbatch_reconcile_duration_seconds_count", kind="batchpools") >= 1
    assert (
        metric(
            samples,
            "azbatch_azure_requests_total",
            operation="PUT Microsoft.Batch/batchAccounts/pools",
            status="200",
        )
        == 1
    )
    assert metric(samples, "azbatch_azure_requests_total", status="429") >= 1
    assert (
        metric(samples, "azbatch_azure_throttled_total", operation="GET Microsoft.Batch/batchAccounts") >= 1
    )
    for state in ("current", "target"):
        assert (
            metric(samples, "azbatch_pool_nodes", namespace=ns, name="pool", kind="dedicated", state=state)
            == 5
        )
    assert metric(samples, "azbatch_leader") == 1  # leader election off: this replica acts
    pool = {"kind": "batchpools", "namespace": ns, "name": "pool"}
    assert metric(samples, "azbatch_object_condition", **pool, type="Ready", reason="Succeeded") == 1
    assert metric(samples, "azbatch_object_condition", **pool, type="Stalled") == 0
    assert metric(samples, "azbatch_object_condition", kind="managedimages", namespace=ns, type="Ready") == 1


CANARY_SECRET = "azbatch-canary-s3cr3t-7f3a91"
CANARY_CLIENT = "33333333-3333-3333-3333-333333333333"


def test_no_secret_in_logs_events_or_status(
    kubectl: Kubectl, control_plane: ControlPlane, simulator: SimulatorHandle, world: World, tmp_path: Path
) -> None:
    """A recognisable client secret, used for a full lifecycle and for a failed login, appears nowhere."""
    ns = world.namespace
    simulator.admin.seed(
        {
            "tenants": [
                {
                    "id": TENANT,
                    "principals": [{"clientId": CANARY_CLIENT, "secret": CANARY_SECRET, "name": "canary"}],
                }
            ],
            "subscriptions": [
                {
                    "id": SUBSCRIPTION,
                    "tenant": TENANT,
                    "roleAssignments": [
                        {
                            "principal": CANARY_CLIENT,
                            "scope": f"/subscriptions/{SUBSCRIPTION}",
                            "role": "Contributor",
                        }
                    ],
                }
            ],
        }
    )
    log = tmp_path / "operator.log"
    good = replica(
        control_plane, simulator, ns, log, AZURE_CLIENT_ID=CANARY_CLIENT, AZURE_CLIENT_SECRET=CANARY_SECRET
    )
    try:
        kubectl.apply(image_manifest(world))
        kubectl.apply(pool_manifest(world, nodes=2))
        wait_condition(kubectl, "batchpool", ns, "pool", "Ready", timeout=120)
    finally:
        good.operator.stop()
    wrong = replica(
        control_plane,
        simulator,
        ns,
        tmp_path / "wrong.log",
        AZURE_CLIENT_ID=CANARY_CLIENT,
        AZURE_CLIENT_SECRET=CANARY_SECRET + "-wrong",
    )
    try:
        kubectl.apply(image_manifest(world, name="img2"))
        wait_condition(kubectl, "managedimage", ns, "img2", "Stalled", reason="AccessDenied", timeout=120)
    finally:
        wrong.operator.stop()
    everything = "\n".join(
        [
            log.read_text(),
            (tmp_path / "wrong.log").read_text(),
            kubectl.run("get", "events", "-n", ns, "-o", "json").stdout,
            kubectl.run("get", "managedimages,batchpools", "-n", ns, "-o", "json").stdout,
        ]
    )
    assert "AccessDenied" in everything  # the failure is reported ...
    assert CANARY_SECRET not in everything  # ... without the secret
