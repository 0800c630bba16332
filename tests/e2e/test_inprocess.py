"""The operator in-process (`kopf.testing.KopfRunner`) on the real apiserver: start-up, login,
election and shutdown, observed from inside the test's own process.

A standby makes no Kubernetes call through kopf (no finalizer, no status) while another holder
keeps renewing the Lease; when that holder stops, this operator takes over and reconciles, and a
clean exit hands the Lease back (empty holder) at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from kopf.testing import KopfRunner

from azbatch_operator.devtools.controlplane import ControlPlane
from tests.e2e.conftest import OPERATOR_ENV, SimulatorHandle, World, wait_for
from tests.e2e.test_smoke_flow import image_manifest
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated

LEASE = "azbatch-operator-leader"


def micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ForeignLeader:
    """Another replica, played by the test: holds the Lease and renews it until told to stop."""

    def __init__(self, kubectl: Kubectl, namespace: str) -> None:
        self.kubectl, self.namespace = kubectl, namespace
        self.renewals = 0
        self._stop = threading.Event()
        now = micro_now()
        kubectl.apply(
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": LEASE, "namespace": namespace},
                "spec": {
                    "holderIdentity": "someone-else",
                    "leaseDurationSeconds": 2,
                    "acquireTime": now,
                    "renewTime": now,
                },
            }
        )
        self._thread = threading.Thread(target=self._renew, daemon=True)
        self._thread.start()

    def _renew(self) -> None:
        while not self._stop.wait(0.5):
            patch = json.dumps({"spec": {"renewTime": micro_now()}})
            self.kubectl.run("patch", "lease", LEASE, "-n", self.namespace, "--type=merge", "-p", patch)
            self.renewals += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@pytest.fixture
def operator_env(
    monkeypatch: pytest.MonkeyPatch, control_plane: ControlPlane, simulator: SimulatorHandle, world: World
) -> Iterator[None]:
    env = {
        **simulator.env(),
        **OPERATOR_ENV,
        "KUBECONFIG": str(control_plane.kubeconfig),
        "AZBATCH_LEADER_ELECTION": "true",
        "AZBATCH_LEADER_ELECTION_NAMESPACE": world.namespace,
        "AZBATCH_LEADER_LEASE_SECONDS": "2",
        "AZBATCH_METRICS_PORT": "0",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return


def test_in_process_standby_writes_nothing_then_takes_over_and_releases_on_exit(
    kubectl: Kubectl, world: World, operator_env: None
) -> None:
    ns = world.namespace
    other = ForeignLeader(kubectl, ns)
    argv = ["run", "--standalone", f"--namespace={ns}", "--verbose", "-m", "azbatch_operator"]
    with KopfRunner(argv, timeout=120) as runner:
        kubectl.apply(image_manifest(world))
        # Several renewals by the other holder: a standby that acted would have added its
        # finalizer within the first of them.
        deadline = time.monotonic() + 60
        while other.renewals < 6 and time.monotonic() < deadline:
            obj = kubectl.json("get", "managedimage/img", "-n", ns)
            assert not obj["metadata"].get("finalizers"), "a standby added a finalizer"
            assert not obj.get("status"), "a standby wrote status"
            time.sleep(0.3)
        assert other.renewals >= 6
        other.stop()
        # Acting now: kopf's finalizer, then our status. (Not Ready: in this process aiohttp built
        # its default TLS context before SSL_CERT_FILE named the simulator's CA, so Azure calls
        # fail TLS here; the separate-process tests cover Azure.)
        obj = wait_for(kubectl, "managedimage", ns, "img", "{.status.observedGeneration}", "1", timeout=120)
        assert obj["metadata"]["finalizers"]
        lease = kubectl.json("get", "lease", LEASE, "-n", ns)
        assert lease["spec"]["holderIdentity"] != "someone-else"
        assert lease["spec"]["leaseTransitions"] >= 1
    assert runner.exception is None, runner.exception
    assert runner.exit_code == 0, runner.output[-3000:]
    assert "standing by" in runner.output
    assert "acquired leadership" in runner.output
    assert kubectl.json("get", "lease", LEASE, "-n", ns)["spec"].get("holderIdentity", "") == ""
