"""Render one run as ``benchmarks.md`` (tables, targets, method, machine) and ``results.json`` (raw numbers)."""

from __future__ import annotations

import dataclasses
import json
import statistics
from pathlib import Path

from benchmarks import servers, targets
from benchmarks.load import LoadResult
from benchmarks.run import Results, ServerRun

MIB = 2**20
NOISY_SHARE = 0.10  # other work above this share of the CPU earns a warning at the top of the report


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    return [_row(header), "|" + "|".join(":--" if a == "l" else "--:" for a in align) + "|", *map(_row, rows)]


def _ratio(ours: LoadResult, base: LoadResult | None) -> str:
    return f"{ours.rps / base.rps:.1f}×" if base and base.rps else "—"


def _errors(r: LoadResult) -> str:
    return f"{r.errors} ({r.timeouts} timeouts)" if r.timeouts else str(r.errors)


def _shown(path: Path) -> str:
    return str(path.relative_to(servers.ROOT)) if path.is_relative_to(servers.ROOT) else str(path)


def _at(server: ServerRun | None, concurrency: int) -> LoadResult | None:
    return next((r for r in server.loads if r.concurrency == concurrency), None) if server else None


def load_table(results: Results) -> list[str]:
    """One row per server and concurrency, with our server's req/s ratios to (b), (a), MLServer and BentoML."""
    by_kind = {s.spec.kind: s for s in results.servers if s.spec.kind != "ours"}
    compared = targets.RATIO_BOUNDS.items()
    header = ["server", "conc.", "req/s", "p50 ms", "p99 ms", "p99/p50", "errors", "peak RSS MiB"]
    header += [f"ours ÷ {name}" for _, (name, _) in compared]
    rows = [[label, "—", f"skipped: {reason}", *["—"] * (len(header) - 3)] for label, reason in results.skipped.items()]
    for server in results.servers:
        if server.failure and not server.loads:
            rows.append([server.spec.label, "—", f"failed: {server.failure}", *["—"] * (len(header) - 3)])
        for r in server.loads:
            is_ours = server.spec.kind == "ours"
            p99 = f"{'≥ ' if r.percentiles_truncated else ''}{r.p99_ms:.1f}"
            rows.append(
                [
                    server.spec.label,
                    str(r.concurrency),
                    f"{r.rps:.1f}",
                    f"{r.p50_ms:.2f}",
                    p99,
                    f"{r.p99_ms / r.p50_ms:.1f}" if r.p50_ms else "—",
                    _errors(r),
                    f"{r.peak_rss_bytes / MIB:.0f}",
                    *(_ratio(r, _at(by_kind.get(kind), r.concurrency)) if is_ours else "—" for kind, _ in compared),
                ]
            )
    return _table(header, rows, "l" + "r" * (len(header) - 1))


def target_rows(results: Results) -> list[targets.Target]:
    """Every target: our server with its defaults, the WORKERS=1 bound for that configuration (other ``--ours-env``
    configurations are measured for information), then the cold starts."""
    others = {s.spec.kind: s.loads for s in results.servers if s.spec.kind != "ours"}
    rows = []
    for server in (s for s in results.servers if s.spec.kind == "ours"):
        if server.spec.key == "ours":
            rows += targets.throughput_targets(server.spec.label, server.loads, others)
        elif server.spec.label == "ours (WORKERS=1)":
            rows.append(targets.single_worker_target(server.spec.label, server.loads, others))
    return rows + targets.cold_start_targets(results.cold, results.import_s)


def cold_table(results: Results) -> list[str]:
    """Per scenario: each run, the median, the server's phases (medians) and the bound."""
    if not results.import_s:
        return ["Not measured in this run (`--no-cold-start`, or it failed: see Notes)."]
    import_s = statistics.median(results.import_s)
    rows = []
    for c in results.cold:
        if not c.runs:
            continue
        rows.append(
            [
                f"local `{_shown(Path(c.model_uri))}`" if c.scenario == "local" else f"GCS emulator `{c.model_uri}`",
                f"{c.model_bytes / MIB:.1f}",
                ", ".join(f"{r.first_prediction_s:.2f}" for r in c.runs),
                f"**{c.median_s:.2f}**",
                *(f"{c.median_phase(p):.2f}" for p in ("import_s", "download_s", "load_s", "warmup_s")),
                f"{targets.cold_start_bound_s(c, import_s):.2f}",
            ]
        )
    header = ["model", "MiB", "runs (s)", "median s", "import", "download", "load", "warm-up", "bound s"]
    times = ", ".join(f"{t:.2f}" for t in results.import_s)
    return [
        f'`python -c "import tensorflow"`: median **{import_s:.2f} s** ({times}). The import, download, load and '
        "warm-up columns are the server's own `phases_s` (medians); the bound is the target's formula (see Targets).",
        "",
        *_table(header, rows, "lrrrrrrrr"),
    ]


