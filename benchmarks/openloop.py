"""An open-loop load generator: requests leave on a fixed schedule (``rate`` per second), whatever the server does.

wrk is closed-loop (a connection sends its next request only when the previous answer arrived), so an overloaded
server slows wrk down and never sees the extra load; wrk2 (the fixed-rate fork) is not packaged by Debian. Here one
asyncio event loop speaks HTTP/1.1 on raw keep-alive connections: request ``i`` is due at ``start + i / rate``, takes
an idle connection (or opens one, up to ``max_connections``; beyond that it waits for one) and its latency counts
from when it was *due*, not when it was sent, so a stalled server or a full pool cannot hide latency (no coordinated
omission). ``launch_lag`` (due → task started) measures the generator itself: if it grows, the generator, not the
server, is the bottleneck.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field

SHED_STATUSES = (429, 503)
# gunicorn closes a kept-alive connection after 5 s idle; reusing one that old would race its close.
MAX_IDLE_S = 4.0


@dataclass
class Outcome:
    """One request: when it was due, how late it left, how long it took from due to answered, what came back."""

    due: float
    launch_lag: float
    latency: float
    status: int = 0  # 0: no response (see ``error``)
    retry_after: bool = False
    error: str = ""  # connect (refused), reset, closed (EOF before a whole answer), timeout


@dataclass
class _Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = 0.0

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass
class OpenLoopRun:
    """The raw result of one run: every request's outcome plus the generator's own cost."""

    rate: float
    duration_s: float
    outcomes: list[Outcome] = field(default_factory=list)
    wall_s: float = 0.0
    cpu_s: float = 0.0  # this process's CPU time during the run
    connections_opened: int = 0
    peak_connections: int = 0
    pool_waits: int = 0  # requests that found every one of max_connections busy and waited for one
    errors: Counter[str] = field(default_factory=Counter)


def _request_bytes(host: str, port: int, path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nUser-Agent: benchmarks-soak\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bool]:
    """(status, Retry-After present, server will close) of one response; its body is read and discarded."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    await reader.readexactly(int(headers.get("content-length", "0")))
    return status, "retry-after" in headers, headers.get("connection", "").lower() == "close"


class _Generator:
    def __init__(
        self, host: str, port: int, path: str, body: bytes, run: OpenLoopRun, timeout_s: float, max_connections: int
    ) -> None:
        self.host, self.port = host, port
        self.request = _request_bytes(host, port, path, body)
        self.run = run
        self.timeout_s = timeout_s
        self.max_connections = max_connections
        self.idle: list[_Conn] = []  # LIFO: the most recently used connection is the least likely to be stale
        self.open = 0
        self.freed = asyncio.Condition()
        self.start = 0.0

    async def _acquire(self) -> _Conn:
        while True:
            while self.idle:
                conn = self.idle.pop()
                if time.monotonic() - conn.idle_since < MAX_IDLE_S and not conn.reader.at_eof():
                    return conn
                self._discard(conn)
            if self.open < self.max_connections:
                self.open += 1
                self.run.peak_connections = max(self.run.peak_connections, self.open)
                try:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                except BaseException:
                    self.open -= 1
                    raise
                self.run.connections_opened += 1
                return _Conn(reader, writer)
            self.run.pool_waits += 1
            async with self.freed:  # the caller's timeout bounds this wait
                await self.freed.wait()

    def _discard(self, conn: _Conn) -> None:
        conn.close()
        self.open -= 1

    async def _release(self, conn: _Conn, reusable: bool) -> None:
        if reusable:
            conn.idle_since = time.monotonic()
            self.idle.append(conn)
        else:
            self._discard(conn)
        async with self.freed:
            self.freed.notify()

    async def one(self, due: float) -> None:
        outcome = Outcome(due=due - self.start, launch_lag=time.monotonic() - due, latency=0.0)
        conn: _Conn | None = None
        closing = True
        try:
            async with asyncio.timeout(max(0.001, due + self.timeout_s - time.monotonic())):
                conn = await self._acquire()
                conn.writer.write(self.request)
                await conn.writer.drain()
                outcome.status, outcome.retry_after, closing = await _read_response(conn.reader)
        except TimeoutError:
            outcome.error = "timeout"
        except ConnectionRefusedError:
            outcome.error = "connect"
        except asyncio.IncompleteReadError:
            outcome.error = "closed"  # the server closed the connection without (a whole) answer
        except OSError:
            outcome.error = "reset" if conn is not None else "connect"
        outcome.latency = time.monotonic() - due
        if conn is not None:
            await self._release(conn, reusable=not (closing or outcome.error))
        if outcome.error:
            self.run.errors[outcome.error] += 1
        self.run.outcomes.append(outcome)

    async def drive(self) -> None:
        total = round(self.run.rate * self.run.duration_s)
        interval = 1.0 / self.run.rate
        self.start = time.monotonic()
        tasks: set[asyncio.Task[None]] = set()
        index = 0
        while index < total:
            # Launch everything due by now, then sleep until the next one is due (yielding to the requests).
            now = time.monotonic()
            while index < total and self.start + index * interval <= now:
                task = asyncio.create_task(self.one(self.start + index * interval))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                index += 1
            await asyncio.sleep(max(0.0, self.start + index * interval - time.monotonic()))
        if tasks:  # every request has its own timeout, so this wait is bounded
            await asyncio.wait(tasks, timeout=self.timeout_s + 5)
        for task in tasks:
            task.cancel()
        for conn in self.idle:
            conn.close()


def run_open_loop(
    host: str,
    port: int,
    path: str,
    body: bytes,
    rate: float,
    duration_s: float,
    timeout_s: float = 10.0,
    max_connections: int = 512,
) -> OpenLoopRun:
    """Send ``rate`` requests per second for ``duration_s`` seconds; every request is answered or times out."""
    if rate <= 0 or duration_s <= 0:
        raise ValueError("rate and duration must be positive")
    run = OpenLoopRun(rate=rate, duration_s=duration_s)
    generator = _Generator(host, port, path, body, run, timeout_s, max_connections)
    cpu, wall = time.process_time(), time.monotonic()
    asyncio.run(generator.drive())
    run.wall_s, run.cpu_s = time.monotonic() - wall, time.process_time() - cpu
    return run
