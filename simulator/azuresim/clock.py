"""Simulated time: real time scaled by a factor, plus explicit advances."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class SimClock:
    """`now()` returns simulated epoch seconds.

    One real second is `time_scale` simulated seconds; `advance(s)` jumps forward. Simulated time
    starts at the real wall-clock time so timestamps look plausible.
    """

    def __init__(self, time_scale: float = 1.0) -> None:
        self._lock = threading.Lock()
        self._scale = float(time_scale)
        self._base_real = time.monotonic()
        self._base_sim = time.time()

    @property
    def time_scale(self) -> float:
        return self._scale

    def now(self) -> float:
        return self._base_sim + (time.monotonic() - self._base_real) * self._scale

    def set_scale(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError("timeScale must be > 0")
        with self._lock:
            self._base_sim = self.now()
            self._base_real = time.monotonic()
            self._scale = float(scale)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("advanceSeconds must be >= 0")
        with self._lock:
            self._base_sim += seconds

    def real_seconds(self, sim_seconds: float) -> float:
        """How many real seconds `sim_seconds` of simulated time take at the current scale."""
        return sim_seconds / self._scale


def iso(ts: float) -> str:
    """ARM-style UTC timestamp with 7 fractional digits, e.g. 2024-01-01T00:00:00.1234567Z."""
    dt = datetime.fromtimestamp(ts, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond:06d}0Z"


def parse_duration(value: str | None, default: float) -> float:
    """Parse an ISO 8601 duration such as PT25M, PT1H30M, P1DT2H, PT45.5S into seconds."""
    if not value:
        return default
    import re

    m = re.fullmatch(
        r"P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?"
        r"(?:(?P<s>\d+(?:\.\d+)?)S)?)?",
        value.strip().upper(),
    )
    if not m or value.strip().upper() in ("P", "PT"):
        raise ValueError(f"invalid ISO 8601 duration {value!r}")
    parts = {k: float(v) if v else 0.0 for k, v in m.groupdict().items()}
    return parts["d"] * 86400 + parts["h"] * 3600 + parts["m"] * 60 + parts["s"]
