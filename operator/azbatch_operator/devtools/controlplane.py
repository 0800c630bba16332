"""A real etcd + kube-apiserver on loopback, started the way envtest starts them.

TLS serving, client-certificate and static-token authentication, RBAC authorization and
service-account token signing are all on, so CRD validation, status subresources, generation
bookkeeping, RBAC and finalizers behave as in a cluster. There is no controller-manager:
namespaces deleted here stay Terminating and nothing garbage-collects owner references, which the
tests do not rely on.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from azbatch_operator.devtools import pki, processes

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_BIN_DIR = REPO_ROOT / "bin"


@dataclass
class ControlPlane:
    """Handle on a running (or startable) etcd + kube-apiserver pair."""

    workdir: Path
    bin_dir: Path = DEFAULT_BIN_DIR
    tie_to_parent: bool = True
    etcd_port: int = 0
    apiserver_port: int = 0
    started_in_seconds: float = 0.0
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.apiserver_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def token_auth_file(self) -> Path:
        """Static bearer tokens (`token,user,uid,"group1,group2"` lines), read when kube-apiserver
        starts: after editing it, `restart_apiserver()` makes the change count (a removed token is
        then refused with 401), as it is on a real control plane."""
        return self.workdir / "tokens.csv"

    def set_static_tokens(self, tokens: dict[str, tuple[str, list[str]]]) -> None:
        """Replace the token file: {token: (user, groups)}; takes effect on the next (re)start."""
        lines = [f'{token},{user},{user},"{",".join(groups)}"' for token, (user, groups) in tokens.items()]
        self.token_auth_file.write_text("".join(line + "\n" for line in lines))
        self.token_auth_file.chmod(0o600)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self._procs]

    def start(self, timeout: float = 90.0) -> None:
        """Start etcd then kube-apiserver and return when `/readyz` answers ok."""
        t0 = time.monotonic()
        for binary in ("etcd", "kube-apiserver"):
            if not (self.bin_dir / binary).exists():
                raise FileNotFoundError(
                    f"{self.bin_dir / binary} is missing: run `make controlplane` to build it"
                )
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.token_auth_file.exists():
            self.set_static_tokens({})
        self._pki = pki.LocalPKI(self.workdir / "pki")
        try:
            self._start_etcd(timeout)
            self._start_apiserver(timeout)
        except BaseException:
            self.stop()
            raise
        self.started_in_seconds = time.monotonic() - t0

    def _start_etcd(self, timeout: float) -> None:
        self.etcd_port, peer_port = processes.free_ports(2)
        client_url = f"http://127.0.0.1:{self.etcd_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        log = self.workdir / "etcd.log"
        proc = processes.spawn(
            [
                str(self.bin_dir / "etcd"),
                "--name=local",
                f"--data-dir={self.workdir / 'etcd-data'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=local={peer_url}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
            ],
            log,
            tie_to_parent=self.tie_to_parent,
        )
        self._procs.append(proc)

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"{client_url}/health", timeout=1) as resp:
                    return bool(json.load(resp).get("health") == "true")
            except (OSError, ValueError):
                return False

        processes.wait_until(healthy, timeout, "etcd", lambda: proc.poll() is None, log)

    def _start_apiserver(self, timeout: float) -> None:
        first_start = not self.apiserver_port
        if first_start:
            self.apiserver_port = processes.free_port()
            self._serving = self._pki.serving(
                "apiserver", ["127.0.0.1", "localhost", "kubernetes.default.svc"]
            )
            self.admin = self._pki.client("admin", "azbatch-admin", ["system:masters"])
            self._sa_keys = self._pki.signing_keypair("service-account")
        serving = self._serving
        sa_private, sa_public = self._sa_keys
        log = self.workdir / "kube-apiserver.log"
        proc = processes.spawn(
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                f"--cert-dir={self.workdir / 'pki'}",
                f"--tls-cert-file={serving.cert_file}",
                f"--tls-private-key-file={serving.key_file}",
                f"--client-ca-file={self._pki.ca.cert_file}",
                f"--token-auth-file={self.token_auth_file}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={sa_public}",
                f"--service-account-signing-key-file={sa_private}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                "--service-cluster-ip-range=10.96.0.0/24",
                "--allow-privileged=true",
                "--disable-admission-plugins=ServiceAccount",
                "--enable-priority-and-fairness=false",
                "--endpoint-reconciler-type=none",
                "--v=1",
            ],
            log,
            tie_to_parent=self.tie_to_parent,
        )
        self._procs.append(proc)
        if first_start:
            self._write_kubeconfig()
        context = self.ssl_context()

        def ready() -> bool:
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2, context=context) as resp:
                    return bool(resp.status == 200)
            except (OSError, urllib.error.URLError):
                return False

        processes.wait_until(ready, timeout, "kube-apiserver", lambda: proc.poll() is None, log)

    def ssl_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts the local CA and presents the admin certificate."""
        context = ssl.create_default_context(cafile=str(self._pki.ca.cert_file))
        context.load_cert_chain(str(self.admin.cert_file), str(self.admin.key_file))
        return context

    def _write_kubeconfig(self) -> None:
        self.kubeconfig.write_text(yaml.safe_dump(self.kubeconfig_dict()))
        self.kubeconfig.chmod(0o600)

    def kubeconfig_dict(self, impersonate: str | None = None) -> dict[str, object]:
        """A kubeconfig for the admin identity, optionally impersonating another user."""

        def b64(data: bytes) -> str:
            return base64.b64encode(data).decode()

        user: dict[str, object] = {
            "client-certificate-data": b64(self.admin.cert_pem),
            "client-key-data": b64(self.admin.key_pem),
        }
        if impersonate:
            user["as"] = impersonate
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {"server": self.url, "certificate-authority-data": b64(self._pki.ca.cert_pem)},
                }
            ],
            "users": [{"name": "admin", "user": user}],
            "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
            "current-context": "local",
        }

    def stop(self) -> None:
        """Stop kube-apiserver first, then etcd; idempotent."""
        for proc in reversed(self._procs):
            processes.stop_pid(proc.pid)
            if proc.poll() is None:
                proc.wait(timeout=5)
        self._procs.clear()

    def restart_apiserver(self, timeout: float = 90.0) -> None:
        """Restart only kube-apiserver (etcd keeps the data): clients see their watches cut."""
        self.stop_apiserver()
        self.start_apiserver(timeout)

    def stop_apiserver(self) -> None:
        """Stop only kube-apiserver (an outage: connections refused until `start_apiserver`)."""
        apiserver = self._procs.pop()
        processes.stop_pid(apiserver.pid)
        apiserver.wait(timeout=5)

    def start_apiserver(self, timeout: float = 90.0) -> None:
        """Start kube-apiserver again on the same port, with the same certificates and data."""
        self._start_apiserver(timeout)


def env_with_kubeconfig(kubeconfig: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["KUBECONFIG"] = str(kubeconfig)
    return env
