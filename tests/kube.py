"""A thin kubectl wrapper for tests: what users run is what tests run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"


class KubectlError(AssertionError):
    """kubectl exited non-zero; `stderr` holds what the apiserver said."""

    def __init__(self, args: list[str], result: subprocess.CompletedProcess[str]) -> None:
        self.stderr = result.stderr
        self.stdout = result.stdout
        super().__init__(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")


@dataclass(frozen=True)
class Kubectl:
    kubeconfig: Path

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        argv = [KUBECTL, f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise KubectlError(list(args), result)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(
        self, manifest: dict[str, Any] | str, *extra: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        text = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        return self.run("apply", "-f", "-", *extra, input=text, check=check)

    def rejects(self, manifest: dict[str, Any] | str, *extra: str) -> str:
        """Apply and expect the apiserver to refuse; returns its message."""
        result = self.apply(manifest, *extra, check=False)
        assert result.returncode != 0, f"expected a rejection, got: {result.stdout}"
        return result.stderr
