"""Peak RSS and CPU seconds of a process from /proc (psutil is not installed)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcStat:
    peak_rss_mib: float
    rss_mib: float
    cpu_seconds: float


def read(pid: int) -> ProcStat:
    hwm = rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            hwm = int(line.split()[1])
        elif line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    # Fields after the command: state is [0]; utime and stime are fields 14 and 15 of stat(5).
    utime, stime = int(fields[11]), int(fields[12])
    return ProcStat(hwm / 1024, rss / 1024, (utime + stime) / _TICKS)
