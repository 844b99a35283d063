"""The load generator: ``wrk`` (Debian's package) driving ``predict.lua``, one fixed JSON body per request.

``wrk -t min(C, 2) -c C -d D --timeout T -s predict.lua URL -- body.json``: closed loop, C connections kept alive.
The Lua script prints one ``BENCH_RESULT {...}`` line (percentiles, non-2xx, socket errors) that is parsed here.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks import procs

LUA_SCRIPT = Path(__file__).with_name("predict.lua")
RESULT_MARK = "BENCH_RESULT "


@dataclass
class LoadResult:
    """One measured run against one server at one concurrency (or the median of several: ``rounds``)."""

    concurrency: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    non2xx: int
    socket_errors: int
    timeouts: int
    generator: str
    peak_rss_bytes: int = 0
    rounds: int = 1

    @property
    def littles_law_ms(self) -> float:
        """Mean latency implied by Little's law for a closed loop: connections ÷ throughput."""
        return self.concurrency / self.rps * 1e3 if self.rps else float("inf")

    @property
    def percentiles_truncated(self) -> bool:
        """True when the percentiles understate latency: requests timed out, or so many were still in flight at
        the end (wrk counts only completed ones) that the implied mean latency exceeds the measured p99."""
        return self.timeouts > 0 or self.littles_law_ms > self.p99_ms

    @property
    def errors(self) -> int:
        """Non-2xx responses plus socket errors (connect, read, write, timeout)."""
        return self.non2xx + self.socket_errors


def find_wrk(install: bool = True) -> str | None:
    """Path of ``wrk``; when missing and running as root, ``apt-get install -y wrk`` first. None if unavailable."""
    found = shutil.which("wrk")
    if found or not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    print("wrk not found: installing Debian's package (apt-get install -y wrk)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
        try:
            subprocess.run(command, env=env, check=True, timeout=300, capture_output=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            print(f"could not install wrk ({exc}); falling back to the Python load generator", flush=True)
            return None
    return shutil.which("wrk")


def wrk_version(wrk: str) -> str:
    """wrk's version line (it prints it with usage and exits non-zero)."""
    out = subprocess.run([wrk, "--version"], capture_output=True, text=True, timeout=10)
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0].split(" Copyright")[0] if text else "wrk (unknown version)"


def wrk_threads(concurrency: int) -> int:
    """wrk threads for a concurrency: one per connection, at most two (the machine has two cores)."""
    return min(concurrency, 2)


def run_wrk(wrk: str, url: str, body_path: Path, concurrency: int, duration_s: float, timeout_s: float) -> LoadResult:
    """Run wrk once against ``url`` and return its parsed result; the wrk process is always stopped."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        log_path = Path(tmp) / "wrk.out"
        command = [
            wrk,
            "-t",
            str(wrk_threads(concurrency)),
            "-c",
            str(concurrency),
            "-d",
            f"{duration_s:g}s",
            "--timeout",
            f"{timeout_s:g}s",
            "-s",
            str(LUA_SCRIPT),
            url,
            "--",
            str(body_path.resolve()),
        ]
        process = procs.spawn(command, os.environ, Path(tmp), log_path)
        try:
            process.wait(duration_s + timeout_s + 30)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"wrk did not finish within {duration_s + timeout_s + 30:.0f}s") from None
        finally:
            procs.stop(process)
        output = log_path.read_text(errors="replace")
    return parse_wrk(output, concurrency)


def parse_wrk(output: str, concurrency: int) -> LoadResult:
    """Parse the ``BENCH_RESULT`` line printed by ``predict.lua``."""
    lines = [line for line in output.splitlines() if line.startswith(RESULT_MARK)]
    if not lines:
        raise RuntimeError(f"wrk printed no result line:\n{output[-2000:]}")
    r = json.loads(lines[-1][len(RESULT_MARK) :])
    duration_s = r["duration_us"] / 1e6
    return LoadResult(
        concurrency=concurrency,
        duration_s=duration_s,
        requests=r["requests"],
        rps=r["requests"] / duration_s if duration_s else 0.0,  # completed requests, non-2xx included
        p50_ms=r["p50_us"] / 1e3,
        p90_ms=r["p90_us"] / 1e3,
        p99_ms=r["p99_us"] / 1e3,
        max_ms=r["max_us"] / 1e3,
        non2xx=r["non2xx"],
        socket_errors=r["connect_errors"] + r["read_errors"] + r["write_errors"] + r["timeout_errors"],
        timeouts=r["timeout_errors"],
        generator="wrk",
    )


def median_of(runs: list[LoadResult]) -> LoadResult:
    """Combine repeated runs at one concurrency: medians of req/s and of each percentile, errors summed over the
    runs, the highest peak RSS."""
    if len(runs) == 1:
        return runs[0]

    def median(field: str) -> float:
        return statistics.median(getattr(r, field) for r in runs)

    return LoadResult(
        concurrency=runs[0].concurrency,
        duration_s=sum(r.duration_s for r in runs),
        requests=sum(r.requests for r in runs),
        rps=median("rps"),
        p50_ms=median("p50_ms"),
        p90_ms=median("p90_ms"),
        p99_ms=median("p99_ms"),
        max_ms=max(r.max_ms for r in runs),
        non2xx=sum(r.non2xx for r in runs),
        socket_errors=sum(r.socket_errors for r in runs),
        timeouts=sum(r.timeouts for r in runs),
        generator=runs[0].generator,
        peak_rss_bytes=max(r.peak_rss_bytes for r in runs),
        rounds=len(runs),
    )
