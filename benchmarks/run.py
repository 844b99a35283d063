"""One benchmark run: build the inputs, load-test each server at each concurrency, then the cold starts."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import coldstart, load, loadtest, machine, prepare, procs, servers
from benchmarks.coldstart import ColdStart
from benchmarks.load import LoadResult
from benchmarks.servers import SERVER_KEYS, ServerFailed, ServerSpec

PREPARE_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Config:
    """Everything a run depends on (from the command line)."""

    command: str
    work_dir: Path
    out_dir: Path
    duration_s: float
    warmup_s: float
    timeout_s: float
    concurrencies: tuple[int, ...]
    cold_runs: int
    repeat: int = 1
    ours_envs: tuple[dict[str, str], ...] = ()
    rebuild: bool = False
    generator: str = "auto"
    cold_start: bool = True
    quick: bool = False
    servers: tuple[str, ...] = SERVER_KEYS


@dataclass
class ServerRun:
    """One server's results: time to first prediction, the digit it predicted, every run and the medians."""

    spec: ServerSpec
    first_prediction_s: float = 0.0
    digit: int = -1
    raw: list[LoadResult] = field(default_factory=list)
    loads: list[LoadResult] = field(default_factory=list)  # per concurrency, the median over rounds
    failure: str = ""


@dataclass
class Results:
    """Everything measured in one run (written to results.json and rendered by ``benchmarks.report``)."""

    config: Config
    started_utc: str
    machine: dict[str, str]
    load_before: str
    manifest: dict[str, Any] = field(default_factory=dict)
    generator: str = ""
    servers: list[ServerRun] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # label of a server not run: why
    import_s: list[float] = field(default_factory=list)
    cold: list[ColdStart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    load_after: str = ""
    wall_s: float = 0.0
    foreign_cpu_share: float = 0.0  # of the machine's CPU capacity, used by processes the harness did not start


def log(message: str) -> None:
    """Progress on stdout (the harness is a command-line tool: its output is for the person running it)."""
    print(message, flush=True)


def build_inputs(work_dir: Path, rebuild: bool) -> dict[str, Any]:
    """Run ``benchmarks.prepare`` in its own process unless its manifest already exists; return the manifest."""
    manifest_path = work_dir / prepare.MANIFEST
    if manifest_path.exists() and not rebuild:
        manifest = json.loads(manifest_path.read_text())
        if all(Path(manifest[key]).exists() for key in prepare.ARTIFACTS):
            log(f"reusing the models and request body in {work_dir} (--rebuild to train and export them again)")
            return manifest
    log(f"training and exporting the demo MNIST model into {work_dir} (about a minute)")
    log_path = work_dir / "logs" / "prepare.log"
    with procs.running(
        [sys.executable, "-m", "benchmarks.prepare", str(work_dir)], servers.base_env(), servers.ROOT, log_path
    ) as process:
        try:
            code = process.wait(PREPARE_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"preparing the models took over {PREPARE_TIMEOUT_S:.0f}s; see {log_path}") from None
    if code != 0:
        raise RuntimeError(f"preparing the models failed (exit {code}):\n{log_path.read_text()[-3000:]}")
    return json.loads(manifest_path.read_text())


def load_generator(choice: str) -> tuple[str | None, str]:
    """(wrk path or None for the Python fallback, a description for the report)."""
    wrk = None if choice == "python" else load.find_wrk(install=True)
    if wrk:
        return wrk, load.wrk_version(wrk)
    if choice == "wrk":
        raise RuntimeError("wrk is not available: install it with `apt-get install -y wrk` (Debian) and re-run")
    return None, "Python threads (fallback: wrk unavailable)"


def cold_starts(config: Config, results: Results, body: bytes) -> None:
    """Rounds of: time the TensorFlow import, cold-start our server on the local model, then on the GCS one."""
    logs = config.work_dir / "logs"
    manifest = results.manifest
    local = ColdStart("local", str(Path(manifest["saved_model"]).parent), manifest["saved_model_bytes"])
    gcs = ColdStart("gcs", "", manifest["large_saved_model_bytes"])
    results.cold += [local, gcs]
    emulator: dict[str, str] = {}
    with contextlib.ExitStack() as stack:
        with _recorded_failure(gcs):
            url = stack.enter_context(coldstart.gcs_emulator(logs / "gcs-emulator.log"))
            gcs.model_uri = coldstart.upload_to_emulator(url, Path(manifest["large_saved_model"]))
            emulator["STORAGE_EMULATOR_HOST"] = url
        for index in range(1, config.cold_runs + 1):
            results.import_s.append(coldstart.time_tensorflow_import())
            line = f"cold start round {index}/{config.cold_runs}: import tensorflow {results.import_s[-1]:.2f}s"
            for scenario, env in ((local, {}), (gcs, emulator)):
                if scenario.failure:
                    continue
                with _recorded_failure(scenario):
                    run = coldstart.measure(scenario, body, logs / f"cold-{scenario.scenario}-{index}.log", env)
                    line += f", {scenario.scenario} {run.first_prediction_s:.2f}s"
            log(line)


@contextlib.contextmanager
def _recorded_failure(scenario: ColdStart) -> Iterator[None]:
    """Record a failed cold-start scenario in the results (the report shows it) and go on with the next."""
    try:
        yield
    except (ServerFailed, RuntimeError, OSError) as exc:
        scenario.failure = str(exc).splitlines()[0]
        log(f"cold start {scenario.scenario}: FAILED: {exc}")


def server_specs(config: Config, manifest: dict[str, Any]) -> tuple[list[ServerSpec], dict[str, str]]:
    """Those of ``config.servers``, in this order: our server (default settings, then each ``--ours-env``
    configuration), baselines (b) and (a), MLServer and BentoML. The peers whose venv is missing are returned
    apart, label to reason, instead of being started."""
    base_dir, saved_model = str(Path(manifest["saved_model"]).parent), manifest["saved_model"]
    wanted = set(config.servers)
    specs = []
    if "ours" in wanted:
        specs.append(servers.ours(base_dir, {}))
        specs += [servers.ours(base_dir, env, key=f"ours-{i + 2}") for i, env in enumerate(config.ours_envs)]
    if "simple" in wanted:
        specs.append(servers.simple(saved_model))
    if "seed" in wanted:
        specs.append(servers.seed(manifest["keras_model"]))
    skipped = {}
    for key in ("mlserver", "bentoml"):
        if key not in wanted:
            continue
        if reason := servers.missing_peer(key):
            skipped[servers.PEER_LABELS[key]] = reason
        elif key == "mlserver":
            specs.append(servers.mlserver(saved_model, config.work_dir / "mlserver"))
        else:
            specs.append(servers.bentoml(saved_model, config.work_dir / "bentoml-home"))
    return specs, skipped


def run(config: Config) -> Results:
    """Run everything; every process started is stopped before this returns or raises."""
    started = time.monotonic()
    all_cpu, own_cpu = machine.cpu_seconds()
    results = Results(
        config=config,
        started_utc=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine.describe(servers.ROOT),
        load_before=machine.load_average(),
    )
    results.manifest = build_inputs(config.work_dir, config.rebuild)
    body_path = Path(results.manifest["body"])
    wrk, results.generator = load_generator(config.generator)
    log(f"load generator: {results.generator}")
    specs, results.skipped = server_specs(config, results.manifest)
    for label, reason in results.skipped.items():
        log(f"{label}: SKIPPED: {reason}")
    results.servers = [ServerRun(spec) for spec in specs]
    loadtest.load_test(config, results.servers, body_path, wrk, log)
    expected = results.manifest["digit_predicted"]
    for server_run in results.servers:
        if server_run.digit not in (-1, expected):
            results.notes.append(f"{server_run.spec.label} predicted {server_run.digit}, not {expected}")
    if config.cold_start:
        cold_starts(config, results, body_path.read_bytes())
    results.load_after = machine.load_average()
    results.wall_s = time.monotonic() - started
    all_after, own_after = machine.cpu_seconds()
    capacity = results.wall_s * len(os.sched_getaffinity(0))
    results.foreign_cpu_share = max(0.0, (all_after - all_cpu) - (own_after - own_cpu)) / capacity
    return results
