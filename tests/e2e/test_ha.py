"""High availability on a real kube-apiserver: two operator processes, one Lease, faults injected.

Each replica reaches the apiserver through its own loopback TCP proxy, so a test can cut one
replica off (a network partition) while Azure stays reachable: the split-brain case. Every
operator process gets an Azure principal of its own, so the simulator's request log
(`GET /_sim/requests`, principal and time of every ARM call) shows which process acted when;
"never both act" is measured there, not inferred from logs. A replica that exits is restarted,
as its Deployment would.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from azbatch_operator.devtools import processes
from azbatch_operator.devtools.controlplane import ControlPlane
from azbatch_operator.devtools.stack import Operator
from tests.conftest import REPO
from tests.e2e.conftest import (
    OPERATOR_ENV,
    SUBSCRIPTION,
    TENANT,
    TIME_SCALE,
    SimulatorHandle,
    World,
    patch_fixed_scale,
    wait_condition,
    wait_for,
)
from tests.e2e.test_rbac import NAMESPACE_SCAN_RULES, grant, rendered
from tests.e2e.test_smoke_flow import image_manifest, pool_manifest
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated

LEASE = "azbatch-operator-leader"
#: Short but client-go-shaped timing (lease > renew deadline > retry period), so takeovers take
#: seconds; the HA overlay ships 15 / 10 / 2.
TIMING = {
    "AZBATCH_LEADER_LEASE_SECONDS": "2",
    "AZBATCH_LEADER_RENEW_DEADLINE_SECONDS": "1.4",
    "AZBATCH_LEADER_RETRY_PERIOD_SECONDS": "0.3",
}
#: Steady pools polled twice a second: the leader's ARM reads are a continuous trace.
BUSY_POLLING = {"AZBATCH_POLL_FAST_SECONDS": "0.25", "AZBATCH_POLL_SLOW_SECONDS": "0.5"}


class Proxy:
    """A loopback TCP forwarder to the apiserver that can be cut (connections reset, new ones
    refused) and healed: a partition of one replica from the control plane."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut = False
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.cut:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                if self.cut:
                    break
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def partition(self) -> None:
        self.cut = True
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def heal(self) -> None:
        self.cut = False

    def close(self) -> None:
        self.partition()
        self.listener.close()


def principal_ids(namespace: str, n: int) -> list[str]:
    """Client ids unique to one test (the session's simulator keeps every test's requests)."""
    salt = hashlib.sha1(namespace.encode()).hexdigest()[:4]
    return [f"44444444-{salt}-0000-0000-{i:012d}" for i in range(n)]


def seed_principals(simulator: SimulatorHandle, ids: list[str]) -> None:
    simulator.admin.seed(
        {
            "tenants": [
                {
                    "id": TENANT,
                    "principals": [
                        {"clientId": c, "secret": f"s-{c}", "name": f"replica-{c[-3:]}"} for c in ids
                    ],
                }
            ],
            "subscriptions": [
                {
                    "id": SUBSCRIPTION,
                    "tenant": TENANT,
                    "roleAssignments": [
                        {"principal": c, "scope": f"/subscriptions/{SUBSCRIPTION}", "role": "Contributor"}
                        for c in ids
                    ],
                }
            ],
        }
    )


@dataclass
class Replica:
    """One Deployment replica: a slot that is restarted with a fresh process (and principal)."""

    name: str
    proxy: Proxy
    kubeconfig: Path
    env: dict[str, str]
    workdir: Path
    principals: list[str]
    operator: Operator | None = None
    principal: str = ""
    starts: int = 0
    history: list[tuple[str, int]] = field(default_factory=list)  # (principal, pid)

    def start(self) -> None:
        self.principal = self.principals.pop(0)
        self.starts += 1
        self.operator = Operator(
            self.kubeconfig,
            env={**self.env, "AZURE_CLIENT_ID": self.principal, "AZURE_CLIENT_SECRET": f"s-{self.principal}"},
            log_file=self.workdir / f"{self.name}-{self.starts}.log",
            namespaces=self.env["_NAMESPACES"].split(","),
        )
        self.operator.start()
        assert self.operator.proc is not None
        self.history.append((self.principal, self.operator.proc.pid))

    @property
    def pid(self) -> int:
        assert self.operator is not None
        assert self.operator.proc is not None
        return self.operator.proc.pid

    def exited(self) -> bool:
        return self.operator is None or self.operator.proc is None or self.operator.proc.poll() is not None

    def stop(self) -> None:
        if self.operator is not None:
            self.operator.stop()


