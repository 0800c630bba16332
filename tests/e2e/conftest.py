"""End-to-end fixtures: the simulator and the operator as real processes beside the control plane.

The simulator runs at time scale 60 (one real second is a simulated minute), so a PT25M resize
timeout lasts 25 real seconds. Each test seeds its own resource groups and Batch account, named
after its namespace, so tests never see each other's Azure resources.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from azbatch_operator.devtools.controlplane import ControlPlane
from azbatch_operator.devtools.stack import DEMO_WORLD, Operator, Simulator
from azuresim.admin import AdminClient
from tests.conftest import SHARED_PREFIX
from tests.kube import Kubectl

SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
TENANT = "11111111-1111-1111-1111-111111111111"
TIME_SCALE = 60.0

#: Operator knobs for tests: poll fast so simulated minutes pass in real seconds.
OPERATOR_ENV = {
    "AZBATCH_POLL_FAST_SECONDS": "1",
    "AZBATCH_POLL_SLOW_SECONDS": "30",
    "AZBATCH_QUOTA_RECHECK_SECONDS": "3",
    "AZBATCH_RETRY_BASE_SECONDS": "0.5",
    "AZBATCH_RETRY_MAX_SECONDS": "5",
    "AZBATCH_CREATE_GRACE_SECONDS": "10",
}


@dataclass
class SimulatorHandle:
    process: Simulator
    admin: AdminClient

    def env(self) -> dict[str, str]:
        return self.process.env()


@pytest.fixture(scope="session")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorHandle]:
    sim = Simulator(tmp_path_factory.mktemp("azuresim"), seed=DEMO_WORLD, time_scale=TIME_SCALE)
    sim.start()
    try:
        yield SimulatorHandle(sim, AdminClient(sim.url, sim.ca_file))
    finally:
        sim.stop()


def start_operator(
    control_plane: ControlPlane, simulator: SimulatorHandle, log_file: Path, **extra_env: str
) -> Operator:
    operator = Operator(
        control_plane.kubeconfig,
        env={**simulator.env(), **OPERATOR_ENV, **extra_env},
        log_file=log_file,
        namespaces=[f"{SHARED_PREFIX}*"],
    )
    operator.start()
    return operator


@pytest.fixture(scope="session")
def operator(
    control_plane: ControlPlane,
    crds: list[str],
    simulator: SimulatorHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Operator]:
    """One operator process for the e2e tests, serving the `t-*` test namespaces.

    Tests marked `isolated` live in `iso-*` namespaces and run operators of their own there.
    """
    log = tmp_path_factory.mktemp("operator") / "operator.log"
    op = start_operator(control_plane, simulator, log)
    try:
        yield op
    finally:
        op.stop()
        text = log.read_text(errors="replace")
        print(f"--- operator log ({len(text.splitlines())} lines): {log}")


@contextmanager
def isolated_operator(
    control_plane: ControlPlane, simulator: SimulatorHandle, namespace: str, log: Path, **env: str
) -> Iterator[Operator]:
    """An operator process serving only `namespace` (an iso-* one the session operator ignores)."""
    operator = Operator(
        control_plane.kubeconfig,
        env={**simulator.env(), **OPERATOR_ENV, **env},
        log_file=log,
        namespaces=[namespace],
    )
    operator.start()
    try:
        yield operator
    finally:
        operator.stop()


@pytest.fixture
def own_operator(
    control_plane: ControlPlane, simulator: SimulatorHandle, namespace: str, tmp_path: Path
) -> Iterator[Operator]:
    """For `isolated` tests: their own operator, on their own namespace, logging to tmp_path."""
    with isolated_operator(control_plane, simulator, namespace, tmp_path / "operator.log") as operator:
        yield operator


@pytest.fixture
def restartable(operator: Operator) -> Iterator[Operator]:
    """The session operator; restored (running, session env) whatever the test did to it."""
    env = dict(operator.env)
    try:
        yield operator
    finally:
        if operator.proc is None or operator.env != env:
            operator.stop()
            operator.env = env
            operator.start()


@dataclass(frozen=True)
class World:
    """Azure resources seeded for one test (names derived from its namespace)."""

    namespace: str
    subscription: str
    images_rg: str
    batch_rg: str
    vm_name: str
    account_name: str

    def rg_id(self, rg: str) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{rg}"

    @property
    def vm_id(self) -> str:
        return f"{self.rg_id(self.images_rg)}/providers/Microsoft.Compute/virtualMachines/{self.vm_name}"

    def snapshot_id(self, name: str) -> str:
        return f"{self.rg_id(self.images_rg)}/providers/Microsoft.Compute/snapshots/{name}"

    @property
    def gallery_id(self) -> str:
        return f"{self.rg_id(self.images_rg)}/providers/Microsoft.Compute/galleries/gallery1"

    @property
    def account_id(self) -> str:
        return f"{self.rg_id(self.batch_rg)}/providers/Microsoft.Batch/batchAccounts/{self.account_name}"

    def pool_id(self, pool: str) -> str:
        return f"{self.account_id}/pools/{pool}"


def seed_world(
    admin: AdminClient,
    namespace: str,
    *,
    vm: dict[str, Any] | None = None,
    account: dict[str, Any] | None = None,
    batch_location: str = "westeurope",
) -> World:
    short = namespace[-20:].strip("-")
    world = World(namespace, SUBSCRIPTION, f"img-{short}", f"batch-{short}", "prep-vm", "acct")
    vm_spec = {
        "name": world.vm_name,
        "osDisk": {
            "name": "prep-vm-os",
            "sizeGB": 64,
            "osType": "Linux",
            "encrypted": False,
            "managed": True,
        },
        "dataDisks": [{"lun": 0, "name": "prep-vm-data0", "sizeGB": 128}],
        "extensions": [],
        "plan": None,
        **(vm or {}),
    }
    acct = {
        "name": world.account_name,
        "poolAllocationMode": "BatchService",
        "dedicatedCoreQuota": 20000,
        "lowPriorityCoreQuota": 5000,
        "poolQuota": 100,
        **(account or {}),
    }
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
                            "virtualMachines": [vm_spec],
                            "snapshots": [
                                {"name": "os-snap", "osType": "Linux", "sizeGB": 64},
                                {"name": "data0-snap", "sizeGB": 128},
                            ],
                            "galleries": [{"name": "gallery1"}],
                        },
                        {"name": world.batch_rg, "location": batch_location, "batchAccounts": [acct]},
                    ],
                }
            ]
        }
    )
    return world


@pytest.fixture
def world(simulator: SimulatorHandle, namespace: str) -> World:
    return seed_world(simulator.admin, namespace)


def patch_fixed_scale(kubectl: Kubectl, namespace: str, name: str, **fixed: int) -> None:
    """`kubectl patch` of a BatchPool's spec.scale.fixed (e.g. targetDedicatedNodes=6), as a user would."""
    body = json.dumps({"spec": {"scale": {"fixed": fixed}}})
    kubectl.run("patch", "batchpool", name, "-n", namespace, "--type=merge", "-p", body)


