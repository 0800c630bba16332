"""A small synchronous client for the /_sim/ admin API (stdlib only: usable from any process)."""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

JSON = dict[str, Any]


class AdminError(RuntimeError):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"azuresim admin API returned {status}: {body}")
        self.status = status
        self.body = body


class AdminClient:
    """`AdminClient(url, ca_file)`; or `AdminClient.from_state_dir(dir)` which reads ready.json."""

    def __init__(self, url: str, ca_file: str | Path, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.ca_file = str(ca_file)
        self.timeout = timeout
        self._ctx = ssl.create_default_context(cafile=self.ca_file)

    @classmethod
    def from_state_dir(cls, state_dir: str | Path, wait: float = 30.0) -> AdminClient:
        ready = wait_ready(state_dir, wait)
        return cls(ready["url"], ready["caFile"])

    def _call(self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None) -> Any:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self._ctx, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise AdminError(exc.code, exc.read().decode(errors="replace")) from exc
        return json.loads(raw) if raw else None

    # -- world
    def seed(self, world: JSON) -> JSON:
        result: JSON = self._call("POST", "/_sim/seed", world)
        return result

    def world(self) -> JSON:
        result: JSON = self._call("GET", "/_sim/world")
        return result

    def env(self) -> dict[str, str]:
        """The AZURE_* variables for the first tenant's first principal and first subscription."""
        result: dict[str, str] = self._call("GET", "/_sim/env")
        return result

    def health(self) -> bool:
        try:
            return bool(self._call("GET", "/_sim/health"))
        except (OSError, AdminError):
            return False

    # -- resources
    def resources(self, type: str | None = None) -> list[JSON]:
        result: list[JSON] = self._call("GET", "/_sim/resources", query={"type": type} if type else None)
        return result

    def resource(self, rid: str) -> JSON | None:
        for r in self.resources():
            if str(r["id"]).lower() == rid.lower():
                return r
        return None

    def delete_resource(self, rid: str) -> JSON:
        result: JSON = self._call("DELETE", "/_sim/resources", query={"id": rid})
        return result

    def set_nodes(self, pool_id: str, state: str, count: int, **extra: Any) -> JSON:
        """Put ``count`` nodes of a pool into a Batch node state (``code``, ``message``, ``exitCode``)."""
        result: JSON = self._call(
            "POST", "/_sim/nodes", {"poolId": pool_id, "state": state, "count": count, **extra}
        )
        return result

    def nodes(self, pool_id: str) -> JSON:
        """``{nodeCounts, special}``: the data plane's node counts of a pool and its non-idle nodes."""
        result: JSON = self._call("GET", "/_sim/nodes", query={"poolId": pool_id})
        return result

    def patch_resource(self, rid: str, properties: JSON, tags: dict[str, str] | None = None) -> JSON:
        body: JSON = {"properties": properties}
        if tags is not None:
            body["tags"] = tags
        result: JSON = self._call("PATCH", "/_sim/resources", body, query={"id": rid})
        return result

    # -- faults
    def faults(self, *rules: JSON, **rule: Any) -> list[JSON]:
        """Add fault rules: `faults({"pathRegex": ..., "status": 429, "count": 1})` or keyword form."""
        specs = list(rules) + ([rule] if rule else [])
        result: list[JSON] = self._call("POST", "/_sim/faults", specs)
        return result

    def list_faults(self) -> list[JSON]:
        result: list[JSON] = self._call("GET", "/_sim/faults")
        return result

    def clear_faults(self) -> None:
        self._call("DELETE", "/_sim/faults")

    # -- requests
    def requests(self) -> JSON:
        result: JSON = self._call("GET", "/_sim/requests")
        return result

    def reset_requests(self) -> None:
        self._call("DELETE", "/_sim/requests")

    # -- clock
    def clock(self, time_scale: float | None = None, advance_seconds: float | None = None) -> JSON:
        if time_scale is None and advance_seconds is None:
            got: JSON = self._call("GET", "/_sim/clock")
            return got
        body: JSON = {}
        if time_scale is not None:
            body["timeScale"] = time_scale
        if advance_seconds is not None:
            body["advanceSeconds"] = advance_seconds
        result: JSON = self._call("POST", "/_sim/clock", body)
        return result


def wait_ready(state_dir: str | Path, timeout: float = 30.0) -> JSON:
    """Wait for `<state_dir>/ready.json` (written atomically once the server listens) and return it."""
    path = Path(state_dir) / "ready.json"
    deadline = time.monotonic() + timeout
    while True:
        try:
            data: JSON = json.loads(path.read_text())
            return data
        except (FileNotFoundError, ValueError):
            if time.monotonic() > deadline:
                raise TimeoutError(f"azuresim did not become ready: {path} missing") from None
            time.sleep(0.05)
