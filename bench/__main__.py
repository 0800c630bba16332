"""`make bench` / `python -m bench [--quick]`: every figure of bench/results/latest.json, measured in
one invocation on this machine, printed as tables.

Full run: convergence at 10, 100 and 1,000 pools (operator and bench/direct.py, n = 3 each),
a 1,000- and a 5,000-pool fleet at the operator's defaults (idle CPU, RSS per object, steady ARM
reads), an out-of-band resize and an operator restart on the 1,000-pool fleet.  ``--quick``: the
same at small sizes (convergence 10 and 100, n = 1; fleets of 20 and 60 pools; shorter windows)
to check the bench itself; its figures say nothing about the goals.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine, scenarios
from bench.stack import OPERATOR_ENV, TIME_SCALE, Stack

RESULTS = Path(__file__).resolve().parent / "results"
LATEST = RESULTS / "latest.json"


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)
    out = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), line]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out) + "\n"


def save(doc: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    LATEST.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each")
    parser.add_argument("--repeats", type=int, default=3, help="runs per convergence size (medians)")
    parser.add_argument(
        "--no-convergence", action="store_true", help="only the fleet figures (checking the bench)"
    )
    args = parser.parse_args()
    # SIGTERM (timeout, Ctrl-C from make) ends like Ctrl-C: the stack's `finally` stops every process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    info = machine.describe()
    print(table("Machine", ["key", "value"], [[k, v] for k, v in info.items()]))
    sizes = [] if args.no_convergence else [10, 100] if args.quick else [10, 100, 1000]
    repeats = 1 if args.quick else args.repeats
    small, large = (20, 60) if args.quick else (1000, 5000)
    # At least one full slow poll (600 s, +10 % jitter) of every pool at the defaults.
    window = 120.0 if args.quick else 660.0
    started = time.monotonic()
    doc: dict[str, Any] = {
        "machine": info,
        "gitCommit": git_commit(),
        "quick": args.quick,
        "timeScale": TIME_SCALE,
        "convergenceOperatorEnv": OPERATOR_ENV,
        "complete": False,
    }
    with tempfile.TemporaryDirectory(prefix="azbatch-bench-") as tmp:
        stack = Stack(Path(tmp))
        stack.start()
        try:
            conv: dict[str, Any] = {}
            for n in sizes:
                op = scenarios.convergence(stack, n, repeats)
                direct = scenarios.direct(stack, n, repeats)
                operator_s, direct_s = op["seconds"]["median"], direct["seconds"]["median"]
                conv[str(n)] = {
                    "operatorSeconds": operator_s,
                    "directSeconds": direct_s,
                    "ratio": operator_s / direct_s,
                    # Part of operatorSeconds: kubectl applying the manifests (no such step for the
                    # script), while the operator already works on the first objects.
                    "applySeconds": op["applySeconds"]["median"],
                    "runs": repeats,
                    "operatorRequestsPerPool": op["requestsPerPool"]["median"],
                    "directRequestsPerPool": direct["requestsPerPool"]["median"],
                }
            doc["convergence"] = conv
            save(doc)
            # Each figure is written as soon as it is measured ("complete" stays false until the
            # last), so a run cut short still leaves what it measured, from this one invocation.
            steady_pools = small if args.quick else 100
            steady = scenarios.fleet_at_defaults(stack, steady_pools, window, drift=False, restart=False)
            doc["steady"] = {
                "pools": steady_pools,
                "accounts": 1,
                "readsPerPoolHour": steady["readsPerPoolHour"],
                "measuredAtDefaults": True,
                "windowSeconds": window,
                "writes": steady["steadyWrites"],
                # Batch data plane (node counts), per account: not ARM's budget.
                "dataPlaneRequestsPerHour": steady["dataPlaneRequestsPerHour"],
            }
            save(doc)
            fleet = scenarios.fleet_at_defaults(stack, small, window, drift=True, restart=True)
            doc["idle"] = {"objects": small, "cpuPercentOfOneCore": fleet["cpuPercentOfOneCore"]}
            doc["drift"] = {"secondsToCorrect": fleet["driftSecondsToCorrect"], "pools": small}
            doc["restart"] = fleet["restart"]
            save(doc)
            bigger = scenarios.fleet_at_defaults(stack, large, window / 2, drift=False, restart=False)
            slope = (bigger["rssMiB"] - fleet["rssMiB"]) * 1024 / (large - small)
            doc["idle"] |= {
                "rssMiBPerObject": slope / 1024,
                "rssKiBPerObjectSlope": slope,
                "slopeBetween": [small, large],
            }
            doc["complete"] = True
            save(doc)
        finally:
            stack.stop()
    rows = [
        [
            n,
            f"{c['operatorSeconds']:.1f}",
            f"{c['applySeconds']:.1f}",
            f"{c['directSeconds']:.1f}",
            f"{c['ratio']:.2f}",
        ]
        for n, c in doc["convergence"].items()
    ]
    header = ["pools", "operator s", "of which kubectl apply s", "direct s", "ratio"]
    print(table(f"Convergence (median of {repeats})", header, rows))
    idle, steady = doc["idle"], doc["steady"]
    print(
        table(
            "At the operator's defaults",
            ["what", "value"],
            [
                [
                    f"idle CPU, {idle['objects']} objects (% of one core)",
                    f"{idle['cpuPercentOfOneCore']:.2f}",
                ],
                [f"RSS per object (slope {small}->{large}, KiB)", f"{idle['rssKiBPerObjectSlope']:.0f}"],
                [
                    f"steady ARM reads per pool-hour ({steady['pools']} pools)",
                    f"{steady['readsPerPoolHour']:.2f}",
                ],
                ["steady data-plane requests per account-hour", f"{steady['dataPlaneRequestsPerHour']:.0f}"],
                ["out-of-band resize corrected (s)", f"{doc['drift']['secondsToCorrect']:.0f}"],
                [
                    f"restart with {doc['restart']['pools']} Ready pools",
                    f"{doc['restart']['seconds']:.0f} s, {doc['restart']['armReads']} reads, "
                    f"{doc['restart']['armWrites']} writes",
                ],
            ],
        )
    )
    print(f"wrote {LATEST} in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
