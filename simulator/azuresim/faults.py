"""Fault injection rules: errors, latency and dropped connections on matching requests."""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from azuresim.errors import JSON

DEFAULT_CODES = {
    429: ("TooManyRequests", "The request is being throttled (injected fault)."),
    500: ("InternalServerError", "Encountered internal server error (injected fault)."),
    502: ("BadGateway", "The gateway did not receive a response (injected fault)."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable (injected fault)."),
    504: (
        "GatewayTimeout",
        "The gateway did not receive a response within the specified time (injected fault).",
    ),
    409: ("Conflict", "Operation conflicts with another operation (injected fault)."),
}


@dataclass
class Fault:
    id: str
    path_regex: re.Pattern[str]
    method: str | None = None
    status: int | None = None
    rate: float | None = None
    count: int | None = None
    retry_after: int | None = None
    delay_ms: int = 0
    drop: bool = False
    code: str | None = None
    message: str | None = None
    principal: str | None = None
    fired: int = 0
    extra: JSON = field(default_factory=dict)
    #: `rate` draws from this rule's own generator; with a `seed` the same requests fire each run.
    seed: int | None = None
    rng: random.Random = field(default_factory=random.Random)

    def matches(self, method: str, path: str, principal: str | None) -> bool:
        if self.count is not None and self.fired >= self.count:
            return False
        if self.method and self.method.upper() not in ("*", method.upper()):
            return False
        if self.principal and (principal or "").lower() != self.principal.lower():
            return False
        if not self.path_regex.search(path):
            return False
        return not (self.rate is not None and self.rng.random() >= self.rate)

    def describe(self) -> JSON:
        return {
            "id": self.id,
            "method": self.method,
            "pathRegex": self.path_regex.pattern,
            "status": self.status,
            "rate": self.rate,
            "count": self.count,
            "retryAfter": self.retry_after,
            "delayMs": self.delay_ms,
            "drop": self.drop,
            "code": self.code,
            "principal": self.principal,
            "fired": self.fired,
            "seed": self.seed,
        }


class Faults:
    def __init__(self) -> None:
        self.rules: list[Fault] = []

    def add(self, spec: dict[str, Any]) -> Fault:
        if "pathRegex" not in spec:
            raise ValueError("pathRegex is required")
        count = spec.get("count", spec.get("times"))
        fault = Fault(
            id=str(spec.get("id") or uuid.uuid4()),
            path_regex=re.compile(str(spec["pathRegex"]), re.IGNORECASE),
            method=spec.get("method"),
            status=int(spec["status"]) if spec.get("status") is not None else None,
            rate=float(spec["rate"]) if spec.get("rate") is not None else None,
            count=int(count) if count is not None else None,
            retry_after=int(spec["retryAfter"]) if spec.get("retryAfter") is not None else None,
            delay_ms=int(spec.get("delayMs") or 0),
            drop=bool(spec.get("drop", False)),
            code=spec.get("code"),
            message=spec.get("message"),
            principal=spec.get("principal"),
        )
        if spec.get("seed") is not None:
            fault.seed = int(spec["seed"])
            fault.rng = random.Random(fault.seed)
        if fault.status is None and not fault.drop and not fault.delay_ms:
            raise ValueError("a fault needs status, delayMs or drop")
        self.rules.append(fault)
        return fault

    def clear(self) -> None:
        self.rules.clear()

    def match(self, method: str, path: str, principal: str | None) -> Fault | None:
        for rule in self.rules:
            if rule.matches(method, path, principal):
                rule.fired += 1
                return rule
        return None

    def error_body(self, fault: Fault) -> tuple[JSON, dict[str, str]]:
        status = fault.status or 500
        code, message = DEFAULT_CODES.get(status, ("InjectedFault", "Injected fault."))
        headers: dict[str, str] = {}
        if status in (429, 503) or fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after if fault.retry_after is not None else 1)
        return {"error": {"code": fault.code or code, "message": fault.message or message}}, headers
