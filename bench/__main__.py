"""`make bench` / `python -m bench [--quick] [--only NAME ...]`: run the scenarios, print tables,
write bench/results/<scenario>.json."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import machine, scenarios
from bench.stack import OPERATOR_ENV, TIME_SCALE, Stack

RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("large", "steady", "convergence", "direct")
EXTRA_ENV: dict[str, str] = {}


def write(name: str, data: dict[str, Any], info: dict[str, str], quick: bool) -> None:
    RESULTS.mkdir(exist_ok=True)
    doc = {"scenario": name, "quick": quick, "machine": info, "timeScale": TIME_SCALE}
    doc |= {"operatorEnv": {**OPERATOR_ENV, **EXTRA_ENV}, **data}
    (RESULTS / f"{name}.json").write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def table(title: str, header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    line = "  ".join("-" * w for w in widths)
    out = [title, "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), line]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(out) + "\n"


def med(s: dict[str, float], fmt: str = "{:.1f}") -> str:
    return f"{fmt.format(s['median'])} ({fmt.format(s['min'])}-{fmt.format(s['max'])}, n={int(s['runs'])})"


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each (~3 minutes)")
    parser.add_argument("--only", nargs="*", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--repeats-large", type=int, default=2, help="runs of the 1,000-pool sizes")
    parser.add_argument("--sizes", type=int, nargs="*", help="convergence sizes (default 1 100 1000)")
    parser.add_argument(
        "--operator-env", nargs="*", default=[], metavar="KEY=VALUE", help="extra AZBATCH_* for the operator"
    )
    args = parser.parse_args()
    EXTRA_ENV.update(kv.split("=", 1) for kv in args.operator_env)
    # SIGTERM (timeout, Ctrl-C from make) ends like Ctrl-C: the stack's `finally` stops every process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    info = machine.describe()
    print(table("Machine", ["key", "value"], [[k, v] for k, v in info.items()]))
    sizes = [(1, 1), (10, 1), (100, 1)] if args.quick else [(1, 3), (100, 3), (1000, args.repeats_large)]
    if args.sizes:
        sizes = [(n, args.repeats_large if n >= 1000 else (1 if args.quick else 3)) for n in args.sizes]
    big = sizes[-1][0]
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="azbatch-bench-") as tmp:
        stack = Stack(Path(tmp), operator_env=dict(kv.split("=", 1) for kv in args.operator_env))
        stack.start()
        try:
            output = []
            if "large" in args.only:
                nodes = 1200 if args.quick else 2500
                large = scenarios.large_pool(stack, nodes)
                write("large_pool", large, info, args.quick)
                rows = [
                    [
                        g["steadyAt"],
                        str(g["nodes"]),
                        f"{g['simulatedGapSeconds']:.0f}",
                        f"{g['simulatedGapSeconds'] / TIME_SCALE:.1f}",
                    ]
                    for g in large["gaps"]
                ]
                output.append(
                    table(
                        f"Large pool: {nodes} nodes, maxNodesPerResize 400, "
                        f"resizeTimeout {large['resizeTimeout']}, backoffSeconds {large['backoffSeconds']}: "
                        f"Ready after {large['secondsToReady']:.0f} s real "
                        f"({large['simulatedSecondsToReady'] / 60:.0f} simulated min), "
                        f"{large['resizes']} resizes",
                        ["went Steady below target (sim)", "nodes", "gap to next PATCH (sim s)", "(real s)"],
                        rows,
                    )
                )
            if "steady" in args.only:
                steady = scenarios.steady_cost(
                    stack, 20 if args.quick else 100, 5.0, 15.0 if args.quick else 30.0
                )
                write("arm_cost_steady", steady, info, args.quick)
            conv: dict[int, dict[str, Any]] = {}
            if "convergence" in args.only:
                for pools, repeats in sizes:
                    conv[pools] = scenarios.convergence(stack, pools, repeats)
                # Merge with sizes measured by an earlier invocation (e.g. `--sizes 1000` alone).
                previous = RESULTS / "convergence.json"
                merged: dict[str, Any] = {}
                if previous.exists() and args.sizes:
                    merged = dict(json.loads(previous.read_text()).get("sizes") or {})
                stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                merged |= {str(k): {**v, "measuredAt": stamp} for k, v in conv.items()}
                write("convergence", {"sizes": merged}, info, args.quick)
                rows = [
                    [
                        str(n),
                        med(c["seconds"]),
                        med(c["operatorPeakRssMiB"], "{:.0f}"),
                        med(c["operatorCpuSeconds"]),
                        med(c["requestsPerPool"]),
                    ]
                    for n, c in conv.items()
                ]
                output.append(
                    table(
                        "Convergence: BatchPools (2 dedicated nodes) applied at once -> all Ready "
                        "(median (min-max, runs))",
                        ["pools", "seconds", "operator peak RSS MiB", "operator CPU s", "ARM requests/pool"],
                        rows,
                    )
                )
            if "direct" in args.only:
                d = scenarios.direct(stack, big, sizes[-1][1])
                ratio = None
                if big in conv:
                    ratio = conv[big]["seconds"]["median"] / d["seconds"]["median"]
                write("direct", {**d, "operatorOverDirect": ratio}, info, args.quick)
                rows = [
                    [
                        "direct azure-mgmt-batch .aio",
                        med(d["seconds"]),
                        med(d["cpuSeconds"]),
                        med(d["requestsPerPool"]),
                    ]
                ]
                if big in conv:
                    c = conv[big]
                    rows.append(
                        [
                            "operator",
                            med(c["seconds"]),
                            med(c["operatorCpuSeconds"]),
                            med(c["requestsPerPool"]),
                        ]
                    )
                title = f"Operator vs the direct limit, {big} pools"
                if ratio is not None:
                    title += f": ratio operator/direct = {ratio:.2f} (goal <= 1.5)"
                output.append(table(title, ["who", "seconds", "CPU s", "ARM requests/pool"], rows))
            if "steady" in args.only:
                rows = [
                    [
                        "reads/pool/hour at measured slow interval",
                        f"{steady['readsPerPoolPerHourMeasured']:.0f}",
                        f"AZBATCH_POLL_SLOW_SECONDS={steady['slowSecondsMeasured']:.0f}, "
                        f"{steady['pools']} pools, {steady['windowSeconds']:.0f} s window",
                    ],
                    [
                        "reads/pool/hour at default 600 s (scaled)",
                        f"{steady['readsPerPoolPerHourAtDefault600s']:.2f}",
                        "",
                    ],
                    ["writes while Steady", str(steady["writes"]), ""],
                    [
                        "steady pools per subscription before throttling",
                        f"{steady['steadyPoolsPerSubscription']:,}",
                        "read budget 25/s = 90,000/hour",
                    ],
                ]
                if conv:
                    c = conv[max(conv)]
                    rows.append(
                        ["requests/pool apply -> Ready", med(c["requestsPerPool"]), f"{max(conv)} pools"]
                    )
                if "large" in args.only:
                    rows.append(
                        [
                            "requests per resize attempt (large pool)",
                            f"{large['requestsPerResizeAttempt']:.1f}",
                            "fast poll 1 s while resizing",
                        ]
                    )
                output.append(
                    table("ARM cost (simulator counters, /_sim/requests)", ["what", "value", "note"], rows)
                )
            print("\n".join(output))
        finally:
            stack.stop()
    print(f"bench finished in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
