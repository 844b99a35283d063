# ---- Prediction logs in BigQuery: sampled predictions and their ground truth (off unless prediction_logs_enabled) ----
#
# The server writes one JSON line on stdout per sampled prediction and per feedback (ground truth), labelled
# entry_type = prediction | feedback. A log sink routes exactly those lines of this service into a BigQuery
# dataset, and the view prediction_quality joins them into volume, latency and accuracy (or MAE) per day and
# model version. docs/prediction-logs-bigquery.md: how to turn it on, query it, and what it costs.

# prediction_logs_enabled and prediction_logs_sample are in variables.tf: the service's environment uses them.

variable "prediction_logs_dataset_id" {
  type        = string
  description = "ID of the BigQuery dataset that receives the prediction and feedback entries (created in var.region)."
  default     = "prediction_logs"

  validation {
    # RE2 caps a repetition at 1000: the length is checked apart.
    condition     = can(regex("^[A-Za-z0-9_]+$", var.prediction_logs_dataset_id)) && length(var.prediction_logs_dataset_id) <= 1024
    error_message = "prediction_logs_dataset_id must be 1-1024 letters, digits or underscores."
  }
}

variable "prediction_logs_retention_days" {
  type        = number
  description = "Days a day's partition of log entries is kept before BigQuery deletes it (partition expiration)."
  default     = 90

  validation {
    condition     = var.prediction_logs_retention_days >= 1 && var.prediction_logs_retention_days <= 3650 && floor(var.prediction_logs_retention_days) == var.prediction_logs_retention_days
    error_message = "prediction_logs_retention_days must be a whole number between 1 and 3650."
  }
}

variable "prediction_logs_output" {
  type        = string
  description = "Output tensor of the model compared with the ground truth by the prediction_quality view, e.g. digit (the class) rather than probabilities."
  default     = "digit"

  validation {
    # It becomes a JSONPath key ($.NAME) inside a SQL string: plain identifiers only.
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_]{0,127}$", var.prediction_logs_output))
    error_message = "prediction_logs_output must be a tensor name made of letters, digits and underscores, not starting with a digit."
  }
}

variable "prediction_logs_task" {
  type        = string
  description = "What prediction_quality measures: classification (accuracy: predicted value equals the true label) or regression (mean absolute error)."
  default     = "classification"

  validation {
    condition     = contains(["classification", "regression"], var.prediction_logs_task)
    error_message = "prediction_logs_task must be \"classification\" or \"regression\"."
  }
}

locals {
  prediction_logs_count = var.prediction_logs_enabled ? 1 : 0

  # With partitioned tables Cloud Logging names the table after the log: run.googleapis.com/stdout.
  prediction_logs_table = "run_googleapis_com_stdout"

  # Exactly the prediction and feedback lines: stdout of this service or of its batch job (app.batch writes the same
  # entries, protocol "batch", with --prediction-log-sample), by the entry_type label.
  prediction_logs_filter = join(" AND ", [
    "logName=\"projects/${var.project_id}/logs/run.googleapis.com%2Fstdout\"",
    join("", [
      "((resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"${var.service_name}\")",
      " OR (resource.type=\"cloud_run_job\" AND resource.labels.job_name=\"${var.batch_job_name}\"))",
    ]),
    "(labels.entry_type=\"prediction\" OR labels.entry_type=\"feedback\")",
  ])

  prediction_logs_retention_ms = var.prediction_logs_retention_days * 24 * 60 * 60 * 1000

  prediction_quality_query = templatefile("${path.module}/sql/prediction_quality.sql", {
    project = var.project_id
    dataset = var.prediction_logs_dataset_id
    table   = local.prediction_logs_table
    output  = var.prediction_logs_output
    task    = var.prediction_logs_task
  })
}

resource "google_bigquery_dataset" "prediction_logs" {
  count = local.prediction_logs_count

  project     = var.project_id
  dataset_id  = var.prediction_logs_dataset_id
  location    = var.region
  description = "Prediction and feedback log entries of ${var.service_name} (log sink ${var.service_name}-prediction-logs)."
  labels      = local.labels

  # Partitions expire, tables do not: a default_table_expiration_ms would also delete the table and the view.
  default_partition_expiration_ms = local.prediction_logs_retention_ms
  delete_contents_on_destroy      = false

  dynamic "default_encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = default_encryption_configuration.value
    }
  }
}

