"""deploy/monitoring: the alerts pass promtool's checks and unit tests, and the alerts and the
Grafana dashboard read only series the operator exports."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from azbatch_operator import metrics

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "deploy" / "monitoring"
PROMTOOL = REPO / "bin" / "promtool"
RULE_FILE = "azbatch-operator.rules.yaml"


def _spec() -> dict[str, Any]:
    spec: dict[str, Any] = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())["spec"]
    return spec


def _alerts() -> list[dict[str, Any]]:
    return [rule for group in _spec()["groups"] for rule in group["rules"] if "alert" in rule]


def _promtool(workdir: Path, spec: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL.exists(), f"{PROMTOOL} is missing: run `make bin/promtool`"
    (workdir / RULE_FILE).write_text(yaml.safe_dump(spec, sort_keys=False))
    (workdir / "alerts.test.yaml").write_text((MONITORING / "alerts.test.yaml").read_text())
    return subprocess.run(
        [str(PROMTOOL), *args], cwd=workdir, capture_output=True, text=True, timeout=120, check=False
    )


def test_promtool_accepts_the_rules(tmp_path: Path) -> None:
    result = _promtool(tmp_path, _spec(), "check", "rules", RULE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(_alerts())} rules found" in result.stdout


def test_promtool_unit_tests_pass(tmp_path: Path) -> None:
    result = _promtool(tmp_path, _spec(), "test", "rules", "alerts.test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_unit_tests_catch_a_wrong_pending_period(tmp_path: Path) -> None:
    """Firing Stalled alerts after 1 minute instead of 15 must fail the tests."""
    spec = _spec()
    for rule in spec["groups"][0]["rules"]:
        if rule.get("alert") == "AzbatchObjectStalled":
            rule["for"] = "1m"
    result = _promtool(tmp_path, spec, "test", "rules", "alerts.test.yaml")
    assert result.returncode != 0
    assert "alertname: AzbatchObjectStalled" in result.stdout + result.stderr


def test_every_alert_is_tested_firing() -> None:
    tests = yaml.safe_load((MONITORING / "alerts.test.yaml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    assert {rule["alert"] for rule in _alerts()} <= fired


def _exported_series() -> set[str]:
    names: set[str] = set()
    for collector in vars(metrics).values():
        if collector.__class__.__module__.startswith("prometheus_client") and hasattr(collector, "describe"):
            for family in collector.describe():
                names.add(family.name)
                names.update(family.name + suffix for suffix in ("_total", "_bucket", "_sum", "_count"))
    return names


def _referenced(expr: str) -> set[str]:
    return set(re.findall(r"\b(azbatch_[a-z_]+)\b", expr))


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    exprs += [var["definition"] for var in dashboard["templating"]["list"] if var.get("definition")]
    return exprs


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_queries_use_only_metrics_the_operator_exports(source: str) -> None:
    exprs = [rule["expr"] for rule in _alerts()] if source == "alerts" else _dashboard_exprs()
    used = set().union(*(_referenced(e) for e in exprs))
    assert used, "no azbatch_* series referenced"
    assert used <= _exported_series(), (
        f"not exported by azbatch_operator.metrics: {used - _exported_series()}"
    )


def test_dashboard_shows_what_operators_ask_for() -> None:
    text = " ".join(_dashboard_exprs())
    for series in (
        "azbatch_object_condition",
        "azbatch_pool_nodes",
        "azbatch_pool_resize_attempts",
        "azbatch_azure_requests_total",
        "azbatch_azure_throttled_total",
        "azbatch_reconcile_duration_seconds_bucket",
        "azbatch_leader",
    ):
        assert series in text


def test_condition_series_follow_the_objects_reason() -> None:
    """One series per object and condition type: a new reason replaces the old one, and a deleted
    object leaves none behind (a stale Stalled series would keep an alert firing)."""

    def series() -> dict[tuple[str, ...], float]:
        return {
            (s.labels["type"], s.labels["reason"]): s.value
            for family in metrics.OBJECT_CONDITION.collect()
            for s in family.samples
            if s.labels["namespace"] == "ns-metrics" and s.labels["name"] == "p"
        }

    metrics.set_conditions(
        "batchpools", "ns-metrics", "p", [{"type": "Stalled", "status": "True", "reason": "QuotaExceeded"}]
    )
    assert series() == {("Stalled", "QuotaExceeded"): 1.0}
    metrics.set_conditions(
        "batchpools",
        "ns-metrics",
        "p",
        [
            {"type": "Stalled", "status": "False", "reason": "Succeeded"},
            {"type": "Ready", "status": "True", "reason": "Succeeded"},
            {"type": "Other", "status": "True", "reason": "Ignored"},
        ],
    )
    assert series() == {("Stalled", "Succeeded"): 0.0, ("Ready", "Succeeded"): 1.0}
    metrics.forget_pool("ns-metrics", "p")
    assert series() == {}


def test_leader_gauge_reads_leadership_at_scrape_time() -> None:
    leading = [False]
    metrics.track_leadership(lambda: leading[0])
    assert REGISTRY.get_sample_value("azbatch_leader") == 0.0
    leading[0] = True
    assert REGISTRY.get_sample_value("azbatch_leader") == 1.0
