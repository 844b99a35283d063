locals {
  # Where the model lives (and where the batch job always downloads it from).
  model_uri = "gs://${google_storage_bucket.models.name}/${var.model_path}"

  # MODEL_URI of the service. With mount_model_bucket the bucket is a read-only Cloud Storage FUSE volume and the
  # server loads the SavedModel from the mount, with no copy in /tmp (which counts against memory); otherwise it
  # downloads gs://... at start-up. Trade-offs: docs/gpu.md, "Model from a Cloud Storage volume".
  model_mount_path  = "/mnt/models"
  service_model_uri = var.mount_model_bucket ? "${local.model_mount_path}/${var.model_path}" : local.model_uri

  # What a GPU revision adds to the environment: the REQUIRE_GPU self-check (the server exits at start-up instead of
  # silently serving on the CPU), one worker process owning the GPU, and batching sized for it (docs/gpu.md).
  gpu_env = var.gpu_count > 0 ? {
    REQUIRE_GPU      = "true"
    WORKERS          = tostring(var.gpu_batching.workers)
    MAX_BATCH_SIZE   = tostring(var.gpu_batching.max_batch_size)
    BATCH_TIMEOUT_MS = tostring(var.gpu_batching.batch_timeout_ms)
  } : {}

  resource_limits = merge(
    { cpu = var.cpu, memory = var.memory },
    var.gpu_count > 0 ? { "nvidia.com/gpu" = tostring(var.gpu_count) } : {},
  )

  # Public access is only ever granted through allow_public_access; the variable validation keeps
  # allUsers/allAuthenticatedUsers out of invoker_members otherwise.
  invoker_members = toset(concat(var.invoker_members, var.allow_public_access ? ["allUsers"] : []))

  labels = merge(var.labels, { app = var.service_name })

  # SERVICE-SUFFIX, as gcloud's --revision-suffix names it, so a later canary can refer to it as stable_revision.
  # null lets Cloud Run generate the name (SERVICE-00042-xyz).
  revision_name = var.revision_suffix == "" ? null : format("%s-%s", var.service_name, var.revision_suffix)

  # Without stable_revision the latest ready revision serves everything. With it, the latest revision is the canary
  # (canary_percent, tagged canary_tag) and stable_revision serves the rest (tagged "stable"): 0 = dark launch or
  # rollback, 100 = promoted. A target at 0 % keeps its tag, so its URL still reaches it for tests.
  traffic_targets = concat(
    [{
      type     = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
      percent  = var.stable_revision == "" ? 100 : var.canary_percent
      revision = null
      tag      = var.stable_revision == "" ? null : var.canary_tag
    }],
    var.stable_revision == "" ? [] : [{
      type     = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
      percent  = 100 - var.canary_percent
      revision = var.stable_revision
      tag      = "stable"
    }],
  )
}

# Identity of the serving container: it may read the model bucket and nothing else.
resource "google_service_account" "runtime" {
  project      = var.project_id
  account_id   = var.service_name
  display_name = "Runtime identity of the ${var.service_name} Cloud Run service"
}

resource "google_storage_bucket" "models" {
  # checkov:skip=CKV_GCP_62: Reads are covered by Cloud Audit Logs (Data Access); a second bucket for usage logs adds cost without value here.
  project                     = var.project_id
  name                        = var.model_bucket_name
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  versioning {
    enabled = true
  }

  # Versioning keeps overwritten models; drop non-current versions after 30 days.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }
}

# Bucket-level grant (not project-level): the runtime identity can list and read the model objects only.
resource "google_storage_bucket_iam_member" "runtime_model_reader" {
  bucket = google_storage_bucket.models.name
  role   = "roles/storage.objectViewer"
  member = google_service_account.runtime.member
}

resource "google_artifact_registry_repository" "images" {
  # checkov:skip=CKV_GCP_84: CMEK is opt-in through var.kms_key_name; Google-managed encryption otherwise.
  project       = var.project_id
  location      = var.region
  repository_id = var.artifact_repository_id
  description   = "Container images of ${var.service_name}"
  format        = "DOCKER"
  kms_key_name  = var.kms_key_name
  labels        = local.labels

  docker_config {
    # Tags are commit SHAs: never move a tag to other content.
    immutable_tags = true
  }
}