def generator_line(results: Results) -> str:
    """How the load was generated: wrk, or the Python fallback (which is weaker, and says so)."""
    cfg = results.config
    if "wrk" in results.generator:
        return (
            f"- Generator: {results.generator}, closed loop: `wrk -t min(c,2) -c c -d {cfg.duration_s:g}s --timeout "
            f"{cfg.timeout_s:g}s -s benchmarks/predict.lua URL -- body.json`; the Lua script posts the fixed body and "
            "its `done()` prints p50/p90/p99 from wrk's latency histogram, non-2xx responses and socket errors."
        )
    return (
        f"- Generator: **{results.generator}**: c Python threads, each a kept-alive connection, closed loop, "
        f"{cfg.duration_s:g} s, {cfg.timeout_s:g} s timeout (`benchmarks/load_python.py`). It shares the GIL and the "
        "server's cores, so it saturates well before wrk would: read high-concurrency numbers as a lower bound."
    )


def peer_lines(results: Results) -> list[str]:
    """How the peers were run (only those in this run), each with its own adaptive batching."""
    kinds = {s.spec.kind for s in results.servers}
    lines = []
    if "mlserver" in kinds:
        batching = servers.MLSERVER_BATCHING
        lines.append(
            "- MLServer 1.7.1 (`.venv-mlserver`, `benchmarks/peers/requirements-mlserver.txt`) with the custom runtime "
            "`benchmarks/peers/mlserver_runtime.py` (`tf.saved_model.load(uri).signatures['serving_default']`, "
            "warmed up at load); the harness writes its `settings.json` and `mnist/model-settings.json` into the work "
            f"dir. Adaptive batching: `max_batch_size` {batching['max_batch_size']}, `max_batch_time` "
            f"{batching['max_batch_time']} s (MLServer waits that long for a batch to fill, so it is added to each "
            f"request at c=1); `parallel_workers` {servers.MLSERVER_PARALLEL_WORKERS} (inference processes, one per "
            "core, beside the main process, which does HTTP, JSON and the batching: faster at c=32 than its default "
            "of 1 on this machine); `debug` off, so no access log line. Its request is the V2 JSON of the same image, "
            '`POST /v2/models/mnist/infer` with `{"inputs": [{"name": "image", "shape": [1, 28, 28, 1], '
            '"datatype": "FP32", "data": [784 floats]}]}`.'
        )
    if "bentoml" in kinds:
        batching = servers.BENTOML_BATCHING
        lines.append(
            "- BentoML 1.4.40 (`.venv-bentoml`, `benchmarks/peers/requirements-bentoml.txt`) serving "
            "`benchmarks/peers/bento_service.py`: a `@bentoml.api(batchable=True)` taking the images as an "
            "`np.ndarray` and answering the probabilities. Adaptive batching: `max_batch_size` "
            f"{batching['max_batch_size']}, `max_latency_ms` {batching['max_latency_ms']} (BentoML picks the wait "
            "from the latencies it observes, and answers 503 past that bound); "
            f"{servers.BENTOML_WORKERS} worker processes, one per core, each with its own HTTP server, batcher and "
            "model (faster at c=32 than one worker on this machine); access log off. Its request is `POST /predict` "
            'with `{"image": [the same 28×28×1 image]}`.'
        )
    if lines:
        lines.append(
            "- The peers log no line per request while ours writes one: if anything, the comparison favours them. "
            "Each runs from its own venv (their OpenTelemetry pins conflict with each other) with the same "
            "tensorflow-cpu and numpy as ours."
        )
    return lines


