"""Summaries of a soak run's phases, its pass/fail targets, and the markdown report (``docs/soak.md``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.openloop import SHED_STATUSES, OpenLoopRun

P99_BOUND_MS = 100.0
RSS_GROWTH_BOUND = 0.10
STEADY_SKIP_S = 5.0  # the start of a phase that the "steady" p99 leaves out (draining what the last phase queued)


def percentile_ms(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (seconds), in milliseconds; 0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] * 1e3


@dataclass
class Phase:
    """What one load phase sent and got back."""

    name: str
    target_rps: float
    duration_s: float
    sent: int = 0
    admitted: int = 0
    shed: int = 0
    shed_with_retry_after: int = 0
    other_statuses: dict[int, int] = field(default_factory=dict)
    socket_errors: dict[str, int] = field(default_factory=dict)
    admitted_p50_ms: float = 0.0
    admitted_p99_ms: float = 0.0
    steady_p99_ms: float = 0.0  # admitted p99 without the first STEADY_SKIP_S seconds of the phase
    shed_p50_ms: float = 0.0
    launch_lag_p99_ms: float = 0.0
    generator_cpu: float = 0.0  # share of one core the generator used
    peak_connections: int = 0
    pool_waits: int = 0
    generator_priority: str = ""
    span_s: float = 0.0  # from the phase's start to its last answer or timeout
    last_slow_s: float | None = None  # due time (s into the phase) of the last admitted request over the p99 bound

    @property
    def admitted_rps(self) -> float:
        """Admitted requests per second, over the time until the phase's last answer (the phase plus its tail)."""
        return self.admitted / max(self.duration_s, self.span_s)

    @property
    def other_5xx(self) -> int:
        return sum(n for status, n in self.other_statuses.items() if status >= 500)


def summarize(name: str, run: OpenLoopRun) -> Phase:
    """Count and time one open-loop run."""
    statuses = Counter(o.status for o in run.outcomes if o.status)
    admitted = [o.latency for o in run.outcomes if 200 <= o.status <= 299]
    steady = [o.latency for o in run.outcomes if 200 <= o.status <= 299 and o.due >= STEADY_SKIP_S]
    sheds = [o for o in run.outcomes if o.status in SHED_STATUSES]
    return Phase(
        name=name,
        target_rps=run.rate,
        duration_s=run.duration_s,
        sent=len(run.outcomes),
        admitted=len(admitted),
        shed=len(sheds),
        shed_with_retry_after=sum(o.retry_after for o in sheds),
        other_statuses={s: n for s, n in sorted(statuses.items()) if not (200 <= s <= 299 or s in SHED_STATUSES)},
        socket_errors=dict(sorted(run.errors.items())),
        admitted_p50_ms=percentile_ms(admitted, 50),
        admitted_p99_ms=percentile_ms(admitted, 99),
        steady_p99_ms=percentile_ms(steady, 99),
        shed_p50_ms=percentile_ms([o.latency for o in sheds], 50),
        launch_lag_p99_ms=percentile_ms([o.launch_lag for o in run.outcomes], 99),
        generator_cpu=run.cpu_s / run.wall_s if run.wall_s else 0.0,
        peak_connections=run.peak_connections,
        pool_waits=run.pool_waits,
        span_s=max((o.due + o.latency for o in run.outcomes), default=0.0),
        last_slow_s=max(
            (o.due for o in run.outcomes if 200 <= o.status <= 299 and o.latency * 1e3 > P99_BOUND_MS), default=None
        ),
    )


@dataclass
class ConfigResult:
    """One server configuration's soak: capacity, the phases, RSS at three points, the server's shed counter."""

    env: dict[str, str]
    capacity_rps: float = 0.0
    capacity_given: bool = False  # --capacity: not measured in this run
    capacity_p99_ms: float = 0.0
    capacity_non2xx: int = 0
    phases: list[Phase] = field(default_factory=list)
    rss_start: int = 0
    rss_before: int = 0
    rss_end_overload: int = 0
    rss_after: int = 0
    rss_peak: int = 0
    shed_metric_before: float = 0.0
    shed_metric_after: float = 0.0
    exit_code: int | None = None
    failure: str = ""

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.env.items()) or "defaults"

    @property
    def rss_growth(self) -> float:
        return (self.rss_after - self.rss_before) / self.rss_before if self.rss_before else 0.0


@dataclass
class Target:
    name: str
    measured: str
    ok: bool

    @property
    def verdict(self) -> str:
        return "PASS" if self.ok else "FAIL"


