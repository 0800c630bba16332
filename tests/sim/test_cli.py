"""The CLI as end-to-end tests use it: a subprocess, ready.json, the admin client, SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from azuresim.admin import AdminClient, wait_ready
from tests.sim.conftest import ACCOUNT_ID, CLIENT, SECRET, SIMULATOR_SRC, SUB, TENANT, world

pytestmark = pytest.mark.sim


def test_serve_env_and_admin(tmp_path: Path) -> None:
    seed = tmp_path / "world.yaml"
    seed.write_text(yaml.safe_dump(world()))
    state = tmp_path / "state"
    env = {**os.environ, "PYTHONPATH": str(SIMULATOR_SRC)}
    cmd = [
        sys.executable,
        "-m",
        "azuresim",
        "serve",
        "--port",
        "0",
        "--seed",
        str(seed),
        "--time-scale",
        "60",
        "--state-dir",
        str(state),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        ready = wait_ready(state, 30)
        assert line == f"azuresim ready {ready['url']}"
        assert ready["pid"] == proc.pid
        assert Path(ready["caFile"]).read_text().startswith("-----BEGIN CERTIFICATE-----")
        admin = AdminClient(ready["url"], ready["caFile"])
        assert admin.health()
        accounts = admin.resources("Microsoft.Batch/batchAccounts")
        assert [a["id"] for a in accounts] == [ACCOUNT_ID]
        admin.patch_resource(ACCOUNT_ID, {"dedicatedCoreQuota": 8})
        assert admin.resource(ACCOUNT_ID)["properties"]["dedicatedCoreQuota"] == 8  # type: ignore[index]
        assert admin.clock(time_scale=120)["timeScale"] == 120
        fault = admin.faults({"pathRegex": "/pools/", "status": 500, "rate": 0.5})[0]
        assert fault["rate"] == 0.5
        admin.clear_faults()
        assert admin.requests()["total"] == 0
        out = subprocess.run(
            [sys.executable, "-m", "azuresim", "env", "--state-dir", str(state), "--seed", str(seed)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        values = dict(line.split("=", 1) for line in out.stdout.splitlines())
        live = subprocess.run(
            [sys.executable, "-m", "azuresim", "env", "--state-dir", str(state)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert dict(line.split("=", 1) for line in live.stdout.splitlines()) == values
        assert admin.env() == values
        assert values == {
            "AZURE_TENANT_ID": TENANT,
            "AZURE_CLIENT_ID": CLIENT,
            "AZURE_CLIENT_SECRET": SECRET,
            "AZURE_SUBSCRIPTION_ID": SUB,
            "AZURE_AUTHORITY_HOST": ready["url"],
            "AZURE_RESOURCE_MANAGER_ENDPOINT": ready["url"],
            "SSL_CERT_FILE": ready["caFile"],
            "REQUESTS_CA_BUNDLE": ready["caFile"],
        }
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    assert not (state / "ready.json").exists()
