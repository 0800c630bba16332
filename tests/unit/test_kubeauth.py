"""The Kubernetes login (kubeauth): what the official client's loaders give, kept in memory only."""

from __future__ import annotations

import base64
import tempfile
from pathlib import Path

import pytest
import yaml

from azbatch_operator.devtools.pki import LocalPKI
from azbatch_operator.kubeauth import Credentials, KubeLoginError, load


def kubeconfig(path: Path, pki: LocalPKI, user: dict[str, object]) -> Path:
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://127.0.0.1:6443",
                            "certificate-authority-data": b64(pki.ca.cert_pem),
                        },
                    }
                ],
                "users": [{"name": "u", "user": user}],
                "contexts": [
                    {"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "team-a"}}
                ],
                "current-context": "ctx",
            }
        )
    )
    return path


@pytest.fixture
def pki(tmp_path: Path) -> LocalPKI:
    return LocalPKI(tmp_path / "pki")


def test_inline_client_key_is_read_into_memory_and_no_temp_file_remains(
    tmp_path: Path, pki: LocalPKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = pki.client("op", "operator", [])
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    user = {"client-certificate-data": b64(client.cert_pem), "client-key-data": b64(client.key_pem)}
    path = kubeconfig(tmp_path / "kc", pki, user)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    creds = load({"KUBECONFIG": str(path)})
    assert creds.key_pem == client.key_pem
    assert creds.cert_pem == client.cert_pem
    assert creds.namespace == "team-a"
    assert creds.server == "https://127.0.0.1:6443"
    assert list(tmp.iterdir()) == [], "the client library's temp files are gone"
    creds.ssl_context()  # loads the chain from memory
    assert list(tmp.iterdir()) == []


def test_token_file_is_read_and_never_shown_in_repr(tmp_path: Path, pki: LocalPKI) -> None:
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")
    creds = load({"KUBECONFIG": str(kubeconfig(tmp_path / "kc", pki, {"tokenFile": str(token)}))})
    assert creds.authorization == "Bearer s3cr3t-token"
    assert "s3cr3t" not in repr(creds)
    assert "tokenFile" not in creds.source


def test_a_user_without_any_credential_is_a_named_error(tmp_path: Path, pki: LocalPKI) -> None:
    with pytest.raises(KubeLoginError, match="yielded no token and no client certificate"):
        load({"KUBECONFIG": str(kubeconfig(tmp_path / "kc", pki, {}))})


def test_expiry_margin_counts_down_on_the_wall_clock() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2026, 1, 1, tzinfo=UTC)
    creds = Credentials("https://x", "test", "default", expires=now + timedelta(seconds=31))
    assert not creds.expired(now)
    assert creds.expired(now + timedelta(seconds=1))
    assert not Credentials("https://x", "test", "default").expired(now)
