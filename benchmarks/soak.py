"""``python -m benchmarks.soak``: overload the server at twice its capacity, then let it recover; report what it did.

For each server configuration (``--server-env``; default: the server's defaults) this starts ``python -m app`` on the
demo MNIST model (``python -m benchmarks.prepare`` builds it if missing), measures its capacity with wrk (closed loop,
``--capacity-concurrency`` connections), then drives it open loop at ``--overload-factor`` × that capacity for
``--overload-seconds`` and at ``--recovery-factor`` × for ``--recovery-seconds`` (``benchmarks.openloop``). It reports
per phase what was admitted, shed and failed and the admitted latency, the RSS of the server's process tree before,
at the end of the overload and after recovery, and ``model_server_shed_total``; then pass/fail targets. Every
process it starts is stopped, whatever happens.

Exit codes: 0 every configuration ran (targets met or not: see the report), 1 a configuration failed to run,
2 bad usage, 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import load, load_python, machine, openloop, procs, servers
from benchmarks.__main__ import env_assignments, seconds
from benchmarks.run import build_inputs
from benchmarks.servers import ROOT, ServerFailed
from benchmarks.soak_report import ConfigResult, config_section, summarize, write

SETTLE_S = 2.0  # pause between phases' measurements so RSS readings are not taken mid-burst


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--server-env",
        type=lambda text: {} if text == "default" else env_assignments(text),
        action="append",
        default=[],
        metavar="NAME=VALUE[,...]",
        help="one server configuration (repeatable: each is soaked in turn; 'default' = no overrides)",
    )
    parser.add_argument("--overload-seconds", type=seconds, default=60.0, help="default 60s")
    parser.add_argument("--recovery-seconds", type=seconds, default=30.0, help="default 30s")
    parser.add_argument("--overload-factor", type=float, default=2.0, help="overload rate ÷ capacity (default 2)")
    parser.add_argument("--recovery-factor", type=float, default=0.5, help="recovery rate ÷ capacity (default 0.5)")
    parser.add_argument("--capacity", type=float, default=None, help="req/s to use as capacity instead of measuring")
    parser.add_argument("--capacity-seconds", type=seconds, default=5.0, help="capacity run length (default 5s)")
    parser.add_argument("--capacity-concurrency", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--timeout", type=seconds, default=10.0, help="per-request timeout (default 10s)")
    parser.add_argument("--max-connections", type=int, default=512, help="open-loop connection cap (default 512)")
    parser.add_argument(
        "--generator-priority",
        choices=("realtime", "nice", "normal"),
        default="realtime",
        help="scheduling of the open-loop generator's thread (default realtime; needs CAP_SYS_NICE, else normal)",
    )
    parser.add_argument("--work-dir", type=Path, default=ROOT / "build" / "benchmarks", help="model, logs, raw JSON")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "soak.md", help="the report (default docs/)")
    args = parser.parse_args(argv)
    if not 0 < args.recovery_factor < args.overload_factor <= 10:
        parser.error("need 0 < --recovery-factor < --overload-factor <= 10")
    if not 1 <= args.max_connections <= 5000 or not 1 <= args.capacity_concurrency <= 1024:
        parser.error("--max-connections must be 1..5000 and --capacity-concurrency 1..1024")
    return args


@contextlib.contextmanager
def generator_priority(choice: str) -> Iterator[str]:
    """Run the block with this thread raised to ``choice`` priority if allowed; yields what it got, then restores.

    A real load generator runs on other machines; here it shares two cores with a server that keeps both busy, and a
    starved event loop sends late (its launch lag, reported, shows it). ``realtime`` (SCHED_RR) makes it preempt the
    server the moment a request is due; it uses a fifth of a core at 1000 req/s. Linux applies both the scheduling
    policy and the nice value per thread: the server and the RSS sampler keep their normal priority.
    """
    policy, nice = os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)
    got = "normal"
    with contextlib.suppress(PermissionError):
        if choice == "realtime":
            os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))
            got = "realtime (SCHED_RR)"
        elif choice == "nice":
            os.setpriority(os.PRIO_PROCESS, 0, -5)
            got = "nice -5"
    try:
        yield got
    finally:
        with contextlib.suppress(PermissionError):
            os.sched_setscheduler(0, policy, os.sched_param(0))
            os.setpriority(os.PRIO_PROCESS, 0, nice)


def log(message: str) -> None:
    print(message, flush=True)


def shed_total(port: int) -> float:
    """The sum of ``model_server_shed_total`` over its labels (0 before the first shed creates a sample)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(("model_server_shed_total{", "model_server_shed_total "))
    )


def measure_capacity(
    wrk: str | None, server: servers.RunningServer, body_path: Path, args: argparse.Namespace
) -> load.LoadResult:
    """A discarded 2 s warm-up, then the measured closed-loop run."""
    runner = (
        (lambda c, s: load.run_wrk(wrk, f"{server.url}/predict", body_path, c, s, args.timeout))
        if wrk
        else (lambda c, s: load_python.run_threads(server.port, "/predict", body_path, c, s, args.timeout))
    )
    runner(args.capacity_concurrency, 2.0)
    return runner(args.capacity_concurrency, args.capacity_seconds)


