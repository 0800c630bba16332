"""Entra ID (token endpoint, OIDC metadata) and ARM bearer-token validation + RBAC."""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from azuresim.errors import JSON, PRINCIPAL_KEY, ArmError, json_response
from azuresim.world import Principal, World

ARM_AUDIENCES = (
    "https://management.azure.com/",
    "https://management.azure.com",
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
)
FEDERATED_AUDIENCE = "api://AzureADTokenExchange"
#: The Batch data plane's resource (azuresim.dataplane); ARM itself refuses tokens for it.
BATCH_AUDIENCES = ("https://batch.core.windows.net/", "https://batch.core.windows.net")
TOKEN_LIFETIME = 3600


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def decode_unverified(token: str) -> tuple[JSON, JSON, bytes, bytes]:
    """(header, claims, signing input, signature) of a compact JWS; raises ValueError if malformed."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    header = json.loads(b64url_decode(parts[0]))
    claims = json.loads(b64url_decode(parts[1]))
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("not a JWT")
    return header, claims, f"{parts[0]}.{parts[1]}".encode(), b64url_decode(parts[2])


@dataclass
class Caller:
    client_id: str
    object_id: str
    tenant: str


class TokenIssuer:
    """Signs RS256 access tokens and validates them (with a small cache of validated tokens)."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = b64url(uuid.uuid4().bytes)
        self._cache: dict[str, tuple[JSON, float]] = {}

    def jwks(self) -> JSON:
        nums = self._key.public_key().public_numbers()
        n = nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big")
        e = nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")
        return {
            "keys": [
                {"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": b64url(n), "e": b64url(e)}
            ]
        }

    def issue(self, principal: Principal, audience: str) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "kid": self.kid, "x5t": self.kid}
        claims = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{principal.tenant}/",
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "aio": b64url(uuid.uuid4().bytes),
            "appid": principal.client_id,
            "appidacr": "1",
            "idp": f"https://sts.windows.net/{principal.tenant}/",
            "idtyp": "app",
            "oid": principal.object_id,
            "sub": principal.object_id,
            "tid": principal.tenant,
            "uti": b64url(uuid.uuid4().bytes),
            "ver": "1.0",
        }
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        sig = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(sig)

    def validate(self, token: str, allowed_audiences: tuple[str, ...]) -> JSON:
        """Return the claims or raise ArmError(401) the way ARM words it."""
        now = time.time()
        cached = self._cache.get(token)
        if cached is None:
            try:
                header, claims, signing_input, sig = decode_unverified(token)
                if header.get("alg") != "RS256":
                    raise ValueError("alg")
                self._key.public_key().verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
            except (ValueError, InvalidSignature, UnicodeDecodeError) as exc:
                raise _unauthorized(
                    "InvalidAuthenticationToken",
                    "The access token is invalid.",
                    "The access token is invalid or its signature could not be verified.",
                ) from exc
            if len(self._cache) > 10000:
                self._cache.clear()
            cached = (claims, float(claims.get("exp", 0)))
            self._cache[token] = cached
        claims, exp = cached
        if exp <= now:
            exp_s = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(exp))
            now_s = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(now))
            raise _unauthorized(
                "ExpiredAuthenticationToken",
                f"The access token expiry UTC time '{exp_s}' is earlier than current UTC time '{now_s}'.",
                "The access token expiry UTC time is earlier than current UTC time.",
            )
        aud = str(claims.get("aud", ""))
        if aud not in allowed_audiences:
            allowed = ",".join(f"'{a}'" for a in ARM_AUDIENCES)
            raise _unauthorized(
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained for wrong audience or resource '{aud}'. It should "
                f"exactly match with one of the allowed audiences {allowed}.",
                "The access token has been obtained for wrong audience or resource.",
            )
        return claims


def _unauthorized(code: str, message: str, description: str) -> ArmError:
    return ArmError(
        401,
        code,
        message,
        headers={
            "WWW-Authenticate": (
                'Bearer authorization_uri="https://login.windows.net/", error="invalid_token", '
                f'error_description="{description}"'
            )
        },
    )


