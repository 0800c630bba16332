"""Entra ID token endpoint with azure-identity, and ARM bearer validation / RBAC."""

from __future__ import annotations

import base64
import json
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError

from azuresim.testing import SimulatorThread
from tests.sim.conftest import (
    ACCOUNT,
    BATCH_RG,
    CLIENT,
    NOBODY,
    READER,
    RG,
    SECRET,
    SUB,
    TENANT,
    batch_client,
    compute_client,
    credential,
)
from tests.sim.test_batch import pool_body

pytestmark = pytest.mark.sim
ARM_SCOPE = "https://management.azure.com/.default"


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def test_client_secret_token(sim: SimulatorThread, cred: Any) -> None:
    token = await cred.get_token(ARM_SCOPE)
    claims = _claims(token.token)
    assert claims["aud"] == "https://management.azure.com/"
    assert claims["appid"] == CLIENT
    assert claims["tid"] == TENANT
    assert 3500 < token.expires_on - time.time() <= 3600
    legacy = _claims((await cred.get_token("https://management.core.windows.net//.default")).token)
    assert legacy["aud"] == "https://management.core.windows.net/"


async def test_wrong_secret(sim: SimulatorThread) -> None:
    async with credential(sim, secret="wrong") as bad:
        with pytest.raises(ClientAuthenticationError) as exc:
            await bad.get_token(ARM_SCOPE)
    assert "AADSTS7000215" in str(exc.value)
    async with credential(sim, client="99999999-9999-9999-9999-999999999999") as unknown:
        with pytest.raises(ClientAuthenticationError) as exc:
            await unknown.get_token(ARM_SCOPE)
    assert "AADSTS700016" in str(exc.value)


async def test_environment_and_default_credential(
    sim: SimulatorThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.identity.aio import DefaultAzureCredential, EnvironmentCredential

    env = sim.env()
    assert env["AZURE_CLIENT_ID"] == CLIENT
    assert env["AZURE_SUBSCRIPTION_ID"] == SUB
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    async with EnvironmentCredential(connection_verify=sim.ca_file) as c:
        assert _claims((await c.get_token(ARM_SCOPE)).token)["appid"] == CLIENT
    async with DefaultAzureCredential(connection_verify=sim.ca_file) as d:
        assert _claims((await d.get_token(ARM_SCOPE)).token)["appid"] == CLIENT


def _federated_jwt(sub: str, aud: str = "api://AzureADTokenExchange") -> str:
    def enc(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {
        "iss": "https://kubernetes.default.svc",
        "sub": sub,
        "aud": [aud],
        "iat": now,
        "exp": now + 3600,
    }
    return enc({"alg": "RS256", "kid": "k"}) + "." + enc(claims) + ".c2ln"


async def test_workload_identity(sim: SimulatorThread, tmp_path: Path) -> None:
    from azure.identity.aio import WorkloadIdentityCredential

    good = tmp_path / "token"
    good.write_text(_federated_jwt("system:serviceaccount:azbatch-system:azbatch-operator"))
    async with WorkloadIdentityCredential(
        tenant_id=TENANT,
        client_id=CLIENT,
        token_file_path=str(good),
        authority=sim.url,
        connection_verify=sim.ca_file,
    ) as wi:
        assert _claims((await wi.get_token(ARM_SCOPE)).token)["appid"] == CLIENT
    bad = tmp_path / "bad"
    bad.write_text(_federated_jwt("system:serviceaccount:default:intruder"))
    async with WorkloadIdentityCredential(
        tenant_id=TENANT,
        client_id=CLIENT,
        token_file_path=str(bad),
        authority=sim.url,
        connection_verify=sim.ca_file,
    ) as wi:
        with pytest.raises(ClientAuthenticationError) as exc:
            await wi.get_token(ARM_SCOPE)
    assert "AADSTS70021" in str(exc.value)


def test_sync_msal_credential_needs_instance_discovery_disabled(sim: SimulatorThread) -> None:
    """The sync credential goes through MSAL, which validates unknown authority hosts against
    login.microsoftonline.com unless instance discovery is disabled (as for Azure Stack)."""
    from azure.identity import ClientSecretCredential

    cred = ClientSecretCredential(
        TENANT,
        CLIENT,
        SECRET,
        authority=sim.url,
        disable_instance_discovery=True,
        connection_verify=sim.ca_file,
    )
    assert _claims(cred.get_token(ARM_SCOPE).token)["appid"] == CLIENT


async def _raw_get(sim: SimulatorThread, path: str, token: str | None) -> tuple[int, dict[str, Any], Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    ctx = ssl.create_default_context(cafile=sim.ca_file)
    async with aiohttp.ClientSession() as http, http.get(sim.url + path, headers=headers, ssl=ctx) as resp:
        return resp.status, dict(resp.headers), await resp.json()


async def test_arm_rejects_bad_tokens(sim: SimulatorThread) -> None:
    path = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/images/x"
    path += "?api-version=2026-04-01"
    status, headers, body = await _raw_get(sim, path, None)
    assert status == 401
    assert body["error"]["code"] == "AuthenticationFailed"
    assert headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    status, _, body = await _raw_get(sim, path, "not.a.jwt")
    assert status == 401
    assert body["error"]["code"] == "InvalidAuthenticationToken"
    principal = sim.sim.world.principals[CLIENT]
    vault = sim.sim.issuer.issue(principal, "https://vault.azure.net")
    status, _, body = await _raw_get(sim, path, vault)
    assert status == 401
    assert body["error"]["code"] == "InvalidAuthenticationTokenAudience"


async def test_rbac(sim: SimulatorThread) -> None:
    async with credential(sim, client=NOBODY, secret="nobody-secret") as c, compute_client(sim, c) as compute:
        with pytest.raises(HttpResponseError) as exc:
            await compute.virtual_machines.get(RG, "prep-vm")
    assert exc.value.status_code == 403
    assert exc.value.error.code == "AuthorizationFailed"
    msg = exc.value.error.message
    assert NOBODY in msg
    assert "Microsoft.Compute/virtualMachines/read" in msg
    assert (
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/prep-vm" in msg
    )
    async with credential(sim, client=READER, secret="reader-secret") as c, batch_client(sim, c) as batch:
        await batch.batch_account.get(BATCH_RG, ACCOUNT)
        with pytest.raises(HttpResponseError) as exc:
            await batch.pool.create(BATCH_RG, ACCOUNT, "p", pool_body())
    assert exc.value.status_code == 403
    assert "Microsoft.Batch/batchAccounts/pools/write" in exc.value.error.message
