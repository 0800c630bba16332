"""In-process simulator for tests: `SimulatorThread` runs the server in a background thread."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from pathlib import Path
from typing import Any

from azuresim.admin import AdminClient
from azuresim.server import Simulator

JSON = dict[str, Any]


class SimulatorThread:
    """Start with `start()` (or use as a context manager); talk to it through the admin API.

    >>> with SimulatorThread(world) as sim:
    ...     sim.url, sim.ca_file, sim.env()
    """

    def __init__(
        self, world: JSON | None = None, time_scale: float = 1.0, state_dir: str | Path | None = None
    ) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="azuresim-") if state_dir is None else None
        self.state_dir = Path(state_dir) if state_dir is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self.sim = Simulator(self.state_dir, world, time_scale)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.admin: AdminClient | None = None

    def start(self) -> SimulatorThread:
        self._thread = threading.Thread(target=self._run, name="azuresim", daemon=True)
        self._thread.start()
        if not self._ready.wait(30):
            raise TimeoutError("azuresim did not start")
        if self._error is not None:
            raise RuntimeError("azuresim failed to start") from self._error
        self.admin = AdminClient(self.url, self.ca_file)
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.sim.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(self.sim.stop())
        loop.close()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ convenience
    @property
    def url(self) -> str:
        return self.sim.url

    @property
    def ca_file(self) -> str:
        return self.sim.ca_file

    def env(self) -> dict[str, str]:
        return self._client().env()

    def _client(self) -> AdminClient:
        assert self.admin is not None, "SimulatorThread not started"
        return self.admin

    def seed(self, world: JSON) -> JSON:
        return self._client().seed(world)

    def resources(self, type: str | None = None) -> list[JSON]:
        return self._client().resources(type)

    def resource(self, rid: str) -> JSON | None:
        return self._client().resource(rid)

    def delete_resource(self, rid: str) -> JSON:
        return self._client().delete_resource(rid)

    def patch_resource(self, rid: str, properties: JSON) -> JSON:
        return self._client().patch_resource(rid, properties)

    def requests(self) -> JSON:
        return self._client().requests()

    def reset_requests(self) -> None:
        self._client().reset_requests()

    def faults(self, *rules: JSON, **rule: Any) -> list[JSON]:
        return self._client().faults(*rules, **rule)

    def clear_faults(self) -> None:
        self._client().clear_faults()

    def clock(self, time_scale: float | None = None, advance_seconds: float | None = None) -> JSON:
        return self._client().clock(time_scale, advance_seconds)