def missing_auth() -> ArmError:
    return _unauthorized(
        "AuthenticationFailed",
        "Authentication failed. The 'Authorization' header is missing.",
        "The authentication failed because of missing 'Authorization' header.",
    )


def bad_auth_scheme() -> ArmError:
    return _unauthorized(
        "AuthenticationFailed",
        "Authentication failed. The 'Authorization' header is provided in an invalid format.",
        "The authentication scheme of Basic is not supported.",
    )


# ---------------------------------------------------------------------------- Entra ID endpoints


def _entra_error(status: int, error: str, code: int, description: str, tenant: str = "") -> web.Response:
    trace, corr = str(uuid.uuid4()), str(uuid.uuid4())
    ts = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    body = {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description} Trace ID: {trace} Correlation ID: {corr} Timestamp: {ts}"
        ),
        "error_codes": [code],
        "timestamp": ts,
        "trace_id": trace,
        "correlation_id": corr,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }
    return json_response(body, status=status)


class Entra:
    def __init__(self, world: World, issuer: TokenIssuer) -> None:
        self.world = world
        self.issuer = issuer
        self.base_url = ""

    def allowed_audiences(self) -> tuple[str, ...]:
        own = self.base_url.rstrip("/")
        return (*ARM_AUDIENCES, own, own + "/")

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/common/discovery/instance", self.instance_discovery),
            web.get("/{tenant}/discovery/instance", self.instance_discovery),
            web.get("/{tenant}/v2.0/.well-known/openid-configuration", self.openid_configuration),
            web.get("/{tenant}/.well-known/openid-configuration", self.openid_configuration),
            web.get("/{tenant}/discovery/v2.0/keys", self.keys),
            web.get("/{tenant}/discovery/keys", self.keys),
            web.post("/{tenant}/oauth2/v2.0/token", self.token),
            web.post("/{tenant}/oauth2/token", self.token),
        ]

    def _host(self, request: web.Request) -> str:
        return self.base_url or f"{request.scheme}://{request.host}"

    async def instance_discovery(self, request: web.Request) -> web.Response:
        base = self._host(request)
        host = urlsplit(base).netloc
        tenant = request.match_info.get("tenant", "common")
        return json_response(
            {
                "tenant_discovery_endpoint": f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
            }
        )

    async def openid_configuration(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"].lower()
        base = self._host(request)
        if tenant not in self.world.tenants and tenant not in ("common", "organizations"):
            return _entra_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        return json_response(
            {
                "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/{tenant}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{base}/oidc/userinfo",
                "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{base}/{tenant}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid"],
                "kerberos_endpoint": f"{base}/{tenant}/kerberos",
                "tenant_region_scope": "EU",
                "cloud_instance_name": "microsoftonline.com",
                "cloud_graph_host_name": "graph.windows.net",
                "msgraph_host": "graph.microsoft.com",
                "rbac_url": "https://pas.windows.net",
            }
        )

    async def keys(self, request: web.Request) -> web.Response:
        return json_response(self.issuer.jwks())

    async def token(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"].lower()
        form = await request.post()
        data: dict[str, str] = {k: str(v) for k, v in form.items()}
        grant = data.get("grant_type", "")
        if tenant not in self.world.tenants:
            return _entra_error(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                "signing into the correct cloud.",
            )
        if grant != "client_credentials":
            return _entra_error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        client_id = data.get("client_id", "").lower()
        request[PRINCIPAL_KEY] = client_id
        if not client_id and request.headers.get("Authorization", "").startswith("Basic "):
            try:
                raw = base64.b64decode(request.headers["Authorization"][6:]).decode()
                client_id, _, secret = raw.partition(":")
                client_id = client_id.lower()
                data["client_secret"] = secret
            except ValueError:
                pass
        principal = self.world.tenants[tenant].get(client_id)
        if principal is None:
            return _entra_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'. This can "
                "happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant. You may have sent your authentication request to "
                "the wrong tenant.",
            )
        if "client_assertion" in data:
            failure = self._check_assertion(principal, data)
            if failure is not None:
                return failure
        elif "client_secret" in data:
            if principal.secret is None or data["client_secret"] != principal.secret:
                return _entra_error(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request "
                    "is the client "
                    f"secret value, not the client secret ID, for a secret added to app '{client_id}'.",
                )
        else:
            return _entra_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
            )
        scope = data.get("scope", "")
        audience = self._audience(scope)
        if audience is None:
            return _entra_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must "
                "have a scope "
                "value with /.default suffixed to the resource identifier (application ID URI).",
            )
        if audience not in self.allowed_audiences() and audience not in BATCH_AUDIENCES:
            return _entra_error(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {audience} was not found in the tenant named "
                f"{tenant}. This can "
                "happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant.",
            )
        token = self.issuer.issue(principal, audience)
        return json_response(
            {
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME - 1,
                "ext_expires_in": TOKEN_LIFETIME - 1,
                "access_token": token,
            }
        )

    @staticmethod
    def _audience(scope: str) -> str | None:
        scopes = scope.split()
        defaults = [s for s in scopes if s.endswith("/.default")]
        if not defaults:
            return None
        # scope = <resource>/.default; "https://management.core.windows.net//.default" names the
        # resource "https://management.core.windows.net/". v1 tokens carry the resource with a slash.
        resource = defaults[0][: -len("/.default")]
        return resource if resource.endswith("/") else resource + "/"

    def _check_assertion(self, principal: Principal, data: dict[str, str]) -> web.Response | None:
        if data.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return _entra_error(
                400,
                "invalid_request",
                50027,
                "Invalid JWT token. The client_assertion_type is not supported.",
            )
        try:
            _, claims, _, _ = decode_unverified(data["client_assertion"])
        except (ValueError, UnicodeDecodeError):
            return _entra_error(400, "invalid_client", 50027, "JWT token is invalid or malformed.")
        aud: Any = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        sub, iss = str(claims.get("sub", "")), str(claims.get("iss", ""))
        exp = float(claims.get("exp", 0) or 0)
        if exp and exp < time.time():
            return _entra_error(
                400, "invalid_client", 700024, "Client assertion is not within its valid time range."
            )
        allowed = principal.federated_subjects
        if FEDERATED_AUDIENCE not in auds or (allowed and sub not in allowed) or not sub:
            return _entra_error(
                400,
                "invalid_client",
                70021,
                "No matching federated identity record found for presented assertion. "
                f"Assertion Issuer: '{iss}'. Assertion Subject: '{sub}'. Assertion Audience: "
                f"'{','.join(map(str, auds))}'.",
            )
        return None


