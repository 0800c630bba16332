"""`make local-up` / `make local-down`: a local control plane and simulator that outlive the shell.

`up` returns once everything is ready and writes `.local/kubeconfig`, `.local/azure.env` and one
pid file per process; `down` stops what those pid files name, from any shell.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from azbatch_operator.devtools import processes
from azbatch_operator.devtools.controlplane import ControlPlane
from azbatch_operator.devtools.stack import DEMO_WORLD, Simulator


def _pid_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.pid"))


def up(directory: Path, seed: Path, time_scale: float) -> int:
    if any(processes.pid_alive(int(p.read_text())) for p in _pid_files(directory)):
        print(f"already running (pid files in {directory}); run `make local-down` first", file=sys.stderr)
        return 1
    for stale in ("controlplane", "azuresim"):
        shutil.rmtree(directory / stale, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    plane = ControlPlane(workdir=directory / "controlplane", tie_to_parent=False)
    plane.start()
    for name, pid in zip(("etcd", "kube-apiserver"), plane.pids, strict=True):
        (directory / f"{name}.pid").write_text(str(pid))
    shutil.copy(plane.kubeconfig, directory / "kubeconfig")
    sim = Simulator(directory / "azuresim", seed=seed, time_scale=time_scale, tie_to_parent=False)
    try:
        sim.start()
    except BaseException:
        down(directory)
        raise
    assert sim.proc is not None
    (directory / "azuresim.pid").write_text(str(sim.proc.pid))
    env = sim.env()
    (directory / "azure.env").write_text("".join(f"{k}={v}\n" for k, v in sorted(env.items())))
    print(f"kube-apiserver {plane.url} ready in {plane.started_in_seconds:.1f}s")
    print(f"azuresim       {sim.url}")
    print(f"export KUBECONFIG={(directory / 'kubeconfig').resolve()}")
    print(f"set -a; . {(directory / 'azure.env').resolve()}; set +a   # operator settings")
    return 0


def down(directory: Path) -> int:
    stopped = 0
    # Reverse start order: simulator, then kube-apiserver, then etcd.
    for name in ("azuresim", "kube-apiserver", "etcd"):
        pid_file = directory / f"{name}.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text())
            if processes.pid_alive(pid):
                processes.stop_pid(pid)
                stopped += 1
            pid_file.unlink()
    print(f"stopped {stopped} process(es)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="azbatch-local", description=__doc__)
    parser.add_argument("command", choices=["up", "down"])
    parser.add_argument("--dir", type=Path, default=Path(".local"))
    parser.add_argument("--seed", type=Path, default=DEMO_WORLD, help="simulator world file")
    parser.add_argument("--time-scale", type=float, default=60.0, help="simulated seconds per second")
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args.dir, args.seed, args.time_scale)
    return down(args.dir)


if __name__ == "__main__":
    sys.exit(main())