def proxied_kubeconfig(control_plane: ControlPlane, proxy: Proxy, path: Path) -> Path:
    config = control_plane.kubeconfig_dict()
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"  # type: ignore[index]
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@contextlib.contextmanager
def two_replicas(
    control_plane: ControlPlane,
    simulator: SimulatorHandle,
    world: World,
    workdir: Path,
    n_principals: int,
    **env: str,
) -> Iterator[dict[str, Replica]]:
    ids = principal_ids(world.namespace, n_principals)
    seed_principals(simulator, ids)
    base = {
        **simulator.env(),
        **OPERATOR_ENV,
        **BUSY_POLLING,
        **TIMING,
        "AZBATCH_LEADER_ELECTION": "true",
        "AZBATCH_LEADER_ELECTION_NAMESPACE": world.namespace,
        "_NAMESPACES": world.namespace,
        **env,
    }
    replicas: dict[str, Replica] = {}
    try:
        for i, (name, offset) in enumerate((("a", "60"), ("b", "0"))):
            proxy = Proxy(control_plane.apiserver_port)
            replicas[name] = Replica(
                name,
                proxy,
                proxied_kubeconfig(control_plane, proxy, workdir / f"kubeconfig-{name}"),
                {**base, "AZBATCH_LEADER_CLOCK_OFFSET_SECONDS": offset},
                workdir,
                ids[i::2],
            )
            replicas[name].start()
        yield replicas
    finally:
        for r in replicas.values():
            r.stop()
            r.proxy.close()