def targets(result: ConfigResult) -> list[Target]:
    """The soak's pass/fail targets for one configuration."""
    if result.failure or len(result.phases) < 2:
        return [Target("the soak ran to the end", result.failure or "incomplete", False)]
    overload = result.phases[0]
    unclean = overload.sent - overload.admitted - overload.shed_with_retry_after
    worst_p99 = max(p.admitted_p99_ms for p in result.phases)
    other_5xx = sum(p.other_5xx for p in result.phases)
    return [
        Target(
            "overload: every request admitted (2xx) or shed (503/429 + Retry-After)",
            f"{unclean} other outcomes ({_other(overload)})",
            unclean == 0,
        ),
        Target(f"admitted p99 ≤ {P99_BOUND_MS:.0f} ms (every phase)", f"{worst_p99:.1f} ms", worst_p99 <= P99_BOUND_MS),
        Target(
            f"RSS growth < {RSS_GROWTH_BOUND:.0%}",
            f"{result.rss_growth:+.1%} ({_mib(result.rss_before)} → {_mib(result.rss_after)} MiB)",
            result.rss_growth < RSS_GROWTH_BOUND,
        ),
        Target("zero 5xx other than sheds", str(other_5xx), other_5xx == 0),
    ]


def _mib(n: int) -> str:
    return f"{n / 2**20:.0f}"


def _other(phase: Phase) -> str:
    parts = [f"{n}× {s}" for s, n in phase.other_statuses.items()] + [
        f"{n}× {k}" for k, n in phase.socket_errors.items()
    ]
    if phase.shed != phase.shed_with_retry_after:
        parts.append(f"{phase.shed - phase.shed_with_retry_after} sheds without Retry-After")
    return ", ".join(parts) or "none"


PHASE_HEADER = (
    "| phase | target req/s | sent | admitted 2xx | shed 503/429 (with Retry-After) | other statuses | socket errors "
    "| admitted p50 ms | admitted p99 ms | p99 after 5 s | last admitted > 100 ms, s | admitted req/s | shed p50 ms "
    "| gen. lag p99 ms | gen. CPU | conns |",
    "|:--|--:|--:|--:|--:|:--|:--|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
)


def phase_rows(result: ConfigResult) -> list[str]:
    """The markdown table of one configuration's phases."""
    rows = list(PHASE_HEADER)
    for p in result.phases:
        other = ", ".join(f"{s}: {n}" for s, n in p.other_statuses.items()) or "0"
        errors = ", ".join(f"{k}: {n}" for k, n in p.socket_errors.items()) or "0"
        slow = "—" if p.last_slow_s is None else f"{p.last_slow_s:.1f}"
        steady = "—" if p.duration_s <= STEADY_SKIP_S else f"{p.steady_p99_ms:.1f}"
        shed_p50 = f"{p.shed_p50_ms:.1f}" if p.shed else "—"
        rows.append(
            f"| {p.name} | {p.target_rps:.0f} | {p.sent} | {p.admitted} | {p.shed} ({p.shed_with_retry_after}) "
            f"| {other} | {errors} | {p.admitted_p50_ms:.1f} | {p.admitted_p99_ms:.1f} | {steady} "
            f"| {slow} | {p.admitted_rps:.0f} | {shed_p50} | {p.launch_lag_p99_ms:.1f} "
            f"| {p.generator_cpu:.0%} | {p.peak_connections} |"
        )
    return rows


def config_section(result: ConfigResult) -> list[str]:
    """Everything about one configuration, in markdown."""
    shed_delta = result.shed_metric_after - result.shed_metric_before
    received = sum(p.shed for p in result.phases)
    lines = [f"### {result.label}", ""]
    if result.capacity_given:
        lines.append(f"Capacity: **{result.capacity_rps:.0f} req/s**, given with `--capacity` (not measured here).")
        lines.append("")
    elif result.capacity_rps:
        lines.append(
            f"Capacity (wrk, closed loop): **{result.capacity_rps:.0f} req/s** admitted, p99 "
            f"{result.capacity_p99_ms:.1f} ms, {result.capacity_non2xx} non-2xx."
        )
        lines.append("")
    if result.phases:
        lines += phase_rows(result)
        waits = sum(p.pool_waits for p in result.phases)
        lines += [
            "",
            f"Generator thread: {result.phases[0].generator_priority} priority; {waits} requests waited for one of the "
            "client connections (their wait counts in their latency).",
            "",
        ]
    lines.append(
        f"RSS of the server's process tree: {_mib(result.rss_start)} MiB at start, **{_mib(result.rss_before)} MiB "
        f"before** the overload (after the capacity run), {_mib(result.rss_end_overload)} MiB at its end, "
        f"**{_mib(result.rss_after)} MiB after recovery** ({result.rss_growth:+.1%}); peak {_mib(result.rss_peak)} "
        f"MiB. `model_server_shed_total`: {result.shed_metric_before:.0f} before the overload, "
        f"**{result.shed_metric_after:.0f}** at the end (+{shed_delta:.0f}; clients received {received} sheds). "
        f"Exit code after SIGTERM: {result.exit_code}."
    )
    lines += ["", "| target | measured | result |", "|:--|:--|--:|"]
    lines += [f"| {t.name} | {t.measured} | **{t.verdict}** |" for t in targets(result)]
    return [*lines, ""]


def write(path: Path, header: list[str], results: list[ConfigResult], explanation: str) -> None:
    """Write the whole report."""
    body = [*header, ""]
    for result in results:
        body += config_section(result)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(body) + "\n" + explanation)
