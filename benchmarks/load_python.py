"""Fallback load generator, used only when wrk cannot be had: C threads, each a kept-alive HTTP connection.

Same closed loop as wrk (each connection sends its next request when the previous answer arrives), but the client
runs under the GIL on the server's own two cores, so it saturates earlier than wrk: the report says which was used.
"""

from __future__ import annotations

import http.client
import threading
import time
from pathlib import Path

from benchmarks.load import LoadResult


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def run_threads(
    port: int, path: str, body_path: Path, concurrency: int, duration_s: float, timeout_s: float
) -> LoadResult:
    """Drive ``POST path`` on ``127.0.0.1:port`` from ``concurrency`` threads for ``duration_s`` seconds."""
    body = body_path.read_bytes()
    headers = {"Content-Type": "application/json"}
    latencies: list[float] = []
    counts = {"non2xx": 0, "socket": 0, "timeouts": 0}
    lock = threading.Lock()
    deadline = time.monotonic() + duration_s

    def worker() -> None:
        mine: list[float] = []
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
        while time.monotonic() < deadline:
            sent = time.perf_counter()
            try:
                conn.request("POST", path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    counts["timeouts" if isinstance(exc, TimeoutError) else "socket"] += 1
                conn.close()
                continue
            mine.append(time.perf_counter() - sent)
            if not 200 <= response.status <= 299:
                with lock:
                    counts["non2xx"] += 1
        conn.close()
        with lock:
            latencies.extend(mine)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration_s + timeout_s + 5)
    elapsed = time.monotonic() - started
    ordered = sorted(latencies)
    return LoadResult(
        concurrency=concurrency,
        duration_s=elapsed,
        requests=len(ordered),
        rps=len(ordered) / elapsed,
        p50_ms=_percentile(ordered, 50) * 1e3,
        p90_ms=_percentile(ordered, 90) * 1e3,
        p99_ms=_percentile(ordered, 99) * 1e3,
        max_ms=(ordered[-1] if ordered else 0.0) * 1e3,
        non2xx=counts["non2xx"],
        socket_errors=counts["socket"] + counts["timeouts"],
        timeouts=counts["timeouts"],
        generator="python-threads",
    )