# The table the sink writes to, created ahead of the sink with the columns the view reads: BigQuery checks a
# view's query when it is created, and Cloud Logging creates its table only with the first entry. Same name and
# partitioning as Logging's own (daily, on `timestamp`); Logging adds the columns of later entries itself.
resource "google_bigquery_table" "prediction_log_entries" {
  count = local.prediction_logs_count

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.prediction_logs[0].dataset_id
  table_id            = local.prediction_logs_table
  description         = "Log entries routed by the sink ${var.service_name}-prediction-logs (LogEntry schema)."
  labels              = local.labels
  deletion_protection = var.deletion_protection
  schema              = file("${path.module}/sql/run_googleapis_com_stdout.schema.json")

  time_partitioning {
    type          = "DAY"
    field         = "timestamp"
    expiration_ms = local.prediction_logs_retention_ms
  }

  dynamic "encryption_configuration" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      kms_key_name = encryption_configuration.value
    }
  }

  lifecycle {
    # Cloud Logging owns the schema once entries arrive (it adds columns); a plan must not try to drop them.
    ignore_changes = [schema]
  }
}

resource "google_bigquery_table" "prediction_quality" {
  # checkov:skip=CKV_GCP_80: A view stores no data to encrypt; the table it reads follows var.kms_key_name.
  # checkov:skip=CKV_GCP_121: A view stores no data; Terraform re-creates it from sql/prediction_quality.sql.
  count = local.prediction_logs_count

  project             = var.project_id
  dataset_id          = google_bigquery_dataset.prediction_logs[0].dataset_id
  table_id            = "prediction_quality"
  description         = "Volume, latency and ${var.prediction_logs_task} quality of output ${var.prediction_logs_output} per day and model version (sql/prediction_quality.sql)."
  labels              = local.labels
  deletion_protection = false

  view {
    query          = local.prediction_quality_query
    use_legacy_sql = false
  }

  # The query names the log table without referring to the resource.
  depends_on = [google_bigquery_table.prediction_log_entries]
}

resource "google_logging_project_sink" "prediction_logs" {
  count = local.prediction_logs_count

  project                = var.project_id
  name                   = "${var.service_name}-prediction-logs"
  description            = "Prediction and feedback entries of Cloud Run service ${var.service_name} into BigQuery."
  destination            = "bigquery.googleapis.com/projects/${var.project_id}/datasets/${google_bigquery_dataset.prediction_logs[0].dataset_id}"
  filter                 = local.prediction_logs_filter
  unique_writer_identity = true

  bigquery_options {
    use_partitioned_tables = true
  }

  # Logging would otherwise create the table itself from the first entry, and the table resource would then fail.
  depends_on = [google_bigquery_table.prediction_log_entries]
}

# Dataset-level grant to the sink's own identity: it can write tables of this dataset only.
resource "google_bigquery_dataset_iam_member" "prediction_logs_writer" {
  count = local.prediction_logs_count

  project    = var.project_id
  dataset_id = google_bigquery_dataset.prediction_logs[0].dataset_id
  role       = "roles/bigquery.dataEditor"
  member     = google_logging_project_sink.prediction_logs[0].writer_identity
}

output "prediction_logs_dataset" {
  description = "project.dataset receiving the prediction and feedback entries (null unless prediction_logs_enabled)."
  value       = var.prediction_logs_enabled ? "${var.project_id}.${google_bigquery_dataset.prediction_logs[0].dataset_id}" : null
}

output "prediction_quality_view" {
  description = "Fully qualified name of the prediction_quality view, for queries and dashboards (null unless prediction_logs_enabled)."
  value       = var.prediction_logs_enabled ? "${var.project_id}.${google_bigquery_table.prediction_quality[0].dataset_id}.${google_bigquery_table.prediction_quality[0].table_id}" : null
}

output "prediction_logs_writer_identity" {
  description = "Service account the log sink writes as (granted roles/bigquery.dataEditor on the dataset); null unless prediction_logs_enabled."
  value       = var.prediction_logs_enabled ? google_logging_project_sink.prediction_logs[0].writer_identity : null
}
