"""A pass judges "changed" and "transition" against its own last write, not kopf's lagging body."""

from __future__ import annotations

from typing import Any

import pytest

from azbatch_operator.handlers import report
from azbatch_operator.reconcile import conditions

pytestmark = pytest.mark.unit


class FakeStatus:
    def __init__(self) -> None:
        self.patches: list[dict[str, Any]] = []

    async def patch_status(self, plural: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.patches.append(status)


class FakeRuntime:
    def __init__(self) -> None:
        self.status = FakeStatus()
        self.rejections: dict[tuple[str, str], float] = {}


def ready(reason: str) -> list[conditions.Condition]:
    when = "2026-12-01T00:00:00Z"
    return [
        {
            "type": t,
            "status": s,
            "reason": reason,
            "message": "m",
            "lastTransitionTime": when,
            "observedGeneration": 1,
        }
        for t, s in (("Ready", "True"), ("Reconciling", "False"), ("Stalled", "False"))
    ]


async def test_a_lagging_body_gets_no_second_patch_and_no_second_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    events: list[str] = []
    monkeypatch.setattr(report.kopf, "event", lambda body, type, reason, message: events.append(reason))
    monkeypatch.setattr(report.kopf, "warn", lambda body, reason, message: events.append(f"warn:{reason}"))
    rt, memo = FakeRuntime(), {}
    body: dict[str, Any] = {"metadata": {"namespace": "ns", "name": "p", "uid": "u1"}, "status": {}}
    fields = {"observedGeneration": 1, "poolId": "/x/pools/p"}
    await report.publish(rt, "batchpools", body, memo, ready("Succeeded"), fields)  # type: ignore[arg-type]
    assert len(rt.status.patches) == 1
    assert events == ["Succeeded"]
    # The next pass runs before kopf's watch delivered that write: the body still has no status.
    await report.publish(rt, "batchpools", body, memo, ready("Succeeded"), fields)  # type: ignore[arg-type]
    assert len(rt.status.patches) == 1, "the same status is not patched again"
    assert events == ["Succeeded"], "the transition is announced once"
    # A new object of the same name (another uid) starts from its own body.
    fresh = {"metadata": {"namespace": "ns", "name": "p", "uid": "u2"}, "status": {}}
    await report.publish(rt, "batchpools", fresh, memo, ready("Succeeded"), fields)  # type: ignore[arg-type]
    assert len(rt.status.patches) == 2
    assert events == ["Succeeded", "Succeeded"]
