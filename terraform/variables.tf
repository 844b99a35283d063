variable "project_id" {
  type        = string
  description = "Google Cloud project ID that hosts the service, the model bucket and the image repository."

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be 6-30 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "region" {
  type        = string
  description = "Region of the Cloud Run service, the model bucket and the Artifact Registry repository (e.g. europe-west1)."

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must look like a Google Cloud region, e.g. us-central1 or europe-west4."
  }
}

variable "service_name" {
  type        = string
  description = "Name of the Cloud Run service (also the runtime service account ID and the image name)."
  default     = "tf-model-server"

  validation {
    # Cloud Run service names: 1-49 chars; service account IDs need at least 6.
    condition     = can(regex("^[a-z][a-z0-9-]{4,27}[a-z0-9]$", var.service_name))
    error_message = "service_name must be 6-29 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "image" {
  type        = string
  description = "Container image to deploy, pinned by tag or digest (e.g. REGION-docker.pkg.dev/PROJECT/REPO/tf-model-server:COMMIT_SHA)."

  validation {
    condition     = can(regex("^[a-z0-9.-]+(/[a-z0-9._-]+)+(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$", var.image)) && !endswith(var.image, ":latest")
    error_message = "image must be a full image reference with an explicit tag (not :latest) or an @sha256 digest."
  }
}

variable "model_bucket_name" {
  type        = string
  description = "Globally unique name of the bucket that holds the exported SavedModel(s)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$", var.model_bucket_name)) && !startswith(var.model_bucket_name, "goog")
    error_message = "model_bucket_name must be a valid Cloud Storage bucket name (3-63 chars, lowercase, no 'goog' prefix)."
  }
}

variable "model_path" {
  type        = string
  description = "Object prefix of the model inside the bucket; MODEL_URI becomes gs://BUCKET/MODEL_PATH."
  default     = "mnist"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.model_path))
    error_message = "model_path must be a relative object prefix without leading or trailing slashes."
  }
}

variable "model_name" {
  type        = string
  description = "Model name served under /v1/models/{name} and /v2/models/{name} (MODEL_NAME)."
  default     = "mnist"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$", var.model_name))
    error_message = "model_name must be 1-63 letters, digits, dots, underscores or hyphens."
  }
}

variable "kms_key_name" {
  type        = string
  description = "Optional Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) for CMEK on the model bucket and the image repository; null uses Google-managed keys."
  default     = null

  validation {
    condition     = var.kms_key_name == null || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must be null or a full key name: projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "artifact_repository_id" {
  type        = string
  description = "ID of the Artifact Registry Docker repository that receives the images."
  default     = "tf-serving"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.artifact_repository_id))
    error_message = "artifact_repository_id must be lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "ingress" {
  type        = string
  description = "Cloud Run ingress setting. Authentication is still enforced by IAM whatever the ingress."
  default     = "INGRESS_TRAFFIC_ALL"

  validation {
    condition     = contains(["INGRESS_TRAFFIC_ALL", "INGRESS_TRAFFIC_INTERNAL_ONLY", "INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER"], var.ingress)
    error_message = "ingress must be INGRESS_TRAFFIC_ALL, INGRESS_TRAFFIC_INTERNAL_ONLY or INGRESS_TRAFFIC_INTERNAL_LOAD_BALANCER."
  }
}

variable "deletion_protection" {
  type        = bool
  description = "Refuse to destroy the Cloud Run service from Terraform (set false only to tear an environment down)."
  default     = true
}

variable "cpu" {
  type        = string
  description = "vCPU limit per instance (Cloud Run values: 1, 2, 4, 6, 8; GPU instances need at least 4)."
  default     = "2"

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.cpu)
    error_message = "cpu must be one of \"1\", \"2\", \"4\", \"6\", \"8\"."
  }
}

