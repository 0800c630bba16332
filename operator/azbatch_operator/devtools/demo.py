"""`make demo`: the main job on an embedded default, from nothing to every example Ready.

Starts a real control plane, the Azure simulator (seeded with a subscription, a prepared VM, a
gallery and a Batch account) and the operator; applies the CRDs and examples/; shows a live table
of objects, conditions and node counts; exits 0 when everything is Ready, or prints a diagnosis
and exits 1. Every process it started is stopped on the way out, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from azbatch_operator.devtools.controlplane import REPO_ROOT, ControlPlane
from azbatch_operator.devtools.stack import DEMO_WORLD, Operator, Simulator

KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"
NAMESPACE = "demo"
#: Demo timing: one real second is `TIME_SCALE` simulated seconds; the operator polls fast.
TIME_SCALE = 60.0
STALL_GRACE_SECONDS = 60.0
OPERATOR_ENV = {
    "AZBATCH_POLL_FAST_SECONDS": "1",
    "AZBATCH_POLL_SLOW_SECONDS": "10",
    "AZBATCH_RETRY_BASE_SECONDS": "1",
    "AZBATCH_RETRY_MAX_SECONDS": "10",
}


def kubectl(kubeconfig: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [KUBECTL, f"--kubeconfig={kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        check=False,
    )


def _condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def rows(objects: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for obj in objects:
        status = obj.get("status") or {}
        ready, stalled, progressing = (_condition(obj, t) for t in ("Ready", "Stalled", "Reconciling"))
        headline = next((c for c in (stalled, ready, progressing) if c.get("status") == "True"), ready)
        nodes = ""
        if obj["kind"] == "BatchPool":
            nodes = f"{status.get('currentDedicatedNodes', 0)}/{status.get('targetDedicatedNodes', '?')}"
            if status.get("resizeAttempts"):
                nodes += f" (try {status['resizeAttempts']})"
        out.append(
            (
                obj["kind"],
                obj["metadata"]["name"],
                ready.get("status", "-"),
                headline.get("reason", "Pending"),
                nodes,
                (headline.get("message") or "")[:70],
            )
        )
    return out


def render(table: list[tuple[str, ...]], elapsed: float) -> str:
    header = ("KIND", "NAME", "READY", "REASON", "NODES", "MESSAGE")
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in [header, *table]]
    return f"azbatch demo - {elapsed:5.0f}s\n" + "\n".join(lines)


def diagnose(objects: list[dict[str, Any]], operator_log: Path) -> str:
    lines = ["", "Not everything became Ready. What the objects say:"]
    for obj in objects:
        for cond in (obj.get("status") or {}).get("conditions") or []:
            if cond["type"] in ("Ready", "Stalled") and (cond["type"] == "Stalled") == (
                cond["status"] == "True"
            ):
                continue
            lines.append(
                f"  {obj['kind']}/{obj['metadata']['name']} {cond['type']}={cond['status']} "
                f"{cond['reason']}: {cond['message']}"
            )
    tail = operator_log.read_text(errors="replace").splitlines()[-25:] if operator_log.exists() else []
    lines += ["", f"Last lines of the operator log ({operator_log}):", *tail]
    lines += ["", "See docs/troubleshooting.md for every reason and what to do about it."]
    return "\n".join(lines)


def run(workdir: Path, timeout: float, examples: Path) -> int:
    shutil.rmtree(workdir, ignore_errors=True)
    started = time.monotonic()
    plane = ControlPlane(workdir / "controlplane")
    sim = Simulator(workdir / "azuresim", seed=DEMO_WORLD, time_scale=TIME_SCALE)
    operator: Operator | None = None
    tty = sys.stdout.isatty()
    try:
        print("== demo: starting kube-apiserver + etcd, azuresim and the operator", flush=True)
        plane.start()
        sim.start()
        cfg = plane.kubeconfig
        for step in (
            ["apply", "--server-side", "-f", str(REPO_ROOT / "crds")],
            ["wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO_ROOT / "crds")],
            ["create", "namespace", NAMESPACE],
        ):
            result = kubectl(cfg, *step)
            if result.returncode != 0:
                print(result.stderr, file=sys.stderr)
                return 1
        operator = Operator(cfg, env={**sim.env(), **OPERATOR_ENV}, log_file=workdir / "operator.log")
        operator.start()
        applied = kubectl(cfg, "apply", "-n", NAMESPACE, "-f", str(examples))
        if applied.returncode != 0:
            print(applied.stderr.strip(), file=sys.stderr)
            return 1
        print(
            f"== demo: examples/ applied (simulator at {TIME_SCALE:g}x; operator log {operator.log_file})",
            flush=True,
        )
        objects: list[dict[str, Any]] = []
        last = ""
        stalled_since: float | None = None
        while time.monotonic() - started < timeout:
            got = kubectl(cfg, "get", "managedimages,batchpools", "-n", NAMESPACE, "-o", "json")
            objects = json.loads(got.stdout)["items"] if got.returncode == 0 else objects
            screen = render(rows(objects), time.monotonic() - started)
            if tty:
                sys.stdout.write("\x1b[2J\x1b[H" + screen + "\n")
                sys.stdout.flush()
            elif screen.split("\n", 1)[1] != last:
                print(screen, flush=True)
            last = screen.split("\n", 1)[1]
            if objects and all(_condition(o, "Ready").get("status") == "True" for o in objects):
                print(f"\nEverything is Ready after {time.monotonic() - started:.0f}s.")
                return 0
            if any(_condition(o, "Stalled").get("status") == "True" for o in objects):
                stalled_since = stalled_since or time.monotonic()
                # Some stalls heal (an image that appears, a quota raised): give them a minute.
                if time.monotonic() - stalled_since > STALL_GRACE_SECONDS:
                    print(diagnose(objects, operator.log_file))
                    return 1
            else:
                stalled_since = None
            time.sleep(1)
        print(f"\nTimed out after {timeout:.0f}s.")
        print(diagnose(objects, operator.log_file))
        return 1
    finally:
        if operator is not None:
            operator.stop()
        sim.stop()
        plane.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="azbatch-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=REPO_ROOT / ".local" / "demo")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds before giving up")
    parser.add_argument("--examples", type=Path, default=REPO_ROOT / "examples")
    args = parser.parse_args(argv)
    # `timeout` and CI runners stop with SIGTERM: unwind through the `finally` that stops everything.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return run(args.dir, args.timeout, args.examples)
    except KeyboardInterrupt:
        print("\ninterrupted; everything started has been stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
