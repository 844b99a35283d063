"""The benchmark harness's own logic (no TensorFlow, no servers): parsing, targets, the report, /proc sampling."""

from __future__ import annotations

import argparse
import json
import os
import sys

import pytest

from benchmarks import __main__ as cli
from benchmarks import procs, protocols, report, servers, targets
from benchmarks.__main__ import concurrency_list, env_assignments, seconds, server_list
from benchmarks.coldstart import ColdRun, ColdStart, startup_phases
from benchmarks.load import LoadResult, median_of, parse_wrk
from benchmarks.run import Config, Results, ServerRun, server_specs
from benchmarks.servers import ServerSpec


def result(concurrency: int, rps: float, p50: float, p99: float, timeouts: int = 0) -> LoadResult:
    duration = 10.0
    return LoadResult(
        concurrency, duration, round(rps * duration), rps, p50, p50, p99, p99, 0, timeouts, timeouts, "wrk"
    )


def test_parse_wrk_reads_the_lua_result_line():
    output = (
        "Running 2s test @ http://127.0.0.1:1/predict\n"
        'BENCH_RESULT {"requests": 500, "duration_us": 2000000, "p50_us": 1500, "p90_us": 2500, "p99_us": 9000, '
        '"max_us": 12000, "connect_errors": 1, "read_errors": 2, "write_errors": 0, "timeout_errors": 3, '
        '"non2xx": 4}\n'
    )
    r = parse_wrk(output, concurrency=8)
    assert (r.rps, r.p50_ms, r.p99_ms, r.max_ms) == (250.0, 1.5, 9.0, 12.0)
    assert (r.non2xx, r.socket_errors, r.timeouts, r.errors) == (4, 6, 3, 10)
    assert r.percentiles_truncated  # there were timeouts


def test_parse_wrk_without_a_result_line_says_what_wrk_printed():
    with pytest.raises(RuntimeError, match="PANIC: lua"):
        parse_wrk("PANIC: lua error\n", concurrency=1)


def test_repeated_runs_combine_into_medians_summed_errors_and_the_highest_rss():
    runs = [result(8, 100, 10, 50), result(8, 300, 12, 90, timeouts=2), result(8, 200, 30, 60)]
    runs[1].peak_rss_bytes = 7
    combined = median_of(runs)
    assert (combined.rps, combined.p50_ms, combined.p99_ms) == (200, 12, 60)
    assert (combined.timeouts, combined.errors, combined.peak_rss_bytes, combined.rounds) == (2, 2, 7, 3)
    assert median_of(runs[:1]) is runs[0]


def test_littles_law_flags_percentiles_of_a_server_too_slow_to_finish_its_requests():
    assert result(64, rps=10, p50=900, p99=1600).percentiles_truncated  # 64 / 10 req/s = 6.4 s mean
    assert not result(64, rps=600, p50=100, p99=140).percentiles_truncated  # 107 ms mean


@pytest.mark.parametrize(("text", "value"), [("10s", 10.0), ("1.5s", 1.5), ("2m", 120.0), ("250ms", 0.25), ("3", 3.0)])
def test_durations(text, value):
    assert seconds(text) == value


def test_bad_command_line_values_are_rejected():
    for parse, text in ((seconds, "ten"), (seconds, "0s"), (concurrency_list, "1,x"), (env_assignments, "workers")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)
    assert concurrency_list("32,1,8,8") == (1, 8, 32)
    assert env_assignments("WORKERS=2,THREADS=16") == {"WORKERS": "2", "THREADS": "16"}


