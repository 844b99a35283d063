"""Child processes: each in its own process group, always stopped; and the RSS of a process tree from /proc.

Every process the harness starts goes through :func:`spawn`, which records it; :func:`stop_all` (called from the
harness's ``finally`` and on SIGTERM/SIGINT) kills every group still alive, so no server outlives a run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

_children: list[subprocess.Popen[bytes]] = []

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


def spawn(command: Sequence[str], env: Mapping[str, str], cwd: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new process group, stdout and stderr to ``log_path`` (truncated first)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        # A file, not a pipe: a chatty server can never block on a pipe nobody reads.
        process = subprocess.Popen(
            list(command), cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    _children.append(process)
    return process


def stop(process: subprocess.Popen[bytes], grace_seconds: float = 10.0) -> None:
    """SIGTERM the process group, wait up to ``grace_seconds``, then SIGKILL whatever is left of the group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace_seconds)
    # Workers of a master that died first keep the group alive: kill the group unconditionally.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(5)
    if process in _children:
        _children.remove(process)


def stop_all() -> None:
    """Stop every process group started by :func:`spawn` that is still recorded."""
    for process in list(reversed(_children)):
        stop(process, grace_seconds=3.0)


@contextlib.contextmanager
def running(
    command: Sequence[str], env: Mapping[str, str], cwd: Path, log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """:func:`spawn` for the duration of a ``with`` block, stopped however the block ends."""
    process = spawn(command, env, cwd, log_path)
    try:
        yield process
    finally:
        stop(process)


def _children_map() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        # Field 4 is the parent pid; field 2 (the command) may contain spaces, so split after its ')'.
        ppid = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _tree(root_pid: int) -> Iterator[int]:
    """``root_pid`` and all its descendants."""
    tree = _children_map()
    stack = [root_pid]
    while stack:
        pid = stack.pop()
        yield pid
        stack.extend(tree.get(pid, ()))


def tree_rss_bytes(root_pid: int) -> int:
    """Sum of the resident set sizes of ``root_pid`` and all its descendants (0 if it is gone)."""
    total = 0
    for pid in _tree(root_pid):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES
        except (OSError, IndexError, ValueError):
            continue
    return total


def tree_cpu_seconds(root_pid: int) -> float:
    """User + system CPU used so far by ``root_pid`` and its living descendants."""
    ticks = 0
    for pid in _tree(root_pid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            ticks += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return ticks / os.sysconf("SC_CLK_TCK")


class RssSampler:
    """Samples :func:`tree_rss_bytes` every ``interval`` seconds in a thread while in a ``with`` block."""

    def __init__(self, root_pid: int, interval: float = 0.1) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.peak_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, tree_rss_bytes(self.root_pid))
            self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
