"""The operator's OCI image (`make image`) runs the operator: podman, host network, the local
control plane and simulator, until a ManagedImage and a BatchPool on it are Ready.

The container gets what the Helm chart's pod gets: a read-only root file system, user 65532, no
capabilities, settings from the environment. podman runs it with runc: on this sandbox crun fails
("cgroups in hybrid mode not supported"), and both runtimes need rlimits no higher than the
caller's hard limits (the sandbox has no CAP_SYS_RESOURCE), hence the explicit --ulimit.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from azbatch_operator.devtools import processes
from azbatch_operator.devtools.controlplane import ControlPlane
from tests.e2e.conftest import OPERATOR_ENV, SimulatorHandle, World, wait_condition
from tests.e2e.test_smoke_flow import image_manifest, pool_manifest
from tests.kube import Kubectl

pytestmark = pytest.mark.isolated

REPO = Path(__file__).resolve().parents[2]
VERSION = next(
    line.split('"')[1]
    for line in (REPO / "pyproject.toml").read_text().splitlines()
    if line.startswith("version")
)
IMAGE = f"localhost/azbatch-operator:{VERSION}"
PODMAN = shutil.which("podman") or "podman"


def podman(*args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def run_args() -> list[str]:
    """How this machine lets podman start a container (see the module docstring)."""
    files = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # podman's own default for processes (32768); asking for the shell's hard limit is refused too.
    procs = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 32768)
    return [
        "--runtime=runc",
        f"--ulimit=nofile={files}:{files}",
        f"--ulimit=nproc={procs}:{procs}",
        "--network=host",
        "--read-only",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
    ]


@pytest.fixture(scope="module")
def image() -> str:
    assert shutil.which(PODMAN), "podman is missing: `make image` installs it"
    found = podman("image", "exists", IMAGE, check=False)
    assert found.returncode == 0, f"{IMAGE} is not built: run `make image`"
    return IMAGE


def test_image_runs_as_non_root_with_the_pinned_dependencies(image: str) -> None:
    config = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "65532:65532"
    out = podman(
        "run",
        "--rm",
        *run_args(),
        image,
        "python",
        "-c",
        "import os, importlib.metadata as m; "
        "print(os.getuid(), os.getgid(), m.version('kopf'), m.version('azure-mgmt-batch'))",
    ).stdout.split()
    pins = dict(
        line.split("==")
        for line in (REPO / "deploy" / "constraints.txt").read_text().splitlines()
        if "==" in line
    )
    assert out == ["65532", "65532", pins["kopf"], pins["azure-mgmt-batch"]]
    # Nothing from the test or dev extras ships in the image.
    absent = podman("run", "--rm", *run_args(), image, "python", "-c", "import pytest", check=False)
    assert absent.returncode != 0


@pytest.fixture
def container(
    image: str,
    control_plane: ControlPlane,
    simulator: SimulatorHandle,
    namespace: str,
    tmp_path: Path,
) -> Iterator[tuple[str, int, Path, subprocess.Popen[bytes]]]:
    """The operator in a container, serving `namespace`; yields (name, liveness port, log, podman)."""
    # Files the container user (65532) can read: the kubeconfig and the simulator's CA.
    mounts = tmp_path / "mounts"
    mounts.mkdir()
    mounts.chmod(0o755)
    kubeconfig = mounts / "kubeconfig"
    shutil.copy(control_plane.kubeconfig, kubeconfig)
    ca = mounts / "ca.pem"
    shutil.copy(simulator.process.ca_file, ca)
    for path in (kubeconfig, ca):
        path.chmod(0o644)
    env = {**simulator.env(), **OPERATOR_ENV, "KUBECONFIG": "/etc/azbatch/kubeconfig"}
    env = {
        key: "/etc/azbatch/ca.pem" if value == simulator.process.ca_file else value
        for key, value in env.items()
    }
    port = processes.free_port()
    name = f"azbatch-test-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "container.log"
    argv = [
        PODMAN,
        "run",
        "--rm",
        f"--name={name}",
        *run_args(),
        f"--volume={kubeconfig}:/etc/azbatch/kubeconfig:ro",
        f"--volume={ca}:/etc/azbatch/ca.pem:ro",
        *(f"--env={key}={value}" for key, value in env.items()),
        image,
        "kopf",
        "run",
        f"--namespace={namespace}",
        "--standalone",
        f"--liveness=http://127.0.0.1:{port}/healthz",
        "-m",
        "azbatch_operator",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield name, port, log, proc
    finally:
        podman("stop", "--time=20", name, check=False, timeout=60)
        try:
            proc.wait(timeout=60)
        finally:
            podman("rm", "--force", "--ignore", name, check=False)
            print(f"--- container log: {log}")


def _alive(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def test_the_image_reconciles_a_pool_to_ready(
    container: tuple[str, int, Path, subprocess.Popen[bytes]],
    kubectl: Kubectl,
    simulator: SimulatorHandle,
    world: World,
) -> None:
    name, port, log, proc = container
    processes.wait_until(lambda: _alive(port), 90, "operator container", lambda: proc.poll() is None, log)
    kubectl.apply(image_manifest(world))
    kubectl.apply(pool_manifest(world, nodes=4))
    wait_condition(kubectl, "managedimage", world.namespace, "img", "Ready", timeout=180)
    pool = wait_condition(kubectl, "batchpool", world.namespace, "pool", "Ready", timeout=180)
    assert pool["status"]["currentDedicatedNodes"] == 4
    assert simulator.admin.resource(world.pool_id("pool")) is not None
    # The operator wrote its state only where the pod spec allows: the root file system is read-only.
    touched = podman("exec", name, "sh", "-c", "touch /opt/venv/x 2>&1; id -u", check=False).stdout
    assert "Read-only file system" in touched
    assert touched.strip().endswith("65532")
    stopped = podman("stop", "--time=20", name, timeout=60)
    assert stopped.returncode == 0
    text = log.read_text(errors="replace")
    assert "azbatch-operator configured" in text
    assert "Traceback" not in text