def lease(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    result = kubectl.run("get", "lease", LEASE, "-n", namespace, "-o", "json", check=False)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def holder_pid(kubectl: Kubectl, namespace: str) -> int | None:
    holder = (lease(kubectl, namespace).get("spec") or {}).get("holderIdentity") or ""
    return int(holder.rsplit("-", 1)[1]) if "-" in holder else None


def leader_of(kubectl: Kubectl, namespace: str, replicas: dict[str, Replica]) -> Replica | None:
    pid = holder_pid(kubectl, namespace)
    return next((r for r in replicas.values() if not r.exited() and r.pid == pid), None)


class RequestLog:
    """Every ARM request of our principals, collected from the simulator's bounded recent list."""

    def __init__(self, simulator: SimulatorHandle, principals: set[str], world: World) -> None:
        self.simulator, self.principals = simulator, principals
        self.groups = (world.images_rg.lower(), world.batch_rg.lower())
        self.seen: set[tuple[str, str, str, str]] = set()
        self.by_principal: dict[str, list[float]] = {}

    def poll(self) -> None:
        for r in self.simulator.admin.requests()["recent"]:
            key = (r["time"], r["principal"], r["method"], r["path"])
            if r["principal"] not in self.principals or key in self.seen:
                continue
            if not any(f"/resourcegroups/{g}/" in r["path"].lower() for g in self.groups):
                continue
            self.seen.add(key)
            t = datetime.fromisoformat(r["time"].replace("0Z", "+00:00")).timestamp()
            self.by_principal.setdefault(r["principal"], []).append(t)

    def acting(self, principal: str) -> Callable[[], bool]:
        """A condition for wait_until: `principal` has made an ARM call."""

        def check() -> bool:
            self.poll()
            return self.first(principal) is not None

        return check

    def first(self, principal: str) -> float | None:
        times = self.by_principal.get(principal)
        return min(times) if times else None

    def span(self, principal: str) -> tuple[float, float] | None:
        times = self.by_principal.get(principal)
        return (min(times), max(times)) if times else None


def overlap_seconds(spans: dict[str, tuple[float, float]]) -> float:
    items = sorted(spans.values())
    total = 0.0
    for i, (s1, e1) in enumerate(items):
        for s2, e2 in items[i + 1 :]:
            total += max(0.0, min(e1, e2) - max(s1, s2))
    return total


def apply_workload(kubectl: Kubectl, world: World, pools: int = 3) -> None:
    kubectl.apply(image_manifest(world))
    for i in range(pools):
        kubectl.apply(pool_manifest(world, name=f"pool{i}", nodes=1))
    for i in range(pools):
        wait_condition(kubectl, "batchpool", world.namespace, f"pool{i}", "Ready", timeout=150)


# ------------------------------------------------------------------------------------------ tests
def test_apiserver_outage_leader_stops_acting_within_its_renew_deadline_and_a_leader_resumes(
    kubectl: Kubectl, control_plane: ControlPlane, simulator: SimulatorHandle, world: World, tmp_path: Path
) -> None:
    ns = world.namespace
    with two_replicas(control_plane, simulator, world, tmp_path, 8) as replicas:
        processes.wait_until(lambda: leader_of(kubectl, ns, replicas) is not None, 60, "a leader")
        apply_workload(kubectl, world, pools=2)
        leader = leader_of(kubectl, ns, replicas)
        assert leader is not None
        log = RequestLog(
            simulator, {p for r in replicas.values() for p in [*r.principals, r.principal]}, world
        )
        old_principal = leader.principal
        lease_s, renew_s = (
            float(TIMING["AZBATCH_LEADER_LEASE_SECONDS"]),
            float(TIMING["AZBATCH_LEADER_RENEW_DEADLINE_SECONDS"]),
        )
        log.poll()
        stopped_at = time.monotonic()
        sim_stopped_at = max(log.by_principal[old_principal])
        control_plane.stop_apiserver()
        try:
            processes.wait_until(leader.exited, 2 * lease_s + 10, "the leader steps down")
            stepped_down_after = time.monotonic() - stopped_at
            log.poll()
            # It stopped acting (no ARM call) within its renew deadline of the outage's start
            # (the simulator's clock runs TIME_SCALE times faster).
            last_act = max(log.by_principal[old_principal])
            assert (last_act - sim_stopped_at) / TIME_SCALE <= renew_s + 0.3
            remaining = 2 * lease_s - (time.monotonic() - stopped_at)
            if remaining > 0:
                time.sleep(remaining)  # the outage lasts twice the lease duration, by design
        finally:
            control_plane.start_apiserver()
        print(f"leader stepped down {stepped_down_after:.1f}s into the outage (renew deadline {renew_s}s)")
        for r in replicas.values():
            if r.exited():
                r.start()
        processes.wait_until(lambda: leader_of(kubectl, ns, replicas) is not None, 60, "a leader again")
        patch_fixed_scale(kubectl, ns, "pool0", targetDedicatedNodes=2)
        wait_for(kubectl, "batchpool", ns, "pool0", "{.status.currentDedicatedNodes}", "2", timeout=120)
        log.poll()
        spans = {p: s for p in log.by_principal if (s := log.span(p)) is not None}
        assert overlap_seconds(spans) == 0.0


@pytest.mark.campaign
def test_campaign_20_takeovers_with_clocks_60s_apart_never_two_acting(
    kubectl: Kubectl, control_plane: ControlPlane, simulator: SimulatorHandle, world: World, tmp_path: Path
) -> None:
    """Replica a's election clock runs 60 s ahead of b's. The leader is killed, partitioned from
    the apiserver, or stopped cleanly, in turn, 20 times; the stopped slot is restarted as a
    standby. Overlap = total time two processes' ARM activity spans intersect (0 required);
    takeover = the gap from the old leader's last ARM call to the new leader's first."""
    ns = world.namespace
    faults = ["kill", "partition", "term"]
    takeovers: list[float] = []
    unplanned = 0
    deadline = time.monotonic() + 170
    with two_replicas(control_plane, simulator, world, tmp_path, 48) as replicas:
        processes.wait_until(lambda: leader_of(kubectl, ns, replicas) is not None, 60, "a leader")
        apply_workload(kubectl, world)
        everyone = {p for r in replicas.values() for p in [*r.principals, r.principal]}
        log = RequestLog(simulator, everyone, world)
        for n in range(20):
            assert time.monotonic() < deadline, f"campaign over its time budget after {n} takeovers"
            for r in replicas.values():
                if r.exited():  # stepped down on its own (a slow apiserver): the Deployment restarts it
                    unplanned += 1
                    r.start()
            processes.wait_until(lambda: leader_of(kubectl, ns, replicas) is not None, 30, "a live leader")
            leader = leader_of(kubectl, ns, replicas)
            assert leader is not None
            standby = next(r for r in replicas.values() if r is not leader)
            assert standby.operator is not None
            processes.wait_until(standby.operator.alive, 60, "standby")
            processes.wait_until(log.acting(leader.principal), 30, "leader acting")
            fault = faults[n % len(faults)]
            log.poll()
            if fault == "kill":
                leader.operator.kill()  # type: ignore[union-attr]
            elif fault == "term":
                os.kill(leader.pid, signal.SIGTERM)
            else:
                leader.proxy.partition()
            processes.wait_until(log.acting(standby.principal), 30, "new leader acting")
            first, old = log.first(standby.principal), log.span(leader.principal)
            assert first is not None
            assert old is not None
            # Takeover: from the old leader's last ARM call to the new one's first (simulator
            # clock, TIME_SCALE simulated seconds per real one).
            takeovers.append((first - old[1]) / TIME_SCALE)
            if fault == "partition":
                processes.wait_until(leader.exited, 30, "the partitioned leader steps down")
                leader.proxy.heal()
            else:
                processes.wait_until(leader.exited, 30, "the old leader is gone")
            leader.start()
        log.poll()
        spans = {p: s for p in log.by_principal if (s := log.span(p)) is not None}
    overlap = overlap_seconds(spans) / TIME_SCALE
    print(
        f"takeovers: {len(takeovers)}, median {statistics.median(takeovers):.2f}s, "
        f"max {max(takeovers):.2f}s; overlap {overlap:.3f}s over {len(spans)} leadership terms; "
        f"{unplanned} unplanned step-downs"
    )
    assert len(spans) >= 21
    assert overlap == 0.0


def test_connection_errors_on_the_lease_never_kill_the_election(
    kubectl: Kubectl, control_plane: ControlPlane, simulator: SimulatorHandle, world: World, tmp_path: Path
) -> None:
    """A replica whose apiserver connection is cut again and again (resets, refusals) keeps its
    election running (liveness stays 200) and leads once the connection holds."""
    ns = world.namespace
    with two_replicas(control_plane, simulator, world, tmp_path, 4) as replicas:
        a = replicas["a"]
        replicas["b"].stop()
        processes.wait_until(lambda: leader_of(kubectl, ns, replicas) is a, 60, "a leads")
        replicas["a"].stop()
        a.start()  # a fresh standby-to-be, with a flapping connection from the start
        assert a.operator is not None
        for _ in range(15):
            a.proxy.partition()
            time.sleep(0.4)
            assert a.operator.alive(), "liveness answers while the Lease is unreachable"
            a.proxy.heal()
            time.sleep(0.2)
        assert not a.exited()
        processes.wait_until(lambda: leader_of(kubectl, ns, replicas) is a, 60, "a leads again")
        text = a.operator.log_file.read_text(errors="replace")
        assert "Lease request failed" in text
        assert "leader election crashed" not in text


def test_ha_overlay_lease_rbac_works_with_the_service_accounts_own_identity(
    kubectl: Kubectl, control_plane: ControlPlane, simulator: SimulatorHandle, world: World, tmp_path: Path
) -> None:
    """`kubectl apply -k deploy/overlays/ha`, then the operator authenticated as the ServiceAccount
    (a TokenRequest token, not admin) creates, renews and releases the Lease in azbatch-system."""
    kubectl.run("apply", "-k", str(REPO / "deploy" / "overlays" / "ha"))
    docs = rendered(REPO / "deploy" / "overlays" / "ha")
    config = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    assert config["AZBATCH_LEADER_ELECTION"] == "true"
    grant(kubectl, f"{world.namespace}-scan", NAMESPACE_SCAN_RULES, "azbatch-system", "azbatch-operator")
    kubectl.run("delete", "lease", LEASE, "-n", "azbatch-system", check=False)
    token = kubectl.run("create", "token", "azbatch-operator", "-n", "azbatch-system", "--duration=1h").stdout
    kc = control_plane.kubeconfig_dict()
    kc["users"] = [{"name": "sa", "user": {"token": token.strip()}}]
    kc["contexts"] = [
        {"name": "local", "context": {"cluster": "local", "user": "sa", "namespace": "azbatch-system"}}
    ]
    path = tmp_path / "kubeconfig-sa"
    path.write_text(yaml.safe_dump(kc))
    env = {
        **simulator.env(),
        **OPERATOR_ENV,
        **{k: v for k, v in config.items() if k.startswith("AZBATCH_LEADER")},
        **TIMING,
    }
    operator = Operator(path, env=env, log_file=tmp_path / "operator.log", namespaces=[world.namespace])
    operator.start()
    try:
        processes.wait_until(
            lambda: (
                (holder_pid(kubectl, "azbatch-system") or 0) == (operator.proc.pid if operator.proc else -1)
            ),
            60,
            "the ServiceAccount holds the Lease",
        )
        kubectl.apply(image_manifest(world))
        wait_condition(kubectl, "managedimage", world.namespace, "img", "Ready", timeout=120)
        renewed = lease(kubectl, "azbatch-system")["metadata"]["resourceVersion"]
        processes.wait_until(
            lambda: lease(kubectl, "azbatch-system")["metadata"]["resourceVersion"] != renewed,
            30,
            "a renewal",
        )
    finally:
        operator.terminate()
        kubectl.run("delete", "clusterrolebinding,clusterrole", f"{world.namespace}-scan", check=False)
    assert (lease(kubectl, "azbatch-system")["spec"].get("holderIdentity") or "") == "", "released on exit"
    text = (tmp_path / "operator.log").read_text(errors="replace")
    assert "refused" not in text, text[-3000:]
    assert "Forbidden" not in text
