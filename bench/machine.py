"""What the numbers were measured on: CPU, Python, kube-apiserver version."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

from azbatch_operator.devtools.controlplane import DEFAULT_BIN_DIR


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def kube_apiserver_version() -> str:
    try:
        out = subprocess.run(
            [str(DEFAULT_BIN_DIR / "kube-apiserver"), "--version"], capture_output=True, text=True, timeout=30
        )
        return out.stdout.strip() or out.stderr.strip()
    except OSError as exc:
        return f"unavailable ({exc})"


def describe() -> dict[str, str]:
    return {
        "cpus": str(os.cpu_count()),
        "cpuModel": cpu_model(),
        "memoryGiB": f"{memory_gib():.1f}",
        "python": platform.python_version(),
        "kubeApiserver": kube_apiserver_version(),
        "platform": platform.platform(),
    }
