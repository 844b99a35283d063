-- Prediction quality per UTC day, model and model version: volume, latency percentiles, how many requests got
-- ground truth, and the ${task == "classification" ? "accuracy" : "mean absolute error"} of output "${output}".
--
-- A Terraform template (terraform/prediction_logs.tf renders it with templatefile()): $${project}, $${dataset} and
-- $${table} (the sink's table), $${output} (a tensor name of the outputs), $${task} (classification or regression).
--
-- Source: the table the log sink fills. What this relies on, from Google's documentation (read 2026-12-03):
--   * Cloud Logging API, BigQueryOptions.use_partitioned_tables: without it Logging writes dated tables
--     (syslog_20170523); with it "the date suffix is no longer present", and new sinks partition on the
--     `timestamp` column. The table is named after the log ID, periods and slashes turned into underscores:
--     run.googleapis.com/stdout -> run_googleapis_com_stdout.
--   * "BigQuery schema for logs" (cloud.google.com/logging/docs/export/bigquery): LogEntry fields keep their
--     names (timestamp, labels.entry_type); payload fields are lower-cased under jsonPayload
--     (jsonPayload.request_id); "the first exported log entry determines the schema" and later entries add
--     columns but cannot change a column's type. jsonPayload is a protobuf Struct, so its numbers arrive as FLOAT
--     (hence CAST(rows AS INT64)).
--   * "Structured logging", special JSON fields (cloud.google.com/logging/docs/structured-logging): the line's
--     "logging.googleapis.com/labels" object becomes the entry's labels, hence labels.entry_type.
-- terraform/sql/run_googleapis_com_stdout.schema.json pre-creates that table with the columns used below, so this
-- view can be created before the first entry arrives.
--
-- Joins: a prediction and its feedback share model_name and request_id. A request_id counts once: the first
-- prediction entry (Cloud Logging's export may deliver an entry twice) and the latest feedback entry (a resend or
-- a correction replaces the earlier one). Feedback may arrive days later; it counts on its prediction's day.
-- Rows are compared by position: the i-th value of outputs.${output} against the i-th true label; feedback that
-- does not give exactly one label per predicted row is ignored. A value is a JSON scalar (7, "cat", 0.93) or a
-- one-element list ([0.93]: the [n, 1] outputs of many regressors); anything else is not compared. An output too
-- large to log is the server's summary ({"shape", "dtype", "sha256"}), not a list: that prediction is not compared.
%{ if task == "classification" ~}
-- Classification: a row is correct when the values are equal as numbers (7 = 7.0 = "7"), else as text.
%{ else ~}
-- Regression: the absolute error of a row is |predicted - true| as FLOAT64; non-numeric values are not compared.
%{ endif ~}
--
-- Tested on DuckDB (tests/infra/test_prediction_logs.py) after sqlglot's BigQuery -> DuckDB translation, with one
-- rewrite there: TRY_CAST for the CAST(... AS JSON[]) that JSON_QUERY_ARRAY becomes, as BigQuery's gives NULL for
-- a non-array. Hence PERCENTILE_CONT rather than APPROX_QUANTILES, whose DuckDB counterpart estimates differently:
-- exact, but it needs one day's predictions of a version on one worker, which suits sampled logs
-- (docs/prediction-logs-bigquery.md: larger volumes).
WITH
entries AS (
  -- Only these columns are read, and billed: never jsonPayload.inputs.
  SELECT
    timestamp,
    labels.entry_type AS entry_type,
    jsonPayload.model_name AS model_name,
    jsonPayload.model_version AS model_version,
    jsonPayload.request_id AS request_id,
    CAST(jsonPayload.`rows` AS INT64) AS row_count,
    -- Batch predictions (protocol "batch") count in the volume, not in the online latency percentiles.
    IF(jsonPayload.protocol = 'batch', NULL, jsonPayload.latency_ms) AS latency_ms,
    jsonPayload.outputs AS outputs,
    jsonPayload.labels AS true_labels
  FROM `${project}.${dataset}.${table}`
  WHERE labels.entry_type IN ('prediction', 'feedback')
),

predictions AS (
  SELECT
    DATE(timestamp) AS day,
    model_name,
    model_version,
    request_id,
    row_count,
    latency_ms,
    outputs
  FROM entries
  WHERE entry_type = 'prediction'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY model_name, request_id ORDER BY timestamp) = 1
),