def method_lines(results: Results) -> list[str]:
    """How each server was run and how the numbers were taken."""
    cfg, m = results.config, results.manifest
    lines = ["### Servers (all on 127.0.0.1, same trained weights, same image in each request)", ""]
    for s in results.servers:
        first = f"first prediction {s.first_prediction_s:.1f} s after start" if s.first_prediction_s else s.failure
        lines.append(f"- **{s.spec.label}** ({first}): `{s.spec.command_line()}`")
    lines += [
        "",
        "- ours runs with the defaults in the README's configuration table (only `MODEL_URI`, `HOST` and `PORT` "
        "set; every server gets a minimal environment, so the caller's shell cannot change them); its stdout, "
        "including the JSON access line per request, goes to a log file.",
        "- (a) `benchmarks/baselines/seed_flask.py` reproduces the blog-post pattern: a Keras model loaded at import "
        "with `tf.keras.models.load_model`, `model.predict(np.array(instances))` per request, "
        "`request.get_json()`/`jsonify`, under gunicorn with Cloud Run's sample flags (not the Flask dev server). "
        "Keras 3 cannot load a SavedModel, so the harness saves the *same trained Keras model* as `mnist.keras` "
        "next to the SavedModel export; on the whole held-out set the two give probabilities within "
        f"{m['keras_vs_savedmodel_max_abs_diff']:.1e} of each other.",
        "- (b) `benchmarks/baselines/simple_signature.py`: Flask calling "
        "`tf.saved_model.load(path).signatures['serving_default'](image=tf.constant(...))`, loaded once per worker "
        "(imported after fork, no `--preload`) and warmed up with one call.",
        *peer_lines(results),
        f"- The model: the demo MNIST CNN trained by `model_export.mnist` (held-out accuracy "
        f"{m['heldout_accuracy']:.3f}), SavedModel {m['saved_model_bytes'] / MIB:.1f} MiB. "
        f'Every request to ours and the baselines is `{{"instances": [one held-out 28×28×1 digit]}}` '
        f"({m['body_bytes']} bytes, "
        f"label {m['digit_label']}); each server's first prediction of it was checked against "
        f"{m['digit_predicted']} (the SavedModel's).",
        "",
        "### Load",
        "",
        generator_line(results),
        "- Interleaved, so the shared machine's noise falls on every server alike: all servers are started first and "
        f"stay up (idle ones use no CPU); then {cfg.repeat} round(s) of: for each concurrency "
        f"({', '.join(map(str, cfg.concurrencies))}), each server in turn (the order rotates between rounds) gets a "
        f"{cfg.warmup_s:g} s warm-up run (discarded) and a {cfg.duration_s:g} s measured run. After every run one "
        "prediction must succeed, so requests abandoned by wrk are drained before the next run.",
        f"- Each cell is the median over the {cfg.repeat} round(s) (req/s and each percentile separately); errors "
        "are summed over the rounds; peak RSS is the highest of the rounds. Every single run is in the raw JSON.",
        "- errors = non-2xx responses + socket errors (connect, read, write, timeout). wrk's percentiles cover "
        "completed requests only: requests slower than the timeout (counted as errors) and requests still in flight "
        "when the run ends are missing. A p99 marked ≥ is therefore a lower bound: there were timeouts, or the mean "
        "latency implied by Little's law (connections ÷ req/s) exceeds the measured p99, i.e. the server was so "
        "slow that most requests of the run never completed.",
        "- Peak RSS: the sum of VmRSS over the server's process tree (gunicorn master + workers), sampled from "
        "`/proc` every 100 ms during the measured run; pages shared after fork are counted once per process.",
        "",
        "### Cold start",
        "",
        "- Time from `Popen` of `python -m app` to the first 200 from `POST /predict`, polled every 50 ms; a fresh "
        f"empty `MODEL_CACHE_DIR` per run. {cfg.cold_runs} round(s), each timing the TensorFlow import, then a local "
        "cold start, then a GCS one (interleaved, like the load runs); medians reported.",
        "- local: the demo SavedModel from disk. gcs: the same signature plus an unused ~110 MB float32 variable, "
        "uploaded once to a local `gcp-storage-emulator` (in memory) and served with `STORAGE_EMULATOR_HOST`, so "
        "every run downloads it through the real google-cloud-storage client.",
        "- import/download/load/warm-up are the medians of the server's own startup log line (`phases_s`); the "
        "server downloads while TensorFlow imports. The bound uses the median wall time of "
        f'`python -c "import tensorflow"` over {len(results.import_s)} run(s): '
        + (", ".join(f"{t:.2f}" for t in results.import_s) + " s" if results.import_s else "not measured")
        + ".",
    ]
    return lines


