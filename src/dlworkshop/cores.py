"""How many cores this process may really use: its CPU affinity and its cgroup's quota.

`os.cpu_count()` counts the host's cores; an ECS task or a `docker run --cpus 1` is
limited to fewer, and one model worker or training replica per counted core would then
share a core and run slower than one alone.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def _quota(root: Path = CGROUP) -> float | None:
    """The cgroup's CPU limit in cores (v2's cpu.max or v1's CFS quota), or None."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def available(root: Path = CGROUP) -> int:
    """Cores this process may use: at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = _quota(root)
    if quota is not None:
        cores = min(cores, math.ceil(quota))
    return max(1, cores)
