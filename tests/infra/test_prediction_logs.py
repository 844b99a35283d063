"""terraform/prediction_logs.tf: the log sink into BigQuery, its grant, and the prediction_quality view run on samples.

Terraform itself renders the view's SQL (templatefile, in a provider-less sandbox holding variables.tf and the
variables and locals of prediction_logs.tf). sqlglot parses it as BigQuery SQL, translates it to DuckDB, and DuckDB
runs it on a table built from the schema file Terraform pre-creates for the sink, filled with sample entries shaped
as Cloud Logging writes the server's prediction and feedback lines. The expected numbers are worked out by hand.
"""

import datetime as dt
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import sqlglot
from infra_checks import TerraformError, terraform, variables_sandbox
from sqlglot import exp

from tests.infra import TERRAFORM_DIR
from tests.infra.conftest import load_hcl, resources_by_address
from tests.infra.test_terraform import REQUIRED_VARS, _expression

MODULE_FILE = TERRAFORM_DIR / "prediction_logs.tf"
SCHEMA = json.loads((TERRAFORM_DIR / "sql" / "run_googleapis_com_stdout.schema.json").read_text())
PROJECT, DATASET, TABLE = "example-project", "prediction_logs", "run_googleapis_com_stdout"
# Top-level resource and output blocks (terraform fmt puts their closing brace alone in column 0).
_MANAGED_BLOCK = re.compile(r'^(?:resource|output|data) "[^\n]*\{\n.*?^\}\n', re.S | re.M)
VIEW_COLUMNS = [
    "day",
    "model_name",
    "model_version",
    "requests",
    "predicted_rows",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "requests_with_feedback",
    "rows_with_feedback",
]


@pytest.fixture(scope="module")
def module() -> dict:
    return load_hcl(MODULE_FILE)


@pytest.fixture(scope="module")
def resources(module: dict) -> dict[str, dict]:
    return resources_by_address(module)


@pytest.fixture(scope="module")
def variables(module: dict) -> dict[str, dict]:
    return {name: body for block in module["variable"] for name, body in block.items()}


@pytest.fixture(scope="module")
def sandbox(resources: dict[str, dict]) -> Iterator[Path]:
    """variables.tf plus prediction_logs.tf without its resources and outputs; outputs: the locals and counts."""
    counts = ", ".join(f'"{address}" = {_expression(body["count"])}' for address, body in resources.items())
    outputs = {
        "filter": "local.prediction_logs_filter",
        "query": "local.prediction_quality_query",
        "table": "local.prediction_logs_table",
        "retention_ms": "local.prediction_logs_retention_ms",
        "counts": f"{{ {counts} }}",
    }
    hcl = _MANAGED_BLOCK.sub("", MODULE_FILE.read_text())
    assert not re.search(r"^(resource|output|data) ", hcl, re.M), "a block was not stripped"
    hcl += "".join(f'output "{name}" {{\n  value = {value}\n}}\n' for name, value in outputs.items())
    with variables_sandbox(TERRAFORM_DIR, hcl) as path:
        shutil.copytree(TERRAFORM_DIR / "sql", path / "sql")  # templatefile("${path.module}/sql/...")
        yield path


def _evaluate(sandbox: Path, *var_args: str) -> dict:
    required = [f"-var={name}={value}" for name, value in REQUIRED_VARS.items()]
    terraform(sandbox, "apply", "-auto-approve", "-input=false", *required, *var_args)
    return {name: o["value"] for name, o in json.loads(terraform(sandbox, "output", "-json")).items()}


@pytest.fixture(scope="module")
def view_sql(sandbox: Path) -> dict[str, str]:
    """The view's query as Terraform renders it: classification of "digit" (defaults), regression of "value"."""
    regression = ["-var=prediction_logs_task=regression", "-var=prediction_logs_output=value"]
    return {
        "classification": _evaluate(sandbox)["query"],
        "regression": _evaluate(sandbox, *regression)["query"],
    }


