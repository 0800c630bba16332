"""The local stack: control plane, Azure simulator and operator as real processes on loopback.

One implementation serves the test fixtures, `make local-up`, `make demo` and the benchmarks, so
what the tests start is what a user starts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from azbatch_operator.devtools import processes

DEMO_WORLD = Path(__file__).with_name("demo-world.yaml")


@dataclass
class Simulator:
    """`azuresim serve` as a child process; its URL and CA come from the ready file it writes."""

    state_dir: Path
    seed: Path | None = None
    time_scale: float = 1.0
    tie_to_parent: bool = True
    url: str = ""
    ca_file: str = ""
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def start(self, timeout: float = 30.0) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ready_file = self.state_dir / "ready.json"
        ready_file.unlink(missing_ok=True)
        argv = [sys.executable, "-m", "azuresim", "serve", "--port", "0", "--state-dir", str(self.state_dir)]
        argv += ["--time-scale", str(self.time_scale)]
        if self.seed is not None:
            argv += ["--seed", str(self.seed)]
        log = self.state_dir / "azuresim.log"
        self.proc = proc = processes.spawn(
            argv, log, tie_to_parent=self.tie_to_parent, env={**os.environ, **self.extra_env}
        )
        processes.wait_until(ready_file.exists, timeout, "azuresim", lambda: proc.poll() is None, log)
        ready = json.loads(ready_file.read_text())
        self.url, self.ca_file = ready["url"], ready["caFile"]

    def env(self) -> dict[str, str]:
        """The AZURE_* settings an operator needs to reach this simulator (as `azuresim env` prints)."""
        argv = [sys.executable, "-m", "azuresim", "env", "--state-dir", str(self.state_dir)]
        if self.seed is not None:
            argv += ["--seed", str(self.seed)]
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def stop(self) -> None:
        if self.proc is not None:
            processes.stop_pid(self.proc.pid)
            self.proc = None


@dataclass
class Operator:
    """The operator as users run it: `kopf run -m azbatch_operator`, one OS process."""

    kubeconfig: Path
    env: dict[str, str]
    log_file: Path
    liveness_port: int = 0
    tie_to_parent: bool = True
    extra_args: list[str] = field(default_factory=list)
    #: Serve only these namespaces (kopf `--namespace`, exact names or globs) instead of
    #: `--all-namespaces`: lets a test run its own operator beside the shared one.
    namespaces: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def liveness_url(self) -> str:
        return f"http://127.0.0.1:{self.liveness_port}/healthz"

    def start(self, wait_ready: bool = True, timeout: float = 60.0) -> None:
        self.liveness_port = processes.free_port()
        argv = [
            sys.executable,
            "-m",
            "kopf",
            "run",
            *([f"--namespace={ns}" for ns in self.namespaces] or ["--all-namespaces"]),
            "--standalone",
            f"--liveness=http://127.0.0.1:{self.liveness_port}/healthz",
            "-m",
            "azbatch_operator",
            *self.extra_args,
        ]
        env = {**os.environ, **self.env, "KUBECONFIG": str(self.kubeconfig), "PYTHONUNBUFFERED": "1"}
        self.proc = proc = processes.spawn(argv, self.log_file, tie_to_parent=self.tie_to_parent, env=env)
        if wait_ready:
            processes.wait_until(self.alive, timeout, "operator", lambda: proc.poll() is None, self.log_file)

    def alive(self) -> bool:
        """True when kopf's liveness endpoint answers 200."""
        try:
            with urllib.request.urlopen(self.liveness_url, timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: returns the exit code."""
        assert self.proc is not None
        self.proc.terminate()
        code = self.proc.wait(timeout=timeout)
        self.proc = None
        return code

    def kill(self) -> None:
        """SIGKILL: no clean-up, no goodbye, as a node failure would do it."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            processes.stop_pid(self.proc.pid)
            self.proc = None