def wait_for(
    kubectl: Kubectl, kind: str, namespace: str, name: str, jsonpath: str, value: str, timeout: int = 120
) -> dict[str, Any]:
    """`kubectl wait --for=jsonpath=...`: the same wait a user would type. Returns the object."""
    result = kubectl.run(
        "wait",
        f"{kind}/{name}",
        "-n",
        namespace,
        f"--for=jsonpath={jsonpath}={value}",
        f"--timeout={timeout}s",
        check=False,
        timeout=timeout + 30,
    )
    obj = kubectl.json("get", f"{kind}/{name}", "-n", namespace)
    if result.returncode != 0:
        raise AssertionError(
            f"{kind}/{name} never had {jsonpath}={value}: {result.stderr.strip()}\n"
            f"status: {json.dumps(obj.get('status'), indent=1)}"
        )
    return obj  # type: ignore[no-any-return]


def wait_condition(
    kubectl: Kubectl,
    kind: str,
    namespace: str,
    name: str,
    type_: str,
    reason: str | None = None,
    status: str = "True",
    timeout: int = 120,
) -> dict[str, Any]:
    """Wait until condition `type_` has `status` (and `reason`); returns the object."""
    if reason is None:
        return wait_for(
            kubectl,
            kind,
            namespace,
            name,
            f'{{.status.conditions[?(@.type=="{type_}")].status}}',
            status,
            timeout,
        )
    obj = wait_for(
        kubectl,
        kind,
        namespace,
        name,
        f'{{.status.conditions[?(@.type=="{type_}")].reason}}',
        reason,
        timeout,
    )
    cond = next(c for c in obj["status"]["conditions"] if c["type"] == type_)
    assert cond["status"] == status, cond
    return obj


def events_for(kubectl: Kubectl, namespace: str, name: str) -> list[dict[str, Any]]:
    items = kubectl.json("get", "events", "-n", namespace, f"--field-selector=involvedObject.name={name}")
    return list(items["items"])