# ---- Terraform ---------------------------------------------------------------------------------------------


def test_off_by_default_and_every_resource_behind_the_switch(
    sandbox: Path, tf_variables: dict[str, dict], resources: dict[str, dict]
) -> None:
    # In variables.tf, with prediction_logs_sample: the service's environment in main.tf uses both.
    assert tf_variables["prediction_logs_enabled"]["default"] is False
    assert set(resources) == {
        "google_bigquery_dataset.prediction_logs",
        "google_bigquery_table.prediction_log_entries",
        "google_bigquery_table.prediction_quality",
        "google_logging_project_sink.prediction_logs",
        "google_bigquery_dataset_iam_member.prediction_logs_writer",
    }
    assert set(_evaluate(sandbox)["counts"].values()) == {0}
    assert set(_evaluate(sandbox, "-var=prediction_logs_enabled=true")["counts"].values()) == {1}


def test_outputs_are_null_when_off(module: dict) -> None:
    outputs = {name: body for block in module["output"] for name, body in block.items()}
    for name, body in outputs.items():
        assert body["value"].startswith("${var.prediction_logs_enabled ?"), name
        assert body["value"].endswith(": null}"), name


def test_sink_filter_selects_the_services_prediction_and_feedback_lines(sandbox: Path) -> None:
    assert _evaluate(sandbox, "-var=service_name=my-model-api", "-var=batch_job_name=my-batch")["filter"] == (
        'logName="projects/example-project/logs/run.googleapis.com%2Fstdout"'
        ' AND ((resource.type="cloud_run_revision" AND resource.labels.service_name="my-model-api")'
        ' OR (resource.type="cloud_run_job" AND resource.labels.job_name="my-batch"))'
        ' AND (labels.entry_type="prediction" OR labels.entry_type="feedback")'
    )


def test_sink_writes_partitioned_tables_into_the_dataset(resources: dict[str, dict]) -> None:
    sink = resources["google_logging_project_sink.prediction_logs"]
    assert sink["filter"] == "${local.prediction_logs_filter}"
    assert sink["destination"] == (
        "bigquery.googleapis.com/projects/${var.project_id}/datasets/"
        "${google_bigquery_dataset.prediction_logs[0].dataset_id}"
    )
    assert sink["bigquery_options"] == [{"use_partitioned_tables": True}]
    assert sink["unique_writer_identity"] is True
    # Logging must find the pre-created table rather than create its own.
    assert sink["depends_on"] == ["${google_bigquery_table.prediction_log_entries}"]


def test_only_the_sink_identity_is_granted_and_only_on_the_dataset(resources: dict[str, dict]) -> None:
    grants = {a: b for a, b in resources.items() if re.search(r"_iam_(member|binding|policy)\.", a)}
    assert list(grants) == ["google_bigquery_dataset_iam_member.prediction_logs_writer"]
    grant = grants["google_bigquery_dataset_iam_member.prediction_logs_writer"]
    assert grant["role"] == "roles/bigquery.dataEditor"
    assert grant["member"] == "${google_logging_project_sink.prediction_logs[0].writer_identity}"
    assert grant["dataset_id"] == "${google_bigquery_dataset.prediction_logs[0].dataset_id}"


def test_log_table_is_the_one_cloud_logging_writes(sandbox: Path, resources: dict[str, dict]) -> None:
    table = resources["google_bigquery_table.prediction_log_entries"]
    assert table["table_id"] == "${local.prediction_logs_table}"
    assert _evaluate(sandbox)["table"] == TABLE
    assert table["time_partitioning"] == [
        {"type": "DAY", "field": "timestamp", "expiration_ms": "${local.prediction_logs_retention_ms}"}
    ]
    assert table["lifecycle"] == [{"ignore_changes": ["schema"]}]  # Logging adds columns later
    assert table["schema"] == '${file("${path.module}/sql/run_googleapis_com_stdout.schema.json")}'


