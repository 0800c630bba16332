"""Logging in to a real kube-apiserver the ways users do: exec plugins, rotated tokens, certificates.

The operator logs in through the official `kubernetes` client's configuration loading, so what
kubectl accepts it accepts. Each test runs its own operator on its own `iso-*` namespace with a
kubeconfig written here; the apiserver authenticates it exactly as it would in a cluster.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from azbatch_operator.devtools import processes
from azbatch_operator.devtools.controlplane import ControlPlane
from azbatch_operator.devtools.stack import Operator
from tests.e2e.conftest import (
    OPERATOR_ENV,
    SimulatorHandle,
    World,
    patch_fixed_scale,
    wait_condition,
    wait_for,
)
from tests.e2e.test_smoke_flow import image_manifest, pool_manifest
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated

#: Prints an ExecCredential (client.authentication.k8s.io/v1) with the token in TOKEN_FILE, valid
#: for LIFETIME seconds, and counts its runs: what kubelogin / aws-iam-authenticator do.
EXEC_PLUGIN = """
import datetime, json, os, pathlib, sys
info = json.loads(os.environ.get("KUBERNETES_EXEC_INFO", "{}"))
assert info.get("kind") == "ExecCredential", info
runs = pathlib.Path(os.environ["RUNS_FILE"])
runs.write_text(str(int(runs.read_text() or 0) + 1) if runs.exists() else "1")
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
    seconds=int(os.environ["LIFETIME"])
)
json.dump({
    "apiVersion": "client.authentication.k8s.io/v1",
    "kind": "ExecCredential",
    "status": {
        "token": pathlib.Path(os.environ["TOKEN_FILE"]).read_text().strip(),
        "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
    },
}, sys.stdout)
"""


def kubeconfig_with_user(control_plane: ControlPlane, user: dict[str, Any], path: Path) -> Path:
    config = control_plane.kubeconfig_dict()
    config["users"] = [{"name": "test-user", "user": user}]
    config["contexts"] = [{"name": "local", "context": {"cluster": "local", "user": "test-user"}}]
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


def admin_service_account(kubectl: Kubectl, namespace: str, name: str) -> str:
    """A ServiceAccount bound to cluster-admin, and a bound token for it (TokenRequest API)."""
    kubectl.run("create", "serviceaccount", name, "-n", namespace)
    kubectl.run(
        "create",
        "clusterrolebinding",
        f"{namespace}-{name}",
        "--clusterrole=cluster-admin",
        f"--serviceaccount={namespace}:{name}",
    )
    return kubectl.run("create", "token", name, "-n", namespace, "--duration=1h").stdout.strip()


def start(kubeconfig: Path, simulator: SimulatorHandle, namespace: str, log: Path, **env: str) -> Operator:
    operator = Operator(
        kubeconfig, env={**simulator.env(), **OPERATOR_ENV, **env}, log_file=log, namespaces=[namespace]
    )
    operator.start()
    return operator


def test_exec_plugin_user_reaches_ready_and_the_plugin_is_rerun_before_its_token_expires(
    kubectl: Kubectl, control_plane: ControlPlane, simulator: SimulatorHandle, world: World, tmp_path: Path
) -> None:
    ns = world.namespace
    token_file, runs = tmp_path / "token", tmp_path / "runs"
    token_file.write_text(admin_service_account(kubectl, ns, "exec-operator"))
    plugin = tmp_path / "plugin.py"
    plugin.write_text(EXEC_PLUGIN)
    env = [
        {"name": "TOKEN_FILE", "value": str(token_file)},
        {"name": "RUNS_FILE", "value": str(runs)},
        {"name": "LIFETIME", "value": "31"},  # re-run 30 s before expiry: stale after 1 s
    ]
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
            "env": env,
            "interactiveMode": "Never",
        }
    }
    kubeconfig = kubeconfig_with_user(control_plane, user, tmp_path / "kubeconfig-exec")
    whoami = Kubectl(kubeconfig).run("auth", "whoami")  # kubectl accepts the same kubeconfig
    assert f"system:serviceaccount:{ns}:exec-operator" in whoami.stdout
    runs.unlink()
    log = tmp_path / "operator.log"
    operator = start(kubeconfig, simulator, ns, log)
    try:
        kubectl.apply(image_manifest(world))
        kubectl.apply(pool_manifest(world, nodes=3))
        pool = wait_condition(kubectl, "batchpool", ns, "pool", "Ready", timeout=120)
        assert pool["status"]["currentDedicatedNodes"] == 3
        before = int(runs.read_text())
        patch_fixed_scale(kubectl, ns, "pool", targetDedicatedNodes=5)
        wait_for(kubectl, "batchpool", ns, "pool", "{.status.currentDedicatedNodes}", "5", timeout=120)
        assert int(runs.read_text()) > before, "the expiring token was refreshed by re-running the plugin"
    finally:
        operator.stop()
        kubectl.run("delete", "clusterrolebinding", f"{ns}-exec-operator", check=False)
    text = log.read_text(errors="replace")
    assert "exec-operator" in text or "test-user" in text, "the log names the login it used"
    assert token_file.read_text().strip() not in text, "no token in the log"
    assert "Traceback" not in text, text[-3000:]


def test_token_file_user_keeps_writing_status_after_its_token_is_rotated(
    kubectl: Kubectl, control_plane: ControlPlane, simulator: SimulatorHandle, world: World, tmp_path: Path
) -> None:
    """The token in the kubeconfig's `tokenFile` is replaced and the old one is removed from the
    apiserver's token file (then refused with 401): the same process re-reads the file and goes on."""
    ns = world.namespace
    old, new = f"old-{os.urandom(8).hex()}", f"new-{os.urandom(8).hex()}"
    groups = ["system:masters"]
    control_plane.set_static_tokens({old: ("rotating-operator", groups)})
    control_plane.restart_apiserver()
    token_file = tmp_path / "token"
    token_file.write_text(old)
    kubeconfig = kubeconfig_with_user(control_plane, {"tokenFile": str(token_file)}, tmp_path / "kc")
    log = tmp_path / "operator.log"
    operator = start(kubeconfig, simulator, ns, log)
    try:
        kubectl.apply(image_manifest(world))
        kubectl.apply(pool_manifest(world, nodes=2))
        wait_condition(kubectl, "batchpool", ns, "pool", "Ready", timeout=120)
        assert operator.proc is not None
        pid = operator.proc.pid
        # Rotate: the client's file first (as the kubelet does), then revoke the old token.
        token_file.write_text(new)
        control_plane.set_static_tokens({new: ("rotating-operator", groups)})
        control_plane.restart_apiserver()
        refused = Kubectl(kubeconfig_with_user(control_plane, {"token": old}, tmp_path / "kc-old"))
        assert refused.run("get", "ns", check=False).returncode != 0, "the old token is revoked"
        patch_fixed_scale(kubectl, ns, "pool", targetDedicatedNodes=4)
        obj = wait_for(kubectl, "batchpool", ns, "pool", "{.status.currentDedicatedNodes}", "4", timeout=120)
        assert obj["status"]["targetDedicatedNodes"] == 4
        assert operator.proc is not None
        assert operator.proc.pid == pid, "picked up without a restart"
    finally:
        operator.stop()
        control_plane.set_static_tokens({})
        control_plane.restart_apiserver()
    text = log.read_text(errors="replace")
    assert "credentials reloaded" in text
    assert old not in text
    assert new not in text
    assert "Traceback" not in text, text[-3000:]