resource "google_cloud_run_v2_service" "server" {
  project             = var.project_id
  name                = var.service_name
  location            = var.region
  ingress             = var.ingress
  deletion_protection = var.deletion_protection
  labels              = local.labels

  template {
    revision                         = local.revision_name
    service_account                  = google_service_account.runtime.email
    max_instance_request_concurrency = var.concurrency
    timeout                          = "300s"
    gpu_zonal_redundancy_disabled    = var.gpu_count > 0 ? var.gpu_zonal_redundancy_disabled : null
    # Cloud Storage volumes need the second generation; otherwise Cloud Run picks the environment itself.
    execution_environment = var.mount_model_bucket ? "EXECUTION_ENVIRONMENT_GEN2" : null
    labels                = local.labels

    scaling {
      min_instance_count = var.min_instances
      max_instance_count = var.max_instances
    }

    dynamic "node_selector" {
      for_each = var.gpu_count > 0 ? [var.gpu_type] : []
      content {
        accelerator = node_selector.value
      }
    }

    # Read-only: the server never writes models, and a read-only mount cannot be used to replace one.
    dynamic "volumes" {
      for_each = var.mount_model_bucket ? [google_storage_bucket.models.name] : []
      content {
        name = "models"
        gcs {
          bucket    = volumes.value
          read_only = true
        }
      }
    }

    containers {
      name  = "server"
      image = var.image

      # Cloud Run sets PORT from this; the server listens on $PORT.
      ports {
        container_port = 8080
      }

      env {
        name  = "MODEL_URI"
        value = local.service_model_uri
      }
      env {
        name  = "MODEL_NAME"
        value = var.model_name
      }
      env {
        name  = "THREADS"
        value = tostring(var.concurrency)
      }
      env {
        name  = "LOG_FORMAT"
        value = var.log_format
      }
      env {
        name  = "GOOGLE_CLOUD_PROJECT"
        value = var.project_id
      }
      env {
        # Prediction entries for the BigQuery sink (prediction_logs.tf); none unless it is on.
        name  = "PREDICTION_LOG_SAMPLE"
        value = var.prediction_logs_enabled ? tostring(var.prediction_logs_sample) : "0"
      }
      dynamic "env" {
        for_each = local.gpu_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "volume_mounts" {
        for_each = var.mount_model_bucket ? ["models"] : []
        content {
          name       = volume_mounts.value
          mount_path = local.model_mount_path
        }
      }

      # startup_cpu_boost: more CPU while the instance starts (importing TensorFlow, loading and warming up the
      # model), billed only for that time; it shortens every cold start.
      resources {
        limits            = local.resource_limits
        cpu_idle          = var.cpu_idle
        startup_cpu_boost = true
      }

      # /readyz answers 200 only once the model is downloaded, loaded and warmed up. Cloud Run allows
      # at most 240 s in total here: 24 x 10 s gives a large model time to load before the instance is killed.
      startup_probe {
        initial_delay_seconds = 0
        period_seconds        = 10
        timeout_seconds       = 5
        failure_threshold     = 24
        http_get {
          path = "/readyz"
          port = 8080
        }
      }

      # /healthz only says the process is alive; a slow prediction must not get the instance restarted.
      liveness_probe {
        period_seconds    = 30
        timeout_seconds   = 5
        failure_threshold = 3
        http_get {
          path = "/healthz"
          port = 8080
        }
      }
    }
  }

  # Terraform owns the split from here on: an apply undoes `gcloud run services update-traffic` (README.md, Deploy).
  dynamic "traffic" {
    for_each = local.traffic_targets
    content {
      type     = traffic.value.type
      percent  = traffic.value.percent
      revision = traffic.value.revision
      tag      = traffic.value.tag
    }
  }

  # The first revision downloads (or mounts) the model while starting: grant read access before it exists. The same
  # objectViewer grant (storage.objects.get and .list) is all a read-only Cloud Storage FUSE mount needs.
  depends_on = [google_storage_bucket_iam_member.runtime_model_reader]
}

resource "google_cloud_run_v2_service_iam_member" "invokers" {
  for_each = local.invoker_members

  project  = google_cloud_run_v2_service.server.project
  location = google_cloud_run_v2_service.server.location
  name     = google_cloud_run_v2_service.server.name
  role     = "roles/run.invoker"
  member   = each.value
}

# ---- Batch predictions: a Cloud Run job running `python -m app.batch` (off unless batch_job_enabled) ----------

locals {
  # Inputs and outputs live in a bucket of their own unless batch_bucket_name names another one (possibly the
  # model bucket). Either way the runtime identity may write only under batch_output_prefix.
  batch_bucket              = coalesce(var.batch_bucket_name, format("%s-batch", var.model_bucket_name))
  batch_bucket_created      = var.batch_job_enabled && var.batch_bucket_name == null
  batch_shares_model_bucket = local.batch_bucket == var.model_bucket_name
  batch_input_uri           = "gs://${local.batch_bucket}/${var.batch_input_pattern}"
  batch_output_uri          = "gs://${local.batch_bucket}/${var.batch_output_prefix}"

  # Default arguments of every execution; `gcloud run jobs execute --args=...` replaces them for one run.
  batch_args = [
    "--input", local.batch_input_uri,
    "--output", local.batch_output_uri,
    "--batch-size", tostring(var.batch_size),
  ]
}

resource "google_storage_bucket" "batch" {
  # checkov:skip=CKV_GCP_62: Reads and writes are covered by Cloud Audit Logs (Data Access); a usage-log bucket adds cost without value here.
  count = local.batch_bucket_created ? 1 : 0

  project                     = var.project_id
  name                        = local.batch_bucket
  location                    = upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true # required for the IAM condition on the write grant
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.labels

  versioning {
    enabled = true
  }

  # Re-runs overwrite part files with the same lines; drop the non-current copies after 30 days.
  lifecycle_rule {
    condition {
      days_since_noncurrent_time = 30
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  dynamic "encryption" {
    for_each = var.kms_key_name == null ? [] : [var.kms_key_name]
    content {
      default_kms_key_name = encryption.value
    }
  }

  lifecycle {
    precondition {
      condition     = length(local.batch_bucket) <= 63
      error_message = "The default batch bucket name (model_bucket_name + \"-batch\") is over 63 characters: set batch_bucket_name."
    }
  }
}

# Reading inputs (get and list). Not needed on the model bucket: runtime_model_reader already grants it.
resource "google_storage_bucket_iam_member" "runtime_batch_reader" {
  count = var.batch_job_enabled && !local.batch_shares_model_bucket ? 1 : 0

  bucket = local.batch_bucket_created ? google_storage_bucket.batch[0].name : local.batch_bucket
  role   = "roles/storage.objectViewer"
  member = google_service_account.runtime.member
}

# Writing outputs. objectCreator is not enough: a retried task reads its .done marker (get) and replaces part
# files an interrupted attempt already published (delete). objectUser has both; the condition limits it to
# objects under the output prefix, so even on the model bucket the identity can never replace a model.
resource "google_storage_bucket_iam_member" "runtime_batch_writer" {
  count = var.batch_job_enabled ? 1 : 0

  bucket = local.batch_bucket_created ? google_storage_bucket.batch[0].name : local.batch_bucket
  role   = "roles/storage.objectUser"
  member = google_service_account.runtime.member

  condition {
    title       = "batch-output-prefix-only"
    description = "Objects under gs://${local.batch_bucket}/${var.batch_output_prefix}/ only"
    expression  = "resource.name.startsWith(\"projects/_/buckets/${local.batch_bucket}/objects/${var.batch_output_prefix}/\")"
  }
}

resource "google_cloud_run_v2_job" "batch" {
  count = var.batch_job_enabled ? 1 : 0

  project             = var.project_id
  name                = var.batch_job_name
  location            = var.region
  deletion_protection = var.deletion_protection
  labels              = local.labels

  template {
    # Each task takes 1/task_count of the input bytes (see docs/batch.md); parallelism caps how many run at once.
    task_count  = var.batch_task_count
    parallelism = var.batch_parallelism
    labels      = local.labels

    template {
      service_account = google_service_account.runtime.email
      max_retries     = var.batch_max_retries
      timeout         = "${var.batch_task_timeout_seconds}s"

      containers {
        name    = "batch"
        image   = var.image
        command = ["python", "-m", "app.batch"]
        args    = local.batch_args

        env {
          name  = "MODEL_URI"
          value = local.model_uri
        }
        env {
          name  = "MODEL_NAME"
          value = var.model_name
        }
        env {
          name  = "LOG_FORMAT"
          value = var.log_format
        }
        env {
          name  = "GOOGLE_CLOUD_PROJECT"
          value = var.project_id
        }
        env {
          # The same prediction entries for batch predictions (protocol "batch"), into the same table.
          name  = "PREDICTION_LOG_SAMPLE"
          value = var.prediction_logs_enabled ? tostring(var.prediction_logs_sample) : "0"
        }

        resources {
          limits = { cpu = var.batch_cpu, memory = var.batch_memory }
        }
      }
    }
  }

  # Tasks read the model and the inputs and write outputs from their first second: grant access first.
  depends_on = [
    google_storage_bucket_iam_member.runtime_model_reader,
    google_storage_bucket_iam_member.runtime_batch_reader,
    google_storage_bucket_iam_member.runtime_batch_writer,
  ]
}
