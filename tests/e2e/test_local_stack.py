"""`make local-up` / `make local-down`: kubectl works against .local/kubeconfig, nothing is left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from azbatch_operator.devtools import processes
from tests.kube import Kubectl


def test_local_up_then_down_leaves_no_process(tmp_path: Path) -> None:
    local = tmp_path / "local"
    cmd = [sys.executable, "-m", "azbatch_operator.devtools.local"]
    up = subprocess.run([*cmd, "up", "--dir", str(local)], capture_output=True, text=True, timeout=180)
    pids = [int(p.read_text()) for p in local.glob("*.pid")]
    try:
        assert up.returncode == 0, up.stderr
        assert len(pids) == 3
        assert all(processes.pid_alive(pid) for pid in pids)
        nodes = Kubectl(local / "kubeconfig").json("get", "namespaces")
        assert "default" in {item["metadata"]["name"] for item in nodes["items"]}
        env = dict(line.split("=", 1) for line in (local / "azure.env").read_text().splitlines())
        assert env["AZURE_RESOURCE_MANAGER_ENDPOINT"].startswith("https://127.0.0.1:")
        assert Path(env["SSL_CERT_FILE"]).exists()
    finally:
        down = subprocess.run([*cmd, "down", "--dir", str(local)], capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert not any(processes.pid_alive(pid) for pid in pids)
    assert not list(local.glob("*.pid"))
