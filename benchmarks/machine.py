"""What the numbers were measured on: CPU, memory, kernel, load, package versions and the git commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "tensorflow-cpu",
    "keras",
    "numpy",
    "flask",
    "gunicorn",
    "orjson",
    "google-cloud-storage",
    "gcp-storage-emulator",
    "matplotlib",
)


def _first_match(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[-1].split("=", 1)[-1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


def _git(root: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def describe(root: Path) -> dict[str, str]:
    """A flat description of this machine and software, for the report."""
    mem_kib = _first_match("/proc/meminfo", "MemTotal").split()[0]
    info = {
        "cpu": _first_match("/proc/cpuinfo", "model name"),
        "cores": f"{len(os.sched_getaffinity(0))} usable ({os.cpu_count()} online)",
        "memory": f"{int(mem_kib) / 2**20:.1f} GiB" if mem_kib.isdigit() else "unknown",
        "os": _first_match("/etc/os-release", "PRETTY_NAME"),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
    for package in PACKAGES:
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = "not installed"
    commit = _git(root, "rev-parse", "--short", "HEAD")
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no")
    info["git commit"] = f"{commit}{' + uncommitted changes' if dirty else ''}" if commit else "unknown"
    return info


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, e.g. ``2.10 1.80 1.50``."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds() -> tuple[float, float]:
    """(CPU seconds all processes have used since boot, CPU seconds used by this process and its reaped children).

    The difference of two readings, divided by wall time and cores, tells how busy other work kept the machine.
    """
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    own = os.times()
    return (
        (user + nice + system + irq + softirq + steal) / ticks,
        own.user + own.system + own.children_user + own.children_system,
    )
