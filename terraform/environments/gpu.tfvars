# GPU: the service on an NVIDIA L4 (docs/gpu.md), e.g. a project of its own to compare it with the CPU service.
# Needs Cloud Run L4 quota in the region (without zonal redundancy, as set below). Replace the example IDs with yours.
project_id          = "example-ml-gpu"
region              = "europe-west4" # an L4 region: docs/gpu.md, "Regions and quota"
service_name        = "tf-model-server"
image               = "europe-west4-docker.pkg.dev/example-ml-gpu/tf-serving/tf-model-server-gpu:0000000000000000000000000000000000000000"
model_bucket_name   = "example-ml-gpu-models"
model_path          = "mnist"
model_name          = "mnist"
deletion_protection = false

# The L4 minimums (4 vCPU, 16 GiB, instance-based billing); the variable validations refuse less.
gpu_count                     = 1
gpu_type                      = "nvidia-l4"
gpu_zonal_redundancy_disabled = true
cpu                           = "4"
memory                        = "16Gi"
cpu_idle                      = false

# Scale to zero (an idle L4 instance is billed in full); at most the quota's worth of instances.
min_instances = 0
max_instances = 3

# One worker owns the GPU (gpu_batching.workers): each request needs a thread there, and up to 64 concurrent
# single-row requests fill one MAX_BATCH_SIZE batch.
concurrency = 64
gpu_batching = {
  workers          = 1
  max_batch_size   = 64
  batch_timeout_ms = 2
}

# Read the model through a read-only Cloud Storage FUSE mount instead of downloading it (docs/gpu.md).
mount_model_bucket = false

invoker_members = [
  "group:ml-engineers@example.com",
]
allow_public_access = false

batch_job_enabled = false

labels = {
  env = "gpu"
}