# ---------------------------------------------------------------------------- RBAC

ROLE_ALLOWS = {
    "owner": {"read", "write", "delete", "action"},
    "contributor": {"read", "write", "delete", "action"},
    "reader": {"read"},
    # Batch's built-in roles (learn.microsoft.com/azure/batch/batch-role-based-access-control),
    # which also govern the data plane's pool and node operations.
    "azure batch account contributor": {"read", "write", "delete", "action"},
    "azure batch data contributor": {"read", "write", "delete", "action"},
    "azure batch account reader": {"read"},
}


def authorize(world: World, caller: Caller, subscription: str, scope: str, verb: str, action: str) -> None:
    """Raise 403 AuthorizationFailed unless a role assignment over `scope` allows `verb`."""
    sub = world.subscription(subscription)
    scope_l = scope.lower().rstrip("/")
    if sub is not None:
        for ra in sub.role_assignments:
            if ra.principal != caller.client_id and ra.principal != caller.object_id:
                continue
            ra_scope = ra.scope.lower().rstrip("/")
            covers = scope_l == ra_scope or scope_l.startswith(ra_scope + "/")
            if covers and verb in ROLE_ALLOWS.get(ra.role.lower(), set()):
                return
    raise ArmError(
        403,
        "AuthorizationFailed",
        f"The client '{caller.client_id}' with object id '{caller.object_id}' does not have authorization to "
        f"perform action '{action}' over scope '{scope}' or the scope is invalid. If access was recently "
        "granted, please refresh your credentials.",
    )
