"""The measurements. Each returns a JSON-able dict; __main__ prints them as tables."""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

from azbatch_operator.settings import Settings
from bench import procstat
from bench.stack import GALLERY_VERSION, Stack, apply_all, pool_manifest

#: ARM's per-subscription read budget (token bucket 250, refill 25/s).
ARM_READS_PER_HOUR = 25 * 3600
#: Pause before every timed run: the simulator's throttling buckets (reads 250 @ 25/s, writes 200 @ 10/s)
#: refill in real time, so each run (operator or direct) starts with full buckets.
REFILL_SECONDS = 20.0


def spread(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": len(values),
    }


def _requests(stack: Stack) -> dict[str, Any]:
    summary = stack.admin.requests()
    return {
        "total": summary["total"],
        "byOperation": summary["byOperation"],
        "byMethod": summary["byMethod"],
        "byStatus": summary["byStatus"],
        "entries": summary["entries"],
    }


def convergence(stack: Stack, pools: int, repeats: int, label: str = "") -> dict[str, Any]:
    """`pools` BatchPools applied at once on a ready gallery image -> seconds until all Ready."""
    runs = []
    for r in range(repeats):
        ns = stack.namespace(f"conv{label}-{pools}-{r}")
        account = stack.new_account("conv", pools)
        op = stack.operator(ns, stack.workdir / f"operator-{ns}.log")
        assert op.proc is not None
        try:
            docs = [pool_manifest(ns, f"p{i:05d}", account) for i in range(pools)]
            time.sleep(REFILL_SECONDS)  # ARM's read/write buckets full again: runs do not tax each other
            before = procstat.read(op.proc.pid)
            stack.admin.reset_requests()
            start = time.monotonic()
            apply_all(stack, docs, stack.workdir / f"{ns}.yaml")
            applied = time.monotonic() - start
            stack.wait_all_ready(ns, pools, timeout=1800)
            seconds = time.monotonic() - start
            after = procstat.read(op.proc.pid)
            reqs = _requests(stack)
        finally:
            op.stop()
        runs.append(
            {
                "seconds": seconds,
                "applySeconds": applied,
                "operatorPeakRssMiB": after.peak_rss_mib,
                "operatorCpuSeconds": after.cpu_seconds - before.cpu_seconds,
                "requests": reqs,
                "requestsPerPool": reqs["total"] / pools,
            }
        )
        print(f"  convergence {pools}: run {r + 1}/{repeats}: {seconds:.1f} s", flush=True)
    return {
        "pools": pools,
        "seconds": spread([run["seconds"] for run in runs]),
        "applySeconds": spread([run["applySeconds"] for run in runs]),
        "operatorPeakRssMiB": spread([run["operatorPeakRssMiB"] for run in runs]),
        "operatorCpuSeconds": spread([run["operatorCpuSeconds"] for run in runs]),
        "requestsPerPool": spread([run["requestsPerPool"] for run in runs]),
        "runs": runs,
    }


def direct(stack: Stack, pools: int, repeats: int) -> dict[str, Any]:
    """The same pools through azure-mgmt-batch `.aio` from a plain asyncio script (bench/direct.py)."""
    runs = []
    for r in range(repeats):
        account = stack.new_account("direct", pools)
        time.sleep(REFILL_SECONDS)
        stack.admin.reset_requests()
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.direct",
                "--account-id",
                account,
                "--image",
                GALLERY_VERSION,
                "--pools",
                str(pools),
                "--poll",
                "1",
            ],
            env={**os.environ, **stack.sim.env()},
            capture_output=True,
            text=True,
            timeout=1800,
            check=True,
        )
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        seconds = float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
        reqs = _requests(stack)
        cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
        runs.append(
            {
                "seconds": seconds,
                "cpuSeconds": cpu,
                "requests": reqs,
                "requestsPerPool": reqs["total"] / pools,
            }
        )
        print(f"  direct {pools}: run {r + 1}/{repeats}: {seconds:.1f} s", flush=True)
    return {
        "pools": pools,
        "seconds": spread([run["seconds"] for run in runs]),
        "cpuSeconds": spread([run["cpuSeconds"] for run in runs]),
        "requestsPerPool": spread([run["requestsPerPool"] for run in runs]),
        "runs": runs,
    }


#: The operator's own defaults (settings.py) where OPERATOR_ENV speeds the convergence runs up: the
#: idle, steady, drift and restart figures are measured as a user would run it.
DEFAULTS_ENV = {
    "AZBATCH_POLL_FAST_SECONDS": "15",
    "AZBATCH_RETRY_BASE_SECONDS": "5",
    "AZBATCH_RETRY_MAX_SECONDS": "300",
    "AZBATCH_CREATE_GRACE_SECONDS": "120",
}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _reconcile_passes(port: int) -> float:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith('azbatch_reconcile_duration_seconds_count{kind="batchpools"}'):
            return float(line.split()[-1])
    return 0.0


