"""helm (bin/helm, built by `make bin/helm`) on the chart as `make chart` stages it.

The chart in git reaches crds/ and parts of deploy/ through symbolic links; staging copies it with
the links resolved, which is what `helm package` ships, so tests see what users install.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
HELM = REPO / "bin" / "helm"
CHART = REPO / "charts" / "azbatch-operator"
FULL_VALUES = CHART / "ci" / "full-values.yaml"


def staged(into: Path) -> Path:
    """A copy of the chart with every link resolved (crds/ and files/ become real files)."""
    assert HELM.exists(), f"{HELM} is missing: run `make bin/helm`"
    target = into / "azbatch-operator"
    shutil.copytree(CHART, target, symlinks=False)
    return target


def helm(*args: str, kubeconfig: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [str(HELM), *args, *([f"--kubeconfig={kubeconfig}"] if kubeconfig else [])]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


def template(
    chart: Path, *args: str, release: str = "azbatch-operator", namespace: str = "azbatch-system"
) -> list[dict[str, Any]]:
    out = helm("template", release, str(chart), "--namespace", namespace, *args).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def rbac_documents(path: Path) -> list[dict[str, Any]]:
    """The RBAC objects of a deploy/ manifest, as they are in the repository now."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def find(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = find(docs, kind)
    assert len(found) == 1, f"{kind}: {len(found)} rendered"
    return found[0]