def test_no_client_key_is_left_on_disk(
    kubectl: Kubectl, control_plane: ControlPlane, simulator: SimulatorHandle, world: World, tmp_path: Path
) -> None:
    """The admin kubeconfig carries `client-key-data` inline; neither while the operator runs nor
    after it was killed is the key in a file under its TMPDIR."""
    ns = world.namespace
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    log = tmp_path / "operator.log"
    operator = start(control_plane.kubeconfig, simulator, ns, log, TMPDIR=str(tmp))
    key = control_plane.admin.key_pem.strip().splitlines()[1]  # a line of the key's base64 body

    def files_with_key() -> list[str]:
        found = []
        for path in tmp.rglob("*"):
            if path.is_file() and key in path.read_bytes():
                found.append(str(path))
        return found

    try:
        kubectl.apply(image_manifest(world))
        wait_condition(kubectl, "managedimage", ns, "img", "Ready", timeout=120)
        assert files_with_key() == []
    finally:
        if operator.proc is not None:
            operator.kill()
    assert files_with_key() == []
    assert list(tmp.iterdir()) == [], [p.name for p in tmp.iterdir()]
    assert "Traceback" not in log.read_text(errors="replace")


def test_an_exec_plugin_that_fails_is_reported_without_starting_to_act(
    kubectl: Kubectl, control_plane: ControlPlane, simulator: SimulatorHandle, world: World, tmp_path: Path
) -> None:
    plugin = tmp_path / "broken.py"
    plugin.write_text("import sys\nsys.stderr.write('interactive login required\\n')\nsys.exit(1)\n")
    user = {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": sys.executable,
            "args": [str(plugin)],
            "interactiveMode": "Never",
        }
    }
    kubeconfig = kubeconfig_with_user(control_plane, user, tmp_path / "kubeconfig-broken")
    log = tmp_path / "operator.log"
    operator = Operator(
        kubeconfig, env={**simulator.env(), **OPERATOR_ENV}, log_file=log, namespaces=[world.namespace]
    )
    operator.start(wait_ready=False)
    try:
        processes.wait_until(lambda: "yielded no token" in log.read_text(), 60, "login error in the log")
        kubectl.apply(image_manifest(world))
        time.sleep(3)  # a short window in which an operator that acted would have added a finalizer
        obj = kubectl.json("get", "managedimage/img", "-n", world.namespace)
        assert not obj["metadata"].get("finalizers")
    finally:
        operator.stop()
    text = log.read_text(errors="replace")
    assert "interactive login required" in text, "the plugin's own message is shown"
    assert json.dumps("token") not in text