def test_partitions_expire_after_the_retention(sandbox: Path, resources: dict[str, dict]) -> None:
    dataset = resources["google_bigquery_dataset.prediction_logs"]
    assert dataset["default_partition_expiration_ms"] == "${local.prediction_logs_retention_ms}"
    assert "default_table_expiration_ms" not in dataset  # it would delete the table and the view too
    assert _evaluate(sandbox)["retention_ms"] == 90 * 24 * 3600 * 1000
    assert _evaluate(sandbox, "-var=prediction_logs_retention_days=7")["retention_ms"] == 7 * 24 * 3600 * 1000


def test_view_is_standard_sql_from_the_template(resources: dict[str, dict]) -> None:
    view = resources["google_bigquery_table.prediction_quality"]
    assert view["view"] == [{"query": "${local.prediction_quality_query}", "use_legacy_sql": False}]
    assert view["depends_on"] == ["${google_bigquery_table.prediction_log_entries}"]


def test_every_variable_is_typed_and_described(variables: dict[str, dict]) -> None:
    for name, body in variables.items():
        assert name.startswith("prediction_logs_"), name
        assert body.get("type") and len(body.get("description", "")) > 10, name


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ("-var=prediction_logs_task=ranking", "prediction_logs_task must be"),
        ("-var=prediction_logs_output=digit']) --", "prediction_logs_output must be"),
        ("-var=prediction_logs_output=0digit", "prediction_logs_output must be"),
        ("-var=prediction_logs_retention_days=0", "prediction_logs_retention_days must be"),
        ("-var=prediction_logs_retention_days=1.5", "prediction_logs_retention_days must be"),
        ("-var=prediction_logs_dataset_id=prediction-logs", "prediction_logs_dataset_id must be"),
        ("-var=prediction_logs_sample=1.5", "prediction_logs_sample must be"),
    ],
)
def test_variable_validations_reject(sandbox: Path, override: str, error: str) -> None:
    with pytest.raises(TerraformError, match=re.escape(error)):
        _evaluate(sandbox, override)


# ---- the view's SQL ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_view_sql_parses_as_bigquery(view_sql: dict[str, str], task: str) -> None:
    (statement,) = sqlglot.parse(view_sql[task], read="bigquery", error_level=sqlglot.ErrorLevel.RAISE)
    assert isinstance(statement, exp.Select)
    (source,) = {(t.catalog, t.db, t.name) for t in statement.find_all(exp.Table) if t.db}
    assert source == (PROJECT, DATASET, TABLE)
    columns = {c.name for c in statement.find_all(exp.Column)} | {d.name for d in statement.find_all(exp.Dot)}
    assert "inputs" not in columns, "the view must not read (and pay for) jsonPayload.inputs"


_DUCKDB_TYPES = {"STRING": "VARCHAR", "FLOAT": "DOUBLE", "INTEGER": "BIGINT", "BOOLEAN": "BOOLEAN"}


def _duckdb_type(field: dict) -> str:
    if field["type"] == "RECORD":
        return "STRUCT(" + ", ".join(f'"{f["name"]}" {_duckdb_type(f)}' for f in field["fields"]) + ")"
    # BigQuery TIMESTAMPs are UTC instants: a naive DuckDB TIMESTAMP holding UTC keeps DATE() in UTC.
    return _DUCKDB_TYPES.get(field["type"], field["type"])


def _empty(field: dict) -> dict:
    return {f["name"]: _empty(f) if f["type"] == "RECORD" else None for f in field["fields"]}


def entry(time: str, entry_type: str | None, **payload: object) -> dict:
    """A row as the sink writes a server line: the label, jsonPayload's fields, the rest of the LogEntry."""
    (json_payload,) = [f for f in SCHEMA if f["name"] == "jsonPayload"]
    row = {f["name"]: _empty(f) if f["type"] == "RECORD" else None for f in SCHEMA}
    row["timestamp"] = dt.datetime.fromisoformat(time)
    row["logName"] = f"projects/{PROJECT}/logs/run.googleapis.com%2Fstdout"
    row["resource"] = {**row["resource"], "type": "cloud_run_revision"}
    row["labels"] = {"entry_type": entry_type}
    row["jsonPayload"] = {**_empty(json_payload), "entry_type": entry_type, "message": entry_type, **payload}
    return row