def test_throughput_targets_pass_and_fail():
    ours = [result(1, 400, 2.0, 5.0), result(32, 2000, 15, 40)]
    simple = [result(1, 300, 3.0, 200), result(32, 300, 80, 360)]
    seed = [result(1, 13, 60, 150), result(32, 12, 1200, 1900)]
    mlserver, bentoml = [result(32, 1300, 25, 45)], [result(32, 1000, 30, 60)]
    others = {"simple": simple, "seed": seed, "mlserver": mlserver, "bentoml": bentoml}
    verdicts = {t.name.split(": ", 1)[1]: t.passed for t in targets.throughput_targets("ours", ours, others)}
    assert verdicts == {
        "req/s at c=32 vs (b)": True,  # 6.7x
        "req/s at c=32 vs (a)": True,  # 167x
        "req/s at c=32 vs MLServer": True,  # 1.54x
        "req/s at c=32 vs BentoML": True,  # 2.0x
        "p99 at c=32": True,
        "p99/p50 at c=1": True,  # 2.5x
        "p50 at c=1 vs (b)": True,
    }
    slow = [result(1, 100, 4.0, 20.0), result(32, 600, 50, 70)]
    assert not any(t.passed for t in targets.throughput_targets("ours", slow, others))
    unmeasured = targets.throughput_targets("ours", [], {})
    assert [t.verdict for t in unmeasured] == ["n/a"] * 7


def test_the_single_worker_configuration_has_its_own_bound():
    simple = {"simple": [result(32, 300, 80, 360)]}
    passed = targets.single_worker_target("ours (WORKERS=1)", [result(32, 760, 40, 60)], simple)
    assert passed.passed and passed.bound == "≥ 2.5×" and passed.measured.startswith("2.5×")
    assert not targets.single_worker_target("ours (WORKERS=1)", [result(32, 740, 40, 60)], simple).passed
    assert targets.single_worker_target("ours (WORKERS=1)", [], simple).verdict == "n/a"


def test_a_peer_not_measured_leaves_its_target_unmeasured_and_the_others_checked():
    ours, simple = [result(32, 2000, 15, 40)], [result(32, 300, 80, 360)]
    by_name = {t.name: t for t in targets.throughput_targets("ours", ours, {"simple": simple})}
    assert by_name["ours: req/s at c=32 vs (b)"].passed
    assert by_name["ours: req/s at c=32 vs MLServer"].measured == "not measured"
    assert by_name["ours: req/s at c=32 vs BentoML"].verdict == "n/a"


def test_cold_start_bounds_follow_the_issue_formulas():
    local = ColdStart("local", "/m", 1, [ColdRun(6.5), ColdRun(6.0), ColdRun(7.0)])
    gcs = ColdStart("gcs", "gs://b/m", 1, [ColdRun(8.0, {"download_s": 7.0, "load_s": 0.5})])
    assert targets.cold_start_bound_s(local, import_s=5.0) == 6.0
    assert targets.cold_start_bound_s(gcs, import_s=5.0) == 8.5  # max(5, 7) + 0.5 + 1
    verdicts = [t.passed for t in targets.cold_start_targets([local, gcs], [5.0, 4.0, 6.0])]
    assert verdicts == [False, True]  # median 6.5 > 6.0; 8.0 <= 8.5


def test_startup_phases_come_from_the_json_startup_line(tmp_path):
    log = tmp_path / "server.log"
    log.write_text(
        "oneDNN custom operations are on\n"
        '{"message": "starting", "severity": "INFO"}\n'
        '{"message": "model mnist version 1 ready", "phases_s": {"import_s": 2.7, "load_s": 0.3}}\n'
    )
    assert startup_phases(log) == {"import_s": 2.7, "load_s": 0.3}
    log.write_text("no startup line\n")
    assert startup_phases(log) == {}