variable "memory" {
  type        = string
  description = "Memory limit per instance, e.g. 4Gi (512Mi-32Gi; GPU instances need at least 16Gi)."
  default     = "4Gi"

  validation {
    condition = can(regex("^[0-9]+(Mi|Gi)$", var.memory)) && (
      endswith(var.memory, "Gi")
      ? tonumber(trimsuffix(var.memory, "Gi")) >= 1 && tonumber(trimsuffix(var.memory, "Gi")) <= 32
      : tonumber(trimsuffix(var.memory, "Mi")) >= 512 && tonumber(trimsuffix(var.memory, "Mi")) <= 32768
    )
    error_message = "memory must be a Kubernetes quantity in Mi or Gi between 512Mi and 32Gi, e.g. 4Gi."
  }
}

variable "cpu_idle" {
  type        = bool
  description = "Throttle CPU between requests (request-based billing). Must be false with a GPU."
  default     = true
}

variable "min_instances" {
  type        = number
  description = "Minimum number of instances kept warm (0 allows scale to zero and cold starts that load the model)."
  default     = 0

  validation {
    condition     = var.min_instances >= 0 && floor(var.min_instances) == var.min_instances
    error_message = "min_instances must be a whole number >= 0."
  }
}

variable "max_instances" {
  type        = number
  description = "Maximum number of instances (caps cost). With a GPU keep it at or below the project's Cloud Run L4 quota in the region (one GPU per instance): Cloud Run refuses a revision whose maximum exceeds the quota."
  default     = 10

  validation {
    condition     = var.max_instances >= 1 && floor(var.max_instances) == var.max_instances && var.max_instances >= var.min_instances
    error_message = "max_instances must be a whole number >= 1 and >= min_instances."
  }
}

variable "concurrency" {
  type        = number
  description = "Maximum concurrent requests per instance; also sets THREADS (request threads per worker) so each request has a thread. On a GPU (one worker) it also caps how many requests one batch can merge: raise it to about gpu_batching.max_batch_size."
  default     = 8

  validation {
    condition     = var.concurrency >= 1 && var.concurrency <= 1000 && floor(var.concurrency) == var.concurrency
    error_message = "concurrency must be a whole number between 1 and 1000."
  }
}

variable "gpu_count" {
  type        = number
  description = "GPUs per instance: 0 (CPU image) or 1: an NVIDIA GPU (gpu_type) for the GPU image (built with --target gpu, pushed as SERVICE-gpu:SHA), with REQUIRE_GPU=true and the gpu_batching settings in its environment. See docs/gpu.md."
  default     = 0

  validation {
    condition     = contains([0, 1], var.gpu_count)
    error_message = "gpu_count must be 0 or 1 (Cloud Run attaches at most one GPU per instance)."
  }

  validation {
    condition = var.gpu_count == 0 || (
      tonumber(var.cpu) >= 4 && !var.cpu_idle &&
      (endswith(var.memory, "Gi") ? tonumber(trimsuffix(var.memory, "Gi")) * 1024 : tonumber(trimsuffix(var.memory, "Mi"))) >= 16384
    )
    error_message = "A GPU instance needs cpu >= 4, memory >= 16Gi and cpu_idle = false (Cloud Run GPU requirements)."
  }
}

variable "gpu_type" {
  type        = string
  description = "GPU accelerator type, used only when gpu_count = 1."
  default     = "nvidia-l4"

  validation {
    condition     = contains(["nvidia-l4"], var.gpu_type)
    error_message = "gpu_type must be \"nvidia-l4\" (the GPU Cloud Run services offer)."
  }
}

variable "gpu_zonal_redundancy_disabled" {
  type        = bool
  description = "With a GPU: turn off zonal redundancy (cheaper, best-effort failover; needs the matching GPU quota)."
  default     = true
}

