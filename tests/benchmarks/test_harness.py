"""The benchmark harness's own logic (no TensorFlow, no servers): parsing, targets, the report, /proc sampling."""

from __future__ import annotations

import argparse
import os
import sys

import pytest

from benchmarks import __main__ as cli
from benchmarks import procs, report, targets
from benchmarks.__main__ import concurrency_list, env_assignments, seconds
from benchmarks.coldstart import ColdRun, ColdStart, startup_phases
from benchmarks.load import LoadResult, median_of, parse_wrk
from benchmarks.run import Config, Results, ServerRun
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
    verdicts = {t.name.split(": ", 1)[1]: t.passed for t in targets.throughput_targets("ours", ours, seed, simple)}
    assert verdicts == {
        "req/s at c=32 vs (b)": True,  # 6.7x
        "req/s at c=32 vs (a)": True,  # 167x
        "p99 at c=32": True,
        "p99/p50 at c=1": True,  # 2.5x
        "p50 at c=1 vs (b)": True,
    }
    slow = [result(1, 100, 4.0, 20.0), result(32, 600, 50, 70)]
    assert not any(t.passed for t in targets.throughput_targets("ours", slow, seed, simple))
    unmeasured = targets.throughput_targets("ours", [], [], [])
    assert [t.verdict for t in unmeasured] == ["n/a"] * 5


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
    text = report.render(results)
    assert "| ours | 1 | 400.0 | 2.00 | 5.0 | 2.5 | 0 |" in text
    assert "(a) seed pattern failed: exited with 3" in text
    assert "Quick smoke run" in text
    assert '"verdict": "n/a"' in report.to_json(results)


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
