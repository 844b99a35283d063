"""The issue's performance targets, checked against one run's results.

Throughput and latency, per configuration of our server:
at concurrency 32, req/s ≥ 4× baseline (b), ≥ 100× baseline (a) and ≥ 1.5× each peer (MLServer, BentoML, each
with its own adaptive batching), with p99 ≤ 50 ms; at concurrency 1, p99 ≤ 3× p50 and p50 no worse than (b).
Cold start: local ≤ import + 1 s; GCS ≤ max(import, download) + load + 1 s, where import is the median wall time
of ``python -c "import tensorflow"`` and download/load come from the server's own ``phases_s`` (per run).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass

from benchmarks.coldstart import ColdStart
from benchmarks.load import LoadResult

SLACK_S = 1.0

#: The servers our req/s at c=32 is compared with (by ``ServerSpec.kind``): what they are called, the factor.
RATIO_BOUNDS = {
    "simple": ("(b)", 4.0),
    "seed": ("(a)", 100.0),
    "mlserver": ("MLServer", 1.5),
    "bentoml": ("BentoML", 1.5),
}


@dataclass(frozen=True)
class Target:
    """One target: what it is, the measured value, the bound, and whether it passed (None: not measured)."""

    name: str
    measured: str
    bound: str
    passed: bool | None

    @property
    def verdict(self) -> str:
        return {True: "PASS", False: "FAIL", None: "n/a"}[self.passed]


def _at(loads: list[LoadResult], concurrency: int) -> LoadResult | None:
    return next((r for r in loads if r.concurrency == concurrency), None)


#: Started with WORKERS=1, the server must still reach this multiple of (b)'s req/s at c=32.
SINGLE_WORKER_BOUND = 2.5


def single_worker_target(label: str, ours: list[LoadResult], others: Mapping[str, list[LoadResult]]) -> Target:
    """The one target for our server started with ``WORKERS=1``: req/s at c=32 ≥ 2.5× (b)'s."""
    o32, base = _at(ours, 32), _at(others.get("simple", []), 32)
    name, bound = f"{label}: req/s at c=32 vs (b)", f"≥ {SINGLE_WORKER_BOUND:g}×"
    if o32 is None or base is None or base.rps == 0:
        return Target(name, "not measured", bound, None)
    ratio = o32.rps / base.rps
    return Target(name, f"{ratio:.1f}× ({o32.rps:.0f} vs {base.rps:.1f} req/s)", bound, ratio >= SINGLE_WORKER_BOUND)


def throughput_targets(label: str, ours: list[LoadResult], others: Mapping[str, list[LoadResult]]) -> list[Target]:
    """The throughput/latency targets for one configuration of our server (``label``); ``others`` holds the other
    servers' results by kind (``simple``, ``seed``, ``mlserver``, ``bentoml``; a missing one is "not measured")."""
    o32, o1, b1 = _at(ours, 32), _at(ours, 1), _at(others.get("simple", []), 1)
    targets = []
    for kind, (name, factor) in RATIO_BOUNDS.items():
        base, target_name = _at(others.get(kind, []), 32), f"{label}: req/s at c=32 vs {name}"
        if o32 is None or base is None or base.rps == 0:
            targets.append(Target(target_name, "not measured", f"≥ {factor:g}×", None))
            continue
        ratio = o32.rps / base.rps
        measured = f"{ratio:.1f}× ({o32.rps:.0f} vs {base.rps:.1f} req/s)"
        targets.append(Target(target_name, measured, f"≥ {factor:g}×", ratio >= factor))
    targets.append(
        Target(f"{label}: p99 at c=32", f"{o32.p99_ms:.1f} ms", "≤ 50 ms", o32.p99_ms <= 50)
        if o32
        else Target(f"{label}: p99 at c=32", "not measured", "≤ 50 ms", None)
    )
    if o1 and o1.p50_ms > 0:
        spread = o1.p99_ms / o1.p50_ms
        targets.append(
            Target(
                f"{label}: p99/p50 at c=1",
                f"{spread:.2f}× ({o1.p99_ms:.1f} / {o1.p50_ms:.2f} ms)",
                "≤ 3×",
                spread <= 3,
            )
        )
    else:
        targets.append(Target(f"{label}: p99/p50 at c=1", "not measured", "≤ 3×", None))
    if o1 and b1:
        targets.append(
            Target(
                f"{label}: p50 at c=1 vs (b)",
                f"{o1.p50_ms:.2f} ms vs {b1.p50_ms:.2f} ms",
                "≤ (b)'s p50",
                o1.p50_ms <= b1.p50_ms,
            )
        )
    else:
        targets.append(Target(f"{label}: p50 at c=1 vs (b)", "not measured", "≤ (b)'s p50", None))
    return targets


def cold_start_bound_s(scenario: ColdStart, import_s: float) -> float:
    """The median, over runs, of each run's own bound (local: import + 1 s; GCS: max(import, dl) + load + 1 s)."""
    if scenario.scenario == "local":
        return import_s + SLACK_S
    return statistics.median(
        max(import_s, run.phases_s.get("download_s", 0.0)) + run.phases_s.get("load_s", 0.0) + SLACK_S
        for run in scenario.runs
    )


def cold_start_targets(cold: list[ColdStart], import_times: list[float]) -> list[Target]:
    """One target per cold-start scenario measured."""
    if not import_times:
        return []
    import_s = statistics.median(import_times)
    formulas = {"local": "import + 1 s", "gcs": "max(import, download) + load + 1 s"}
    targets = []
    for scenario in cold:
        if not scenario.runs:
            continue
        bound = cold_start_bound_s(scenario, import_s)
        targets.append(
            Target(
                f"cold start, {scenario.scenario} model (median of {len(scenario.runs)})",
                f"{scenario.median_s:.2f} s",
                f"≤ {formulas[scenario.scenario]} = {bound:.2f} s",
                scenario.median_s <= bound,
            )
        )
    return targets