variable "gpu_batching" {
  type = object({
    workers          = optional(number, 1)
    max_batch_size   = optional(number, 64)
    batch_timeout_ms = optional(number, 2)
  })
  description = "With a GPU: WORKERS (1: one process owns the GPU, so every request meets in one batch queue and the model sits in GPU memory once), MAX_BATCH_SIZE and BATCH_TIMEOUT_MS (wait up to this long to fill a batch: one GPU call costs about the same for 1 row as for 64). Reasoning and sizing: docs/gpu.md. Unused without a GPU (the server's defaults apply)."
  default     = {}

  validation {
    condition = (
      var.gpu_batching.workers >= 1 && var.gpu_batching.workers <= 8 && floor(var.gpu_batching.workers) == var.gpu_batching.workers &&
      var.gpu_batching.max_batch_size >= 1 && var.gpu_batching.max_batch_size <= 65536 && floor(var.gpu_batching.max_batch_size) == var.gpu_batching.max_batch_size &&
      var.gpu_batching.batch_timeout_ms >= 0 && var.gpu_batching.batch_timeout_ms <= 10000 && floor(var.gpu_batching.batch_timeout_ms) == var.gpu_batching.batch_timeout_ms
    )
    error_message = "gpu_batching needs whole numbers: workers 1-8, max_batch_size 1-65536, batch_timeout_ms 0-10000."
  }
}

variable "mount_model_bucket" {
  type        = bool
  description = "Mount the model bucket read-only at /mnt/models (a Cloud Storage FUSE volume, second generation execution environment) and set MODEL_URI to /mnt/models/MODEL_PATH: the server reads the model through the mount instead of downloading it to /tmp. The batch job still downloads. See docs/gpu.md."
  default     = false
}

variable "log_format" {
  type        = string
  description = "Log format of the server (LOG_FORMAT): json for Cloud Logging, text for humans."
  default     = "json"

  validation {
    condition     = contains(["json", "text"], var.log_format)
    error_message = "log_format must be \"json\" or \"text\"."
  }
}

variable "invoker_members" {
  type        = list(string)
  description = "IAM principals allowed to call the service (roles/run.invoker), e.g. serviceAccount:caller@p.iam.gserviceaccount.com. Empty by default: nobody but project owners."
  default     = []

  validation {
    condition = alltrue([
      for m in var.invoker_members :
      contains(["allUsers", "allAuthenticatedUsers"], m) || can(regex("^(user|serviceAccount|group|domain|principal|principalSet):.+$", m))
    ])
    error_message = "invoker_members entries must be IAM members such as user:..., serviceAccount:..., group:..., domain:..., principal:... or principalSet:...."
  }

  validation {
    condition     = var.allow_public_access || length(setintersection(toset(var.invoker_members), ["allUsers", "allAuthenticatedUsers"])) == 0
    error_message = "invoker_members must not contain allUsers or allAuthenticatedUsers unless allow_public_access = true."
  }
}

variable "allow_public_access" {
  type        = bool
  description = "Make the service callable by anyone on the internet (grants roles/run.invoker to allUsers). Keep false for a private model API."
  default     = false
}

variable "labels" {
  type        = map(string)
  description = "Labels added to every resource that supports them."
  default     = {}
}

# ---- Versioned rollouts: canary, promotion, rollback ------------------------------------------------------

variable "revision_suffix" {
  type        = string
  description = "Names the revision this configuration creates SERVICE-SUFFIX (like gcloud run deploy --revision-suffix), e.g. the short commit SHA of the image; a new image or setting needs a new suffix. Empty: Cloud Run generates the name."
  default     = ""

  validation {
    condition = var.revision_suffix == "" || (
      can(regex("^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", var.revision_suffix)) &&
      length(var.service_name) + 1 + length(var.revision_suffix) <= 63
    )
    error_message = "revision_suffix must be empty or lowercase letters, digits and inner hyphens, with service_name-revision_suffix at most 63 characters."
  }
}