def prediction(
    time: str,
    request_id: str,
    version: str,
    latency_ms: float,
    outputs: dict,
    model: str = "mnist",
    protocol="tfserving",
):
    """A prediction entry; an output given as a dict stands for the server's summary of a value too large to log."""
    rows = max(len(v) if isinstance(v, list) else v["shape"][0] for v in outputs.values())
    return entry(
        time,
        "prediction",
        request_id=request_id,
        model_name=model,
        model_version=version,
        protocol=protocol,
        signature="serving_default",
        rows=float(rows),  # Cloud Logging stores JSON numbers as FLOAT
        inputs=json.dumps({"image": [[0.0] * 4] * rows}),
        outputs=json.dumps(outputs),
        truncated=any(isinstance(v, dict) for v in outputs.values()),
        latency_ms=latency_ms,
    )


def feedback(time: str, request_id: str, labels: list, model: str = "mnist") -> dict:
    return entry(time, "feedback", request_id=request_id, model_name=model, labels=json.dumps(labels))


def to_duckdb(bigquery_sql: str) -> str:
    """sqlglot's DuckDB translation, with one rewrite: TRY_CAST(... AS JSON[]) for the CAST it writes.

    BigQuery's JSON_QUERY_ARRAY gives NULL when the value is not an array (e.g. the summary of a truncated output);
    sqlglot turns it into CAST(json AS JSON[]), which fails on DuckDB in that case, where TRY_CAST gives NULL.
    """
    duckdb_sql = sqlglot.transpile(bigquery_sql, read="bigquery", write="duckdb")[0]

    def try_cast_to_json_array(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Cast) and not isinstance(node, exp.TryCast) and node.to.sql("duckdb") == "JSON[]":
            return exp.TryCast(this=node.this, to=node.to)
        return node

    return sqlglot.parse_one(duckdb_sql, read="duckdb").transform(try_cast_to_json_array).sql("duckdb")


def test_to_duckdb_rewrites_only_the_json_array_cast() -> None:
    sql = "SELECT JSON_QUERY_ARRAY(s, '$.a') AS a, CAST(n AS INT64) AS n FROM t"
    assert to_duckdb(sql) == "SELECT TRY_CAST(s -> '$.a' AS JSON[]) AS a, CAST(n AS BIGINT) AS n FROM t"


def run_view(sql: str, entries: list[dict]) -> dict[tuple[str, str, str], dict]:
    """The view's rows on DuckDB, by (day, model_name, model_version)."""
    con = duckdb.connect()
    con.execute(f"ATTACH ':memory:' AS \"{PROJECT}\"")
    con.execute(f'CREATE SCHEMA "{PROJECT}".{DATASET}')
    columns = ", ".join(f'"{f["name"]}" {_duckdb_type(f)}' for f in SCHEMA)
    con.execute(f'CREATE TABLE "{PROJECT}".{DATASET}.{TABLE} ({columns})')
    names = [f["name"] for f in SCHEMA]
    placeholders = ", ".join("?" for _ in names)
    con.executemany(
        f'INSERT INTO "{PROJECT}".{DATASET}.{TABLE} VALUES ({placeholders})', [[e[n] for n in names] for e in entries]
    )
    cursor = con.execute(to_duckdb(sql))
    header = [d[0] for d in cursor.description]
    rows = [dict(zip(header, values, strict=True)) for values in cursor.fetchall()]
    assert header[: len(VIEW_COLUMNS)] == VIEW_COLUMNS
    return {(str(r["day"]), r["model_name"], r["model_version"]): r for r in rows}