def test_report_renders_tables_targets_and_failures(tmp_path):
    ours = ServerRun(ServerSpec("ours", "ours", "ours", ("python", "-m", "app")), 4.0, 7, loads=[result(1, 400, 2, 5)])
    seed = ServerRun(ServerSpec("seed", "(a) seed pattern", "seed", ("gunicorn",)), failure="exited with 3")
    config = Config("python -m benchmarks --quick", tmp_path, tmp_path, 2, 1, 10, (1,), 1, quick=True)
    results = Results(config, "2026-01-01 00:00 UTC", {"cpu": "test"}, "0.00 0.00 0.00", servers=[ours, seed])
    results.manifest = {
        "keras_vs_savedmodel_max_abs_diff": 0.0,
        "heldout_accuracy": 0.98,
        "saved_model_bytes": 1,
        "body_bytes": 9543,
        "digit_label": 7,
        "digit_predicted": 7,
    }
    results.skipped = {"BentoML 1.4": ".venv-bentoml not found"}
    text = report.render(results)
    assert "| ours | 1 | 400.0 | 2.00 | 5.0 | 2.5 | 0 |" in text
    assert "| ours ÷ (b) | ours ÷ (a) | ours ÷ MLServer | ours ÷ BentoML |" in text
    assert "(a) seed pattern failed: exited with 3" in text
    assert "| BentoML 1.4 | — | skipped: .venv-bentoml not found |" in text
    assert "BentoML 1.4 was not measured: .venv-bentoml not found" in text
    assert "Quick smoke run" in text
    assert '"verdict": "n/a"' in report.to_json(results)


IMAGE = [[[0.0], [0.5]], [[0.25], [1.0]]]  # a 2×2×1 "image"


def test_each_protocol_carries_the_same_image():
    assert protocols.body(protocols.TF_SERVING, IMAGE) == {"instances": [IMAGE]}
    assert protocols.body(protocols.V2, IMAGE) == {
        "inputs": [{"name": "image", "shape": [1, 2, 2, 1], "datatype": "FP32", "data": [0.0, 0.5, 0.25, 1.0]}]
    }
    assert protocols.body(protocols.BENTOML, IMAGE) == {"image": [IMAGE]}
    with pytest.raises(ValueError, match="unknown protocol"):
        protocols.body("grpc", IMAGE)


def test_peer_bodies_are_written_next_to_the_tf_serving_body(tmp_path):
    tf_serving = tmp_path / "body.json"
    tf_serving.write_text(json.dumps({"instances": [IMAGE]}))
    assert protocols.body_file(protocols.TF_SERVING, tf_serving) == tf_serving
    v2 = protocols.body_file(protocols.V2, tf_serving)
    assert v2 == tmp_path / "body-v2.json"
    assert json.loads(v2.read_text())["inputs"][0]["data"] == [0.0, 0.5, 0.25, 1.0]
    assert json.loads(protocols.body_file(protocols.BENTOML, tf_serving).read_text()) == {"image": [IMAGE]}


@pytest.mark.parametrize(
    ("protocol", "answer"),
    [
        (protocols.TF_SERVING, {"predictions": [{"digit": 7, "probabilities": [0.1] * 10}]}),
        (
            protocols.V2,
            {
                "model_name": "mnist",
                "outputs": [
                    {"name": "probabilities", "shape": [1, 10], "datatype": "FP32", "data": [0.0] * 10},
                    {"name": "digit", "shape": [1, 1], "datatype": "INT64", "data": [7]},
                ],
            },
        ),
        (protocols.BENTOML, [[0.01, 0.0, 0.0, 0.02, 0.0, 0.0, 0.0, 0.95, 0.01, 0.01]]),
    ],
)
def test_the_predicted_digit_is_read_from_each_protocols_answer(protocol, answer):
    assert protocols.predicted_digit(protocol, json.dumps(answer).encode()) == 7