def render(results: Results) -> str:
    """The whole markdown document."""
    cfg = results.config
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{cfg.command}` on {results.started_utc} (the whole run took {results.wall_s / 60:.1f} min). "
        f"Regenerate with the same command; do not edit by hand. Raw numbers: `{_shown(results_path(results))}`.",
        "",
    ]
    if results.foreign_cpu_share >= NOISY_SHARE:
        lines += [
            f"> **Noisy machine**: processes the harness did not start used {results.foreign_cpu_share:.0%} of the "
            "machine's CPU during this run. Absolute numbers are depressed and vary between runs; the servers were "
            "measured interleaved, so their ratios are the more trustworthy figures.",
            "",
        ]
    if cfg.quick:
        lines += [
            "> **Quick smoke run** (short runs, one round, one cold start each): it checks the harness; do not "
            "read the numbers as the server's performance.",
            "",
        ]
    lines += [
        "## Targets",
        "",
        *_table(
            ["target", "measured", "bound", "result"],
            [[t.name, t.measured, t.bound, f"**{t.verdict}**"] for t in target_rows(results)],
            "lllc",
        ),
        "",
        "## Throughput and latency",
        "",
        *load_table(results),
        "",
        "![req/s and p99 vs concurrency](benchmarks.png)",
        "",
        "## Cold start",
        "",
        *cold_table(results),
        "",
    ]
    lines += ["## How it was measured", "", *method_lines(results), "", "## Machine", ""]
    lines += [f"- {key}: {value}" for key, value in results.machine.items()]
    lines += [
        f"- load generator: {results.generator}",
        f"- load average (1/5/15 min) before: {results.load_before}; after: {results.load_after}",
        f"- other work on the machine: processes the harness did not start used {results.foreign_cpu_share:.0%} of "
        "the machine's CPU capacity over the run (from `/proc/stat`, less the harness's own and its children's)",
        "",
        "## Notes",
        "",
        "- The machine is shared and noisy: the load generator, the harness and the server share the same cores, "
        "and other work may run alongside. Compare runs from the same machine and session; re-run to check a change.",
        *[f"- {note}" for note in results.notes],
        *[f"- {s.spec.label} failed: {s.failure}" for s in results.servers if s.failure],
        *[f"- {label} was not measured: {reason}" for label, reason in results.skipped.items()],
        *[f"- cold start ({c.scenario}) failed: {c.failure}" for c in results.cold if c.failure],
        "",
    ]
    return "\n".join(lines)


def to_json(results: Results) -> str:
    """Every measured number, including the derived req/s and error totals."""

    def default(value: object) -> object:
        if isinstance(value, Path):
            return str(value)
        raise TypeError(type(value).__name__)

    data = dataclasses.asdict(results)
    for server, raw in zip(results.servers, data["servers"], strict=True):
        for load, raw_load in zip(server.loads, raw["loads"], strict=True):
            raw_load.update(rps=load.rps, errors=load.errors)
    data["targets"] = [dataclasses.asdict(t) | {"verdict": t.verdict} for t in target_rows(results)]
    return json.dumps(data, indent=2, default=default, ensure_ascii=False)


def results_path(results: Results) -> Path:
    """Where the raw numbers go: the work dir, apart for quick runs so they never replace a full run's."""
    return results.config.work_dir / ("results-quick.json" if results.config.quick else "results.json")


def write(results: Results) -> Path:
    """Write ``benchmarks.md`` and ``benchmarks.png`` to the output dir and the raw numbers to the work dir."""
    from benchmarks import chart

    out_dir = results.config.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path(results).write_text(to_json(results) + "\n")
    chart.draw(results, out_dir / "benchmarks.png")
    path = out_dir / "benchmarks.md"
    path.write_text(render(results))
    return path