variable "stable_revision" {
  type        = string
  description = "Full name of the revision that keeps 100 - canary_percent % of the requests (tag \"stable\"), e.g. tf-model-server-abc1234 or one from `gcloud run revisions list`; the latest revision becomes the canary. Empty: no split, the latest revision serves everything."
  default     = ""

  validation {
    condition = var.stable_revision == "" || (
      startswith(var.stable_revision, "${var.service_name}-") &&
      can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.stable_revision))
    )
    error_message = "stable_revision must be empty or a revision of this service: service_name, a hyphen and a suffix, at most 63 lowercase letters, digits or hyphens."
  }

  validation {
    condition     = var.stable_revision == "" || var.revision_suffix == "" || var.stable_revision != format("%s-%s", var.service_name, var.revision_suffix)
    error_message = "stable_revision must not be the revision this configuration creates (service_name-revision_suffix): the canary needs a new revision_suffix."
  }
}

variable "canary_percent" {
  type        = number
  description = "With stable_revision: the share of requests (0-100) for the latest revision, the canary; 0 = dark launch or rollback, 100 = promoted. Without stable_revision only 0 (default) or 100: the latest revision serves everything."
  default     = 0

  validation {
    condition     = var.canary_percent >= 0 && var.canary_percent <= 100 && floor(var.canary_percent) == var.canary_percent
    error_message = "canary_percent must be a whole number between 0 and 100."
  }

  validation {
    condition     = var.stable_revision != "" || contains([0, 100], var.canary_percent)
    error_message = "canary_percent between 1 and 99 needs stable_revision: the revision that serves the other 100 - canary_percent %."
  }
}

variable "canary_tag" {
  type        = string
  description = "Traffic tag of the latest revision while stable_revision is set: https://TAG---SERVICE-... reaches it alone, even at 0 % (output canary_url)."
  default     = "canary"

  validation {
    # Cloud Run puts TAG---SERVICE into one DNS label: tag and service name together are limited to 46 characters.
    condition = (
      can(regex("^[a-z]([a-z0-9-]*[a-z0-9])?$", var.canary_tag)) &&
      length(var.canary_tag) + length(var.service_name) <= 46 && var.canary_tag != "stable"
    )
    error_message = "canary_tag must be lowercase letters, digits or inner hyphens starting with a letter, not \"stable\" (the stable revision's tag), and at most 46 characters together with service_name."
  }
}

# ---- Batch predictions (Cloud Run job) --------------------------------------------------------------------

variable "batch_job_enabled" {
  type        = bool
  description = "Create the Cloud Run job that runs batch predictions (python -m app.batch, same image and runtime service account), its bucket and its grants."
  default     = false
}

variable "batch_job_name" {
  type        = string
  description = "Name of the batch prediction Cloud Run job."
  default     = "tf-model-batch"

  validation {
    condition     = can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.batch_job_name))
    error_message = "batch_job_name must be 1-63 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "batch_bucket_name" {
  type        = string
  description = "Bucket holding batch inputs and outputs. null creates a dedicated one named MODEL_BUCKET-batch; set it to an existing bucket (the model bucket included) to use that instead. Writes are limited to batch_output_prefix either way."
  default     = null

  validation {
    condition     = var.batch_bucket_name == null || (can(regex("^[a-z0-9][a-z0-9_.-]{1,61}[a-z0-9]$", var.batch_bucket_name)) && !startswith(coalesce(var.batch_bucket_name, "x"), "goog"))
    error_message = "batch_bucket_name must be null or a valid Cloud Storage bucket name (3-63 chars, lowercase, no 'goog' prefix)."
  }
}

variable "batch_input_pattern" {
  type        = string
  description = "Default --input of the job, inside the batch bucket: a JSON Lines object or a pattern (* within one level, ** across levels)."
  default     = "batch/input/*.jsonl"

  validation {
    condition     = can(regex("^[A-Za-z0-9._*?-]+(/[A-Za-z0-9._*?-]+)*$", var.batch_input_pattern))
    error_message = "batch_input_pattern must be a relative object name or pattern without leading or trailing slashes, e.g. batch/input/*.jsonl."
  }
}

