"""deploy/argocd's health checks, run in a real Lua interpreter against the status the operator writes.

Argo CD evaluates `resource.customizations.health.<group>_<kind>` with `obj` set to the live
object and expects `{status, message}` back. Fixtures are built with the operator's own condition
constructors, so the scripts are checked against exactly what the operator writes.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from lupa import LuaRuntime

from azbatch_operator.reconcile import conditions
from azbatch_operator.reconcile.conditions import Reason
from tests.kube import KUBECTL

ARGOCD = Path(__file__).resolve().parents[2] / "deploy" / "argocd"
KINDS = ["ManagedImage", "BatchPool"]
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def script(kind: str) -> str:
    """One script serves both kinds: their status follows the same conventions."""
    del kind
    return (ARGOCD / "health.lua").read_text()


def health(kind: str, obj: dict[str, Any]) -> dict[str, str]:
    lua = LuaRuntime(unpack_returned_tuples=True)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script(kind))
    return {"status": result["status"], "message": result["message"]}


def body(
    kind: str,
    conds: list[conditions.Condition] | None,
    generation: int = 1,
    observed: int | None = 1,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "azbatch.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "ns", "generation": generation},
        "spec": {},
    }
    if conds is not None:
        obj["status"] = {"conditions": conds}
        if observed is not None:
            obj["status"]["observedGeneration"] = observed
    return obj


@pytest.mark.parametrize("kind", KINDS)
def test_ready_and_observed_is_healthy(kind: str) -> None:
    result = health(kind, body(kind, conditions.ready(1, NOW, message="pool is steady at 10 nodes")))
    assert result == {"status": "Healthy", "message": "pool is steady at 10 nodes"}


@pytest.mark.parametrize("kind", KINDS)
def test_no_status_yet_is_progressing(kind: str) -> None:
    assert health(kind, body(kind, None))["status"] == "Progressing"
    assert health(kind, body(kind, [], observed=None))["status"] == "Progressing"


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reason", [Reason.CREATING, Reason.RESIZING, Reason.THROTTLED, Reason.DELETING])
def test_reconciling_is_progressing_with_its_message(kind: str, reason: Reason) -> None:
    conds = conditions.progressing(1, NOW, reason, f"working: {reason}")
    assert health(kind, body(kind, conds)) == {"status": "Progressing", "message": f"working: {reason}"}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reason", list(Reason))
def test_stalled_is_degraded_for_every_reason(kind: str, reason: Reason) -> None:
    """Any reason may sit on Stalled (the script must not care which): Degraded, with its message."""
    message = f"{reason}: fix the spec or the Azure side, then the operator retries"
    result = health(kind, body(kind, conditions.stalled(1, NOW, reason, message)))
    assert result == {"status": "Degraded", "message": message}


@pytest.mark.parametrize("kind", KINDS)
def test_stalled_without_message_reports_the_reason(kind: str) -> None:
    conds = conditions.stalled(1, NOW, Reason.QUOTA_EXCEEDED, "")
    assert health(kind, body(kind, conds)) == {"status": "Degraded", "message": "QuotaExceeded"}


@pytest.mark.parametrize("kind", KINDS)
def test_ready_for_an_older_generation_is_progressing(kind: str) -> None:
    """A spec change the operator has not observed yet: the old Ready says nothing about it."""
    result = health(kind, body(kind, conditions.ready(1, NOW), generation=2, observed=1))
    assert result["status"] == "Progressing"
    assert "generation 2" in result["message"]


@pytest.mark.parametrize("kind", KINDS)
def test_stalled_for_an_older_generation_is_progressing(kind: str) -> None:
    """kstatus: a stale observedGeneration means in progress, e.g. the user just fixed the spec."""
    conds = conditions.stalled(1, NOW, Reason.INVALID_SPEC, "spec.vmSize is empty")
    assert health(kind, body(kind, conds, generation=2, observed=1))["status"] == "Progressing"


@pytest.mark.parametrize("kind", KINDS)
def test_observed_generation_falls_back_to_the_ready_condition(kind: str) -> None:
    conds = conditions.ready(3, NOW)
    assert health(kind, body(kind, conds, generation=3, observed=None))["status"] == "Healthy"
    assert health(kind, body(kind, conditions.ready(2, NOW), generation=3, observed=None))["status"] == (
        "Progressing"
    )


def test_argocd_cm_snippet_embeds_the_lua_files_verbatim() -> None:
    """health.lua is the single source: the argocd-cm snippet and the kustomization match it."""
    expected = {f"resource.customizations.health.azbatch.io_{kind}": script(kind) for kind in KINDS}
    snippet = yaml.safe_load((ARGOCD / "argocd-cm-patch.yaml").read_text())
    assert snippet["kind"] == "ConfigMap"
    assert snippet["metadata"]["name"] == "argocd-cm"
    assert snippet["data"] == expected
    rendered = subprocess.run(
        [KUBECTL, "kustomize", str(ARGOCD)], capture_output=True, text=True, check=True
    ).stdout
    assert yaml.safe_load(rendered) == snippet