feedback AS (
  SELECT model_name, request_id, true_labels
  FROM entries
  WHERE entry_type = 'feedback'
  QUALIFY ROW_NUMBER() OVER (PARTITION BY model_name, request_id ORDER BY timestamp DESC) = 1
),

labelled AS (
  SELECT
    p.model_name,
    p.request_id,
    JSON_QUERY_ARRAY(p.outputs, '$.${output}') AS predicted_values,
    JSON_QUERY_ARRAY(f.true_labels) AS true_values
  FROM predictions AS p
  JOIN feedback AS f ON f.model_name = p.model_name AND f.request_id = p.request_id
),

compared_rows AS (
  -- One row per predicted row: its value and the true label at the same position, as JSON text.
  SELECT
    model_name,
    request_id,
    predicted_value,
    true_values[SAFE_OFFSET(position)] AS true_value
  FROM labelled
  CROSS JOIN UNNEST(predicted_values) AS predicted_value WITH OFFSET AS position
  WHERE ARRAY_LENGTH(predicted_values) = ARRAY_LENGTH(true_values)
),

scalars AS (
  SELECT
    model_name,
    request_id,
    COALESCE(
      JSON_VALUE(predicted_value),
      IF(JSON_QUERY(predicted_value, '$[1]') IS NULL, JSON_VALUE(predicted_value, '$[0]'), NULL)
    ) AS predicted,
    COALESCE(
      JSON_VALUE(true_value),
      IF(JSON_QUERY(true_value, '$[1]') IS NULL, JSON_VALUE(true_value, '$[0]'), NULL)
    ) AS truth
  FROM compared_rows
),

scores AS (
  -- Per request: rows compared and the sum of their scores (1/0 for correct/wrong, or the absolute error).
  SELECT model_name, request_id, COUNT(*) AS rows_compared, SUM(score) AS score_sum
  FROM (
    SELECT
      model_name,
      request_id,
%{ if task == "classification" ~}
      CAST(COALESCE(SAFE_CAST(predicted AS FLOAT64) = SAFE_CAST(truth AS FLOAT64), predicted = truth) AS INT64) AS score
%{ else ~}
      ABS(SAFE_CAST(predicted AS FLOAT64) - SAFE_CAST(truth AS FLOAT64)) AS score
%{ endif ~}
    FROM scalars
  )
  WHERE score IS NOT NULL
  GROUP BY model_name, request_id
),

predictions_with_latency AS (
  SELECT
    *,
    PERCENTILE_CONT(latency_ms, 0.5) OVER version_day AS latency_p50_ms,
    PERCENTILE_CONT(latency_ms, 0.95) OVER version_day AS latency_p95_ms,
    PERCENTILE_CONT(latency_ms, 0.99) OVER version_day AS latency_p99_ms
  FROM predictions
  WINDOW version_day AS (PARTITION BY day, model_name, model_version)
)

SELECT
  p.day,
  p.model_name,
  p.model_version,
  COUNT(*) AS requests,
  SUM(p.row_count) AS predicted_rows,
  ANY_VALUE(p.latency_p50_ms) AS latency_p50_ms,
  ANY_VALUE(p.latency_p95_ms) AS latency_p95_ms,
  ANY_VALUE(p.latency_p99_ms) AS latency_p99_ms,
  COUNT(s.request_id) AS requests_with_feedback,
  COALESCE(SUM(s.rows_compared), 0) AS rows_with_feedback,
  SAFE_DIVIDE(SUM(s.score_sum), SUM(s.rows_compared)) AS %{ if task == "classification" }accuracy%{ else }mae%{ endif }
FROM predictions_with_latency AS p
LEFT JOIN scores AS s ON s.model_name = p.model_name AND s.request_id = p.request_id
GROUP BY p.day, p.model_name, p.model_version