variable "batch_output_prefix" {
  type        = string
  description = "Object prefix in the batch bucket under which the job may write (part files, errors/, .done markers); also its default --output."
  default     = "batch/output"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.batch_output_prefix))
    error_message = "batch_output_prefix must be a relative object prefix without leading or trailing slashes, e.g. batch/output."
  }
}

variable "batch_task_count" {
  type        = number
  description = "Tasks per execution (CLOUD_RUN_TASK_COUNT): each predicts an equal share of the input bytes."
  default     = 4

  validation {
    condition     = var.batch_task_count >= 1 && var.batch_task_count <= 10000 && floor(var.batch_task_count) == var.batch_task_count
    error_message = "batch_task_count must be a whole number between 1 and 10000."
  }
}

variable "batch_parallelism" {
  type        = number
  description = "Most tasks running at once (each loads its own copy of the model)."
  default     = 4

  validation {
    condition     = var.batch_parallelism >= 1 && var.batch_parallelism <= var.batch_task_count && floor(var.batch_parallelism) == var.batch_parallelism
    error_message = "batch_parallelism must be a whole number between 1 and batch_task_count."
  }
}

variable "batch_max_retries" {
  type        = number
  description = "Retries of a failed task; safe because a task redoes its whole shard and replaces its files."
  default     = 3

  validation {
    condition     = var.batch_max_retries >= 0 && var.batch_max_retries <= 10 && floor(var.batch_max_retries) == var.batch_max_retries
    error_message = "batch_max_retries must be a whole number between 0 and 10."
  }
}

variable "batch_task_timeout_seconds" {
  type        = number
  description = "Time limit of one task attempt, model load included (Cloud Run allows up to 168 hours)."
  default     = 3600

  validation {
    condition     = var.batch_task_timeout_seconds >= 60 && var.batch_task_timeout_seconds <= 604800 && floor(var.batch_task_timeout_seconds) == var.batch_task_timeout_seconds
    error_message = "batch_task_timeout_seconds must be a whole number between 60 and 604800."
  }
}

variable "batch_size" {
  type        = number
  description = "Lines per model call (--batch-size)."
  default     = 256

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 65536 && floor(var.batch_size) == var.batch_size
    error_message = "batch_size must be a whole number between 1 and 65536."
  }
}

variable "batch_cpu" {
  type        = string
  description = "vCPU limit per batch task (1, 2, 4, 6 or 8)."
  default     = "2"

  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.batch_cpu)
    error_message = "batch_cpu must be one of \"1\", \"2\", \"4\", \"6\", \"8\"."
  }
}

variable "batch_memory" {
  type        = string
  description = "Memory limit per batch task, e.g. 4Gi: the model, plus the task's output spooled in /tmp until it is uploaded."
  default     = "4Gi"

  validation {
    condition = can(regex("^[0-9]+(Mi|Gi)$", var.batch_memory)) && (
      endswith(var.batch_memory, "Gi")
      ? tonumber(trimsuffix(var.batch_memory, "Gi")) >= 1 && tonumber(trimsuffix(var.batch_memory, "Gi")) <= 32
      : tonumber(trimsuffix(var.batch_memory, "Mi")) >= 512 && tonumber(trimsuffix(var.batch_memory, "Mi")) <= 32768
    )
    error_message = "batch_memory must be a Kubernetes quantity in Mi or Gi between 512Mi and 32Gi, e.g. 4Gi."
  }
}

variable "prediction_logs_enabled" {
  type        = bool
  description = "Route the server's prediction and feedback log entries into a BigQuery dataset, with the prediction_quality view. Off: nothing is created and nothing costs."
  default     = false
}

variable "prediction_logs_sample" {
  type        = number
  description = "With prediction_logs_enabled: share of predictions the server logs (its PREDICTION_LOG_SAMPLE, 0-1). Feedback scores logged predictions only; feedback entries are always written."
  default     = 0.1

  validation {
    condition     = var.prediction_logs_sample >= 0 && var.prediction_logs_sample <= 1
    error_message = "prediction_logs_sample must be between 0 and 1."
  }
}