def soak_one(
    env: dict[str, str], index: int, manifest: dict, wrk: str | None, args: argparse.Namespace
) -> ConfigResult:
    """Start one configuration, measure, stop it; failures are recorded in the result, not raised."""
    result = ConfigResult(env=env)
    body_path = Path(manifest["body"])
    body = body_path.read_bytes()
    spec = servers.ours(str(Path(manifest["saved_model"]).parent), env, key=f"soak-{index}")
    log_path = args.work_dir / "logs" / f"soak-{index}.log"
    try:
        with servers.start(spec, body, log_path) as server:
            pid = server.process.pid
            result.rss_start = procs.tree_rss_bytes(pid)
            if args.capacity:
                result.capacity_rps, result.capacity_given = args.capacity, True
            else:
                cap = measure_capacity(wrk, server, body_path, args)
                result.capacity_rps = cap.rps * (1 - cap.non2xx / cap.requests) if cap.requests else 0.0
                result.capacity_p99_ms, result.capacity_non2xx = cap.p99_ms, cap.non2xx
                log(f"[{result.label}] capacity {result.capacity_rps:.0f} req/s (p99 {cap.p99_ms:.1f} ms)")
            time.sleep(SETTLE_S)
            result.rss_before = procs.tree_rss_bytes(pid)
            result.shed_metric_before = shed_total(server.port)
            plan = (
                ("overload", args.overload_factor, args.overload_seconds),
                ("recovery", args.recovery_factor, args.recovery_seconds),
            )
            with procs.RssSampler(pid, interval=0.5) as sampler:
                for name, factor, duration in plan:
                    rate = max(1.0, factor * result.capacity_rps)
                    log(f"[{result.label}] {name}: {rate:.0f} req/s open loop for {duration:g}s")
                    with generator_priority(args.generator_priority) as priority:
                        run = openloop.run_open_loop(
                            "127.0.0.1",
                            server.port,
                            "/predict",
                            body,
                            rate,
                            duration,
                            args.timeout,
                            args.max_connections,
                        )
                    phase = summarize(name, run)
                    phase.generator_priority = priority
                    result.phases.append(phase)
                    log(
                        f"  sent {phase.sent}, admitted {phase.admitted}, shed {phase.shed}, other "
                        f"{phase.other_statuses or 0}, socket errors {phase.socket_errors or 0}, admitted p50/p99 "
                        f"{phase.admitted_p50_ms:.1f}/{phase.admitted_p99_ms:.1f} ms"
                    )
                    if name == "overload":
                        result.rss_end_overload = procs.tree_rss_bytes(pid)
            result.rss_peak = sampler.peak_bytes
            time.sleep(SETTLE_S)
            result.rss_after = procs.tree_rss_bytes(pid)
            result.shed_metric_after = shed_total(server.port)
            servers.wait_first_prediction(server, body, time.monotonic(), 30.0, 0.2)  # still serving?
        result.exit_code = server.process.returncode
    except (ServerFailed, RuntimeError, OSError) as exc:
        result.failure = str(exc).splitlines()[0]
        log(f"[{result.label}] FAILED: {exc}")
    return result


def header(args: argparse.Namespace, argv: list[str], wrk_version: str, started: str, foreign: float) -> list[str]:
    info = machine.describe(ROOT)
    return [
        "# Soak: overload, shedding and recovery",
        "",
        f"Generated by `{shlex.join(['python', '-m', 'benchmarks.soak', *argv])}` on {started} "
        "(do not edit by hand; the explanation below is part of the generator, `benchmarks/soak_explain.py`).",
        "",
        f"Machine: {info['cpu']}, {info['cores']}, {info['memory']}; Python {info['python']}, "
        f"TensorFlow {info['tensorflow-cpu']}, gunicorn {info['gunicorn']}; commit {info['git commit']}. "
        f"Capacity: {wrk_version}. Overload and recovery: `benchmarks/openloop.py` (open loop, fixed rate, latency "
        f"from each request's due time). Other processes used {foreign:.0%} of the machine's CPU during the run.",
        "",
        f"Phases: overload {args.overload_factor:g}× capacity for {args.overload_seconds:g} s, then recovery "
        f"{args.recovery_factor:g}× for {args.recovery_seconds:g} s; request timeout {args.timeout:g} s; at most "
        f"{args.max_connections} client connections. Every request is `POST /predict` with one held-out digit.",
        "",
    ]


def _raise_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through every `finally`: the server and wrk get stopped


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    args.work_dir = args.work_dir.resolve()
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    all_cpu, own_cpu = machine.cpu_seconds()
    wall = time.monotonic()
    try:
        manifest = build_inputs(args.work_dir, rebuild=False)
        wrk = load.find_wrk(install=False)
        results = [soak_one(env, i, manifest, wrk, args) for i, env in enumerate(args.server_env or [{}], 1)]
    except KeyboardInterrupt:
        print("interrupted: every process started has been stopped", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
    all_after, own_after = machine.cpu_seconds()
    foreign = max(0.0, (all_after - all_cpu) - (own_after - own_cpu)) / (
        (time.monotonic() - wall) * len(os.sched_getaffinity(0))
    )
    from benchmarks.soak_explain import EXPLANATION

    version = load.wrk_version(wrk) if wrk else "Python threads (wrk unavailable)"
    write(args.out, header(args, argv, version, started, foreign), results, EXPLANATION)
    (args.work_dir / "soak-results.json").write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    for result in results:
        log("\n" + "\n".join(config_section(result)))
    log(f"\nwrote {args.out} in {(time.monotonic() - wall) / 60:.1f} min")
    return 1 if any(r.failure for r in results) else 0


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
