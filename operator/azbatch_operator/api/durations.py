"""ISO-8601 durations as Azure Batch uses them (``PT25M``, ``PT1H30M``, ``P1D``).

Batch takes ``resizeTimeout`` and ``evaluationInterval`` as ISO-8601 durations; the CRD keeps the same
strings so users copy values straight from Azure docs.  Years and months are rejected: they have no
fixed length, and Batch does not accept them either.
"""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(
    r"^P(?!$)(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d{1,6})?)S)?)?$"
)


class InvalidDuration(ValueError):
    """The text is not an ISO-8601 duration of the form ``P[nW][nD][T[nH][nM][nS]]``."""


def parse_duration(text: str) -> timedelta:
    """Parse ``PT25M`` -> ``timedelta(minutes=25)``; raises :class:`InvalidDuration` with the text."""
    match = _DURATION.match(text.strip().upper()) if isinstance(text, str) else None
    if match is None:
        raise InvalidDuration(
            f"{text!r} is not an ISO-8601 duration such as PT25M, PT1H30M or P1D (years/months not allowed)"
        )
    parts = {k: float(v) if v else 0.0 for k, v in match.groupdict().items()}
    return timedelta(
        weeks=parts["weeks"],
        days=parts["days"],
        hours=parts["hours"],
        minutes=parts["minutes"],
        seconds=parts["seconds"],
    )


def format_duration(value: timedelta) -> str:
    """Canonical form: ``timedelta(hours=1, minutes=30)`` -> ``PT1H30M``; zero -> ``PT0S``.

    Weeks are folded into days so that ``format_duration(parse_duration(s))`` is a fixed point.
    """
    if value < timedelta(0):
        raise InvalidDuration(f"negative durations are not allowed: {value}")
    micro_total = value // timedelta(microseconds=1)
    total_seconds, micro = divmod(micro_total, 1_000_000)
    days, rest = divmod(total_seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    out = "P"
    if days:
        out += f"{days}D"
    time = ""
    if hours:
        time += f"{hours}H"
    if minutes:
        time += f"{minutes}M"
    if seconds or micro:
        time += f"{seconds}.{micro:06d}".rstrip("0").rstrip(".") + "S" if micro else f"{seconds}S"
    if time:
        out += "T" + time
    return out if out != "P" else "PT0S"