def expected(requests: int, rows: int, latency: tuple, with_feedback: int, compared: int, metric: float | None):
    p50, p95, p99 = latency
    return {
        "requests": requests,
        "predicted_rows": rows,
        "latency_p50_ms": pytest.approx(p50),
        "latency_p95_ms": pytest.approx(p95),
        "latency_p99_ms": pytest.approx(p99),
        "requests_with_feedback": with_feedback,
        "rows_with_feedback": compared,
        "metric": metric if metric is None else pytest.approx(metric),
    }


def _metrics(row: dict, metric: str) -> dict:
    return {**{k: row[k] for k in VIEW_COLUMNS[3:]}, "metric": row[metric]}


CLASSIFICATION_ENTRIES = [
    # 2026-12-01, version 1: latencies 10, 20, 30, 40 -> p50 25, p95 38.5, p99 39.7 (linear interpolation).
    prediction("2026-12-01T10:00:00", "r1", "1", 10.0, {"digit": [7, 3], "probabilities": [[0.9, 0.1], [0.2, 0.8]]}),
    prediction("2026-12-01T10:00:00", "r1", "1", 10.0, {"digit": [7, 3]}),  # delivered twice: counts once
    feedback("2026-12-01T11:00:00", "r1", [7, 2]),  # 1 of 2 rows right
    prediction("2026-12-01T10:01:00", "r2", "1", 20.0, {"digit": [5]}),
    feedback("2026-12-01T10:05:00", "r2", [4]),
    feedback("2026-12-01T10:06:00", "r2", [5]),  # a correction: the latest feedback wins, right
    prediction("2026-12-01T10:02:00", "r3", "1", 30.0, {"digit": [1]}),  # no feedback
    prediction("2026-12-01T10:03:00", "r4", "1", 40.0, {"digit": [2]}),
    feedback("2026-12-01T10:04:00", "r4", [2, 2]),  # two labels for one row: ignored
    # 2026-12-01, version 2: latencies 50, 60, 70 -> p50 60, p95 69, p99 69.8.
    prediction("2026-12-01T12:00:00", "r5", "2", 50.0, {"digit": [1]}),
    feedback("2026-12-01T12:10:00", "r5", ["1"]),  # equal as numbers: right
    prediction("2026-12-01T12:01:00", "r6", "2", 70.0, {"digit": [[8]]}),
    feedback("2026-12-01T12:11:00", "r6", [8]),  # a one-element list is its element: right
    prediction("2026-12-01T12:02:00", "r8", "2", 60.0, {"digit": ["cat"]}),
    feedback("2026-12-01T12:12:00", "r8", ["dog"]),  # text: wrong
    # 2026-12-02, version 1: latencies 15, 25 -> p50 20, p95 24.5, p99 24.9.
    prediction("2026-12-02T09:00:00", "r7", "1", 15.0, {"digit": [0, 1, 2]}),
    feedback("2026-12-04T09:00:00", "r7", [0, 9, 9]),  # two days later: 1 of 3 right, on the prediction's day
    prediction("2026-12-02T09:01:00", "r9", "1", 25.0, {"digit": {"shape": [2], "dtype": "int64", "sha256": "ab"}}),
    feedback("2026-12-02T09:02:00", "r9", [1, 2]),  # the output was too large to log: not compared
    feedback("2026-12-02T09:30:00", "r404", [1]),  # no such prediction
    # A batch job's line: counted in volume and rows, not in the online latency percentiles.
    prediction("2026-12-02T09:40:00", "gs://b/in.jsonl#1", "1", 900.0, {"digit": [4]}, protocol="batch"),
    # Another model reusing a request id: mnist's feedback for r1 is not its own.
    prediction("2026-12-02T09:05:00", "r1", "1", 5.0, {"digit": [3]}, model="fashion"),
    entry("2026-12-02T09:06:00", None, message="GET /v1/models/mnist 200"),  # any other line
]