#: Request counts that are not ARM's budget: the Batch data plane, and Entra ID (token requests
#: are POSTs, one per audience when a process starts, and would otherwise count as writes).
NOT_ARM = ("Batch.", "Entra_")


def _arm(reqs: dict[str, Any]) -> tuple[int, int]:
    """(ARM reads, ARM writes) from the simulator's counters."""
    arm = [e for e in reqs["entries"] if not str(e["operation"]).startswith(NOT_ARM)]
    reads = sum(int(e["count"]) for e in arm if e["method"] == "GET")
    return reads, sum(int(e["count"]) for e in arm) - reads


def _not_arm(reqs: dict[str, Any]) -> dict[str, int]:
    """The requests ``_arm`` leaves out, by operation (shown beside the ARM figures)."""
    return {str(op): int(n) for op, n in reqs["byOperation"].items() if str(op).startswith(NOT_ARM)}


def fleet_at_defaults(stack: Stack, pools: int, window: float, drift: bool, restart: bool) -> dict[str, Any]:
    """`pools` Ready BatchPools on one account, operator at its defaults: idle CPU and RSS, steady
    ARM reads per pool-hour over `window` real seconds, then (optionally) an out-of-band resize
    corrected, and an operator restart re-confirming every pool."""
    ns = stack.namespace(f"fleet-{pools}")
    account = stack.new_account("fleet", pools)
    port = _free_port()
    env = {**DEFAULTS_ENV, "AZBATCH_METRICS_PORT": str(port)}
    op = stack.operator(ns, stack.workdir / f"operator-{ns}.log", **env)
    # Every pool is on the one seeded image, and Azure counts custom-image nodes across its pools: at 2
    # nodes each a 5,000-pool fleet would ask 10,000 of the image's 2,500 and 3,750 pools would stay
    # (rightly) Stalled ImageNodeLimitExceeded. Such a fleet asks 0 nodes per pool instead.
    nodes = 2 if 2 * pools <= Settings().image_max_dedicated_nodes else 0
    out: dict[str, Any] = {"pools": pools, "accounts": 1, "windowSeconds": window, "nodesPerPool": nodes}
    try:
        docs = [pool_manifest(ns, f"p{i:05d}", account, dedicated=nodes) for i in range(pools)]
        apply_all(stack, docs, stack.workdir / "f.yaml")
        stack.wait_all_ready(ns, pools, timeout=1800)
        time.sleep(30)  # the last status writes and node-count reads of the convergence settle
        assert op.proc is not None
        before = procstat.read(op.proc.pid)
        stack.admin.reset_requests()
        time.sleep(window)
        after = procstat.read(op.proc.pid)
        reqs = _requests(stack)
        reads, writes = _arm(reqs)
        data_plane = sum(n for op, n in _not_arm(reqs).items() if op.startswith("Batch."))
        out |= {
            "cpuPercentOfOneCore": 100 * (after.cpu_seconds - before.cpu_seconds) / window,
            "rssMiB": after.rss_mib,
            "readsPerPoolHour": reads / pools / window * 3600,
            "steadyReads": reads,
            "steadyWrites": writes,
            "dataPlaneRequestsPerHour": data_plane / window * 3600,
        }
        if drift:
            pool_id = f"{account}/pools/p00000"
            stack.admin.patch_resource(
                pool_id, {"scaleSettings": {"fixedScale": {"targetDedicatedNodes": 5}}}
            )
            start = time.monotonic()
            while time.monotonic() - start < 1200:
                found = stack.admin.resource(pool_id) or {}
                fixed = ((found.get("properties") or {}).get("scaleSettings") or {}).get("fixedScale") or {}
                if int(fixed.get("targetDedicatedNodes") or 0) == nodes:
                    break
                time.sleep(1)
            out["driftSecondsToCorrect"] = time.monotonic() - start
        if restart:
            op.stop()
            stack.admin.reset_requests()
            op = stack.operator(ns, stack.workdir / f"operator-{ns}-restart.log", **env)
            start = time.monotonic()
            while _reconcile_passes(port) < pools and time.monotonic() - start < 1800:
                time.sleep(0.5)
            seconds = time.monotonic() - start
            time.sleep(5)  # requests still in flight from the last passes
            reqs = _requests(stack)
            reads, writes = _arm(reqs)
            out["restart"] = {
                "pools": pools,
                "seconds": seconds,
                "armReads": reads,
                "armWrites": writes,
                "otherRequests": _not_arm(reqs),
            }
    finally:
        op.stop()
    return out