def test_server_list_keeps_the_harness_order_and_rejects_unknown_names():
    assert server_list("bentoml,ours,mlserver") == ("ours", "mlserver", "bentoml")
    for text in ("ours,triton", ",", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            server_list(text)
    assert cli.parse_args([]).servers == servers.SERVER_KEYS


def _config(tmp_path, keys):
    return Config("python -m benchmarks", tmp_path, tmp_path, 2, 1, 10, (1,), 1, servers=keys)


MANIFEST = {"saved_model": "/m/mnist/1", "keras_model": "/m/mnist.keras"}


def test_a_peer_without_its_venv_is_skipped_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setitem(servers.PEER_VENVS, "mlserver", tmp_path / ".venv-mlserver")
    monkeypatch.setitem(servers.PEER_VENVS, "bentoml", tmp_path / ".venv-bentoml")
    specs, skipped = server_specs(_config(tmp_path, ("simple", "mlserver", "bentoml")), MANIFEST)
    assert [s.key for s in specs] == ["simple"]
    assert skipped == {
        "MLServer 1.7": ".venv-mlserver not found (create it with `make peer-venvs`; `make bench` does it first)",
        "BentoML 1.4": ".venv-bentoml not found (create it with `make peer-venvs`; `make bench` does it first)",
    }


def test_peer_specs_run_from_their_venv_with_their_own_protocol_path_and_settings(tmp_path, monkeypatch):
    for key in ("mlserver", "bentoml"):
        command = tmp_path / f".venv-{key}" / "bin" / key
        command.parent.mkdir(parents=True)
        command.touch()
        monkeypatch.setitem(servers.PEER_VENVS, key, command.parent.parent)
    specs, skipped = server_specs(_config(tmp_path, servers.SERVER_KEYS), MANIFEST)
    assert skipped == {}
    by_key = {s.key: s for s in specs}
    assert list(by_key) == ["ours", "simple", "seed", "mlserver", "bentoml"]
    mlserver, bentoml = by_key["mlserver"], by_key["bentoml"]
    assert mlserver.argv[:2] == (str(tmp_path / ".venv-mlserver" / "bin" / "mlserver"), "start")
    assert (mlserver.path, mlserver.protocol, mlserver.env["MLSERVER_HTTP_PORT"]) == (
        "/v2/models/mnist/infer",
        protocols.V2,
        "{port}",
    )
    model_settings = json.loads((tmp_path / "mlserver" / "mnist" / "model-settings.json").read_text())
    assert model_settings["parameters"] == {"uri": "/m/mnist/1"}
    assert model_settings["max_batch_size"] > 1 and model_settings["max_batch_time"] > 0  # batching on
    settings = json.loads((tmp_path / "mlserver" / "settings.json").read_text())
    assert (settings["grpc_port"], settings["metrics_port"]) == (0, 0)  # free ports: only HTTP is measured
    assert settings["parallel_workers"] == servers.MLSERVER_PARALLEL_WORKERS
    assert bentoml.argv[:2] == (str(tmp_path / ".venv-bentoml" / "bin" / "bentoml"), "serve")
    assert (bentoml.path, bentoml.protocol, bentoml.env["MODEL_PATH"]) == ("/predict", protocols.BENTOML, "/m/mnist/1")
    assert by_key["ours"].protocol == by_key["simple"].protocol == protocols.TF_SERVING


def test_tree_rss_sums_a_process_and_its_children(tmp_path):
    with procs.running([sys.executable, "-c", "import time; time.sleep(30)"], {}, tmp_path, tmp_path / "out") as child:
        child_rss = procs.tree_rss_bytes(child.pid)
        assert child_rss > 0
        assert procs.tree_rss_bytes(os.getpid()) > child_rss  # the child is counted in its parent's tree
    assert child.poll() is not None  # stopped on leaving the block
    assert procs.tree_rss_bytes(child.pid) == 0


def test_a_missing_dependency_stops_the_run_with_the_install_command(monkeypatch, capsys):
    monkeypatch.setitem(cli.REQUIRED, "no_such_module_for_the_benchmarks", "requirements-bench.txt")
    assert cli.main(["--quick"]) == 2
    error = capsys.readouterr().err
    assert "no_such_module_for_the_benchmarks (requirements-bench.txt)" in error
    assert "-m pip install -r requirements-bench.txt" in error


def test_soak_report_says_whether_capacity_was_measured():
    from benchmarks.soak_report import ConfigResult, config_section

    given = ConfigResult(env={"MAX_IN_FLIGHT": "8"}, capacity_rps=523.0, capacity_given=True)
    assert "523 req/s**, given with `--capacity` (not measured here)" in "\n".join(config_section(given))
    measured = ConfigResult(env={}, capacity_rps=480.0, capacity_p99_ms=85.0)
    text = "\n".join(config_section(measured))
    assert "Capacity (wrk, closed loop): **480 req/s** admitted, p99 85.0 ms" in text and "--capacity" not in text
