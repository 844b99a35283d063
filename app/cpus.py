"""How many CPUs this process may actually use: what sizes the worker count and TensorFlow's thread pools.

``os.cpu_count()`` reports the host's cores, which on Cloud Run or Kubernetes can be many more than the container
may use. The usable count is the CPU affinity mask, further capped by a cgroup CPU quota (cgroup v2 ``cpu.max``
or v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``), rounded up: a 1.5-CPU quota gives 2.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

_CGROUP = Path("/sys/fs/cgroup")


def usable_cpus(cgroup_root: Path = _CGROUP) -> int:
    """CPUs in this process's affinity mask, capped by the cgroup CPU quota if one is set; at least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        count = os.cpu_count() or 1
    quota = cgroup_quota(cgroup_root)
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def cgroup_quota(root: Path = _CGROUP) -> float | None:
    """The CPU quota in CPUs (e.g. 2.0), or None when there is none or it cannot be read."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]  # cgroup v2: "max 100000" or "200000 100000"
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())  # cgroup v1: -1 means no quota
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None
