"""ARM error envelope and small HTTP helpers."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

JSON = dict[str, Any]


class ArmError(Exception):
    """An error answered with ARM's `{"error": {"code", "message", "target", "details"}}` body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        details: list[JSON] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.details = details
        self.headers = headers or {}

    def body(self) -> JSON:
        err: JSON = {"code": self.code, "message": self.message}
        if self.target is not None:
            err["target"] = self.target
        if self.details is not None:
            err["details"] = self.details
        return {"error": err}

    def response(self) -> web.Response:
        return json_response(self.body(), status=self.status, headers=self.headers)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )


def not_found(rtype: str, name: str, rg: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{rtype}/{name}' under resource group '{rg}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def parent_not_found(parent_name: str) -> ArmError:
    return ArmError(
        404,
        "ParentResourceNotFound",
        f"Can not perform requested operation on nested resource. Parent resource '{parent_name}' not found.",
    )


def invalid_body(message: str, target: str | None = None) -> ArmError:
    return ArmError(400, "InvalidRequestContent", message, target=target)


def deep_merge(dst: JSON, src: JSON) -> JSON:
    """Merge `src` into `dst` recursively (dicts merge, everything else replaces); returns dst."""
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = v
    return dst


OPERATION_KEY = web.RequestKey("azuresim_operation", str)
PRINCIPAL_KEY = web.RequestKey("azuresim_principal", str)
RATELIMIT_KEY = web.RequestKey("azuresim_ratelimit", tuple)
