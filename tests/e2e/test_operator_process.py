"""The operator as a process: starts against a kubeconfig, answers liveness, stops on SIGTERM."""

from __future__ import annotations

from pathlib import Path

import pytest

from azbatch_operator.devtools.controlplane import ControlPlane
from azbatch_operator.devtools.stack import Operator

#: Its own empty iso-* namespace: other tests' objects (and Azure credentials) play no part here.
pytestmark = pytest.mark.isolated


def test_operator_starts_serves_liveness_and_stops_cleanly_on_sigterm(
    control_plane: ControlPlane, crds: list[str], namespace: str, tmp_path: Path
) -> None:
    operator = Operator(
        control_plane.kubeconfig, env={}, log_file=tmp_path / "operator.log", namespaces=[namespace]
    )
    operator.start()
    try:
        assert operator.alive()
        code = operator.terminate(timeout=30)
    finally:
        operator.stop()
    log = (tmp_path / "operator.log").read_text()
    assert code == 0, log
    assert "azbatch-operator configured" in log
    assert "Traceback" not in log