def test_classification_view_on_sample_entries(view_sql: dict[str, str]) -> None:
    rows = run_view(view_sql["classification"], CLASSIFICATION_ENTRIES)
    assert {key: _metrics(row, "accuracy") for key, row in rows.items()} == {
        ("2026-12-01", "mnist", "1"): expected(4, 5, (25.0, 38.5, 39.7), 2, 3, 2 / 3),
        ("2026-12-01", "mnist", "2"): expected(3, 3, (60.0, 69.0, 69.8), 3, 3, 2 / 3),
        ("2026-12-02", "mnist", "1"): expected(3, 6, (20.0, 24.5, 24.9), 1, 3, 1 / 3),
        ("2026-12-02", "fashion", "1"): expected(1, 1, (5.0, 5.0, 5.0), 0, 0, None),
    }


REGRESSION_ENTRIES = [
    # 2026-12-01, version 1: latencies 5, 7, 9 -> p50 7, p95 8.8, p99 8.96.
    prediction("2026-12-01T10:00:00", "a1", "1", 5.0, {"value": [[0.5], [1.5]]}),  # Keras [n, 1] outputs
    feedback("2026-12-01T10:30:00", "a1", [1.0, 1.0]),  # errors 0.5, 0.5
    prediction("2026-12-01T10:01:00", "a2", "1", 7.0, {"value": [2.0]}),
    feedback("2026-12-01T10:31:00", "a2", [[2.75]]),  # error 0.75
    prediction("2026-12-01T10:02:00", "a3", "1", 9.0, {"value": [3.0]}),  # no feedback
    # 2026-12-01, version 2: the only feedback is not a number.
    prediction("2026-12-01T11:00:00", "a4", "2", 11.0, {"value": [10.0]}),
    feedback("2026-12-01T11:30:00", "a4", ["abc"]),
    # 2026-12-02, version 2: latencies 3, 13 -> p50 8, p95 12.5, p99 12.9; errors 1, 2 and 0.25.
    prediction("2026-12-02T08:00:00", "a5", "2", 3.0, {"value": [1, 2]}),
    feedback("2026-12-02T08:30:00", "a5", [0, 4]),
    prediction("2026-12-02T08:01:00", "a6", "2", 13.0, {"value": [0.25]}),
    feedback("2026-12-02T08:31:00", "a6", [0.5]),
]


def test_regression_view_on_sample_entries(view_sql: dict[str, str]) -> None:
    rows = run_view(view_sql["regression"], REGRESSION_ENTRIES)
    assert {key: _metrics(row, "mae") for key, row in rows.items()} == {
        ("2026-12-01", "mnist", "1"): expected(3, 4, (7.0, 8.8, 8.96), 2, 3, (0.5 + 0.5 + 0.75) / 3),
        ("2026-12-01", "mnist", "2"): expected(1, 1, (11.0, 11.0, 11.0), 0, 0, None),
        ("2026-12-02", "mnist", "2"): expected(2, 3, (8.0, 12.5, 12.9), 2, 3, (1 + 2 + 0.25) / 3),
    }


@pytest.mark.parametrize(("task", "metric"), [("classification", "accuracy"), ("regression", "mae")])
def test_view_columns(view_sql: dict[str, str], task: str, metric: str) -> None:
    row = next(iter(run_view(view_sql[task], CLASSIFICATION_ENTRIES[:1]).values()))
    assert list(row) == [*VIEW_COLUMNS, metric]


def test_the_service_and_the_batch_job_log_predictions_only_when_the_sink_is_on() -> None:
    """PREDICTION_LOG_SAMPLE reaches the server and the batch job from prediction_logs_sample, and is 0 when off."""
    main = (TERRAFORM_DIR / "main.tf").read_text()
    expected = 'value = var.prediction_logs_enabled ? tostring(var.prediction_logs_sample) : "0"'
    assert main.count('name  = "PREDICTION_LOG_SAMPLE"') == 2 and main.count(expected) == 2
