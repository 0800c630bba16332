"""One control plane, one simulator, and operators started per measurement (bench only)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from azbatch_operator.devtools.controlplane import ControlPlane
from azbatch_operator.devtools.stack import DEMO_WORLD, Operator, Simulator
from azuresim.admin import AdminClient

REPO = Path(__file__).resolve().parent.parent
KUBECTL = str(Path(sys.executable).parent / "kubectl")
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
TENANT = "11111111-1111-1111-1111-111111111111"
POOL_TYPE = "Microsoft.Batch/batchAccounts/pools"
TIME_SCALE = 60.0
RG = "bench-rg"
GALLERY_VERSION = (
    f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/benchgallery"
    "/images/render/versions/1.0.0"
)

#: The operator's knobs for every bench run: the simulator runs `TIME_SCALE` times faster than real
#: time, so the fast poll is 1 real second (as in the e2e tests); the slow poll stays the default.
OPERATOR_ENV = {
    "AZBATCH_POLL_FAST_SECONDS": "1",
    "AZBATCH_RETRY_BASE_SECONDS": "0.5",
    "AZBATCH_RETRY_MAX_SECONDS": "5",
    "AZBATCH_CREATE_GRACE_SECONDS": "10",
}


@dataclass
class Stack:
    workdir: Path
    operator_env: dict[str, str] = field(default_factory=dict)
    plane: ControlPlane = field(init=False)
    sim: Simulator = field(init=False)
    admin: AdminClient = field(init=False)
    _accounts: int = 0

    def start(self) -> None:
        self.plane = ControlPlane(self.workdir / "controlplane")
        self.plane.start()
        self.sim = Simulator(self.workdir / "azuresim", seed=DEMO_WORLD, time_scale=TIME_SCALE)
        self.sim.start()
        self.admin = AdminClient(self.sim.url, self.sim.ca_file, timeout=120)
        self.kubectl("apply", "--server-side", "-f", str(REPO / "crds"))
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds"))
        self.admin.seed(
            {
                "subscriptions": [
                    {
                        "id": SUBSCRIPTION,
                        "tenant": TENANT,
                        "resourceGroups": [
                            {
                                "name": RG,
                                "location": "westeurope",
                                "snapshots": [{"name": "os-snap", "osType": "Linux", "sizeGB": 64}],
                                "images": [{"name": "base-img", "snapshot": self.snapshot_id()}],
                                "galleries": [
                                    {
                                        "name": "benchgallery",
                                        "images": [
                                            {
                                                "name": "render",
                                                "osType": "Linux",
                                                "osState": "Generalized",
                                                "versions": [
                                                    {
                                                        "name": "1.0.0",
                                                        "source": self.image_id(),
                                                        "targetRegions": ["westeurope"],
                                                    }
                                                ],
                                            }
                                        ],
                                    }
                                ],
                            }
                        ],
                    }
                ]
            }
        )

    def stop(self) -> None:
        self.sim.stop()
        self.plane.stop()

    def rg_id(self) -> str:
        return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RG}"

    def snapshot_id(self) -> str:
        return f"{self.rg_id()}/providers/Microsoft.Compute/snapshots/os-snap"

    def image_id(self) -> str:
        return f"{self.rg_id()}/providers/Microsoft.Compute/images/base-img"

    def new_account(self, prefix: str, pools: int) -> str:
        """A fresh Batch account (so runs never see each other's pools); returns its id."""
        self._accounts += 1
        name = f"{prefix}{self._accounts}"
        self.admin.seed(
            {
                "subscriptions": [
                    {
                        "id": SUBSCRIPTION,
                        "tenant": TENANT,
                        "resourceGroups": [
                            {
                                "name": RG,
                                "location": "westeurope",
                                "batchAccounts": [
                                    {
                                        "name": name,
                                        "poolAllocationMode": "BatchService",
                                        "dedicatedCoreQuota": 10**7,
                                        "lowPriorityCoreQuota": 10**6,
                                        "poolQuota": pools + 10,
                                    }
                                ],
                            }
                        ],
                    }
                ]
            }
        )
        return f"{self.rg_id()}/providers/Microsoft.Batch/batchAccounts/{name}"

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 600) -> str:
        argv = [KUBECTL, f"--kubeconfig={self.plane.kubeconfig}", *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout

    def namespace(self, name: str) -> str:
        self.kubectl("create", "namespace", name)
        return name

    def operator(self, namespace: str, log: Path, **extra_env: str) -> Operator:
        op = Operator(
            self.plane.kubeconfig,
            env={**self.sim.env(), **OPERATOR_ENV, **self.operator_env, **extra_env},
            log_file=log,
            namespaces=[namespace],
        )
        op.start()
        return op

    def list_pools(self, namespace: str) -> list[dict[str, Any]]:
        """One LIST of the namespace's BatchPools, straight from the apiserver."""
        url = f"{self.plane.url}/apis/azbatch.io/v1alpha1/namespaces/{namespace}/batchpools"
        with urllib.request.urlopen(url, context=self.plane.ssl_context(), timeout=60) as resp:
            items: list[dict[str, Any]] = json.load(resp)["items"]
        return items

    def wait_all_ready(self, namespace: str, count: int, timeout: float, poll: float | None = None) -> float:
        """Seconds (from now) until `count` BatchPools are Ready=True; raises on timeout.

        One LIST per poll; the interval grows with the count (0.5 s up to 2 s for 1,000 pools) so the
        watcher's own load on the apiserver and CPU stays small next to the operator's.
        """
        poll = poll if poll is not None else min(2.0, max(0.5, count / 500))
        start = time.monotonic()
        ready = 0
        while time.monotonic() - start < timeout:
            ready = sum(1 for obj in self.list_pools(namespace) if is_ready(obj))
            if ready >= count:
                return time.monotonic() - start
            time.sleep(poll)
        raise TimeoutError(f"{ready}/{count} BatchPools Ready in {namespace} after {timeout:.0f}s")


def is_ready(obj: dict[str, Any]) -> bool:
    status = obj.get("status") or {}
    gen = obj["metadata"].get("generation")
    return any(
        c.get("type") == "Ready" and c.get("status") == "True" and c.get("observedGeneration") == gen
        for c in status.get("conditions") or []
    )


def pool_manifest(
    namespace: str,
    name: str,
    account_id: str,
    dedicated: int = 2,
    timeout: str = "PT15M",
    **spec: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "azbatch.io/v1alpha1",
        "kind": "BatchPool",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "accountId": account_id,
            "vmSize": "Standard_D2s_v5",
            "nodeAgentSkuId": "batch.node.ubuntu 22.04",
            "image": {"id": GALLERY_VERSION},
            "scale": {"fixed": {"targetDedicatedNodes": dedicated, "resizeTimeout": timeout}},
            **spec,
        },
    }


def apply_all(stack: Stack, docs: list[dict[str, Any]], path: Path) -> None:
    """One `kubectl apply --server-side -f` of a multi-document YAML."""
    path.write_text(yaml.safe_dump_all(docs))
    stack.kubectl("apply", "--server-side", "-f", str(path))
