# Production: one warm instance (no cold model load on the first request), CPU always allocated,
# CMEK, deletion protection. Replace the example IDs with yours.
project_id          = "example-ml-prod"
region              = "europe-west1"
service_name        = "tf-model-server"
image               = "europe-west1-docker.pkg.dev/example-ml-prod/tf-serving/tf-model-server:0000000000000000000000000000000000000000"
model_bucket_name   = "example-ml-prod-models"
model_path          = "mnist"
model_name          = "mnist"
kms_key_name        = "projects/example-ml-prod/locations/europe-west1/keyRings/ml/cryptoKeys/models"
deletion_protection = true
ingress             = "INGRESS_TRAFFIC_ALL"

cpu           = "4"
memory        = "8Gi"
cpu_idle      = false
min_instances = 1
max_instances = 20
concurrency   = 8

# GPU (NVIDIA L4): the tf-model-server-gpu image, 4 vCPU / 16Gi, max_instances within the GPU quota; gpu.tfvars
# has the whole set and docs/gpu.md the reasons.
# gpu_count = 1
# gpu_type  = "nvidia-l4"

# Canary (README.md, Deploy): name each revision after its commit, send 10 % to the new one, the rest to the
# revision serving now. Promote: canary_percent = 100, later remove both. Roll back: canary_percent = 0.
# revision_suffix = "0000000"
# stable_revision = "tf-model-server-1111111"
# canary_percent  = 10

invoker_members = [
  "serviceAccount:frontend@example-ml-prod.iam.gserviceaccount.com",
]
allow_public_access = false

# Batch predictions (python -m app.batch), off here. To turn on: a dedicated bucket, 20 tasks, 10 at a time.
batch_job_enabled = false
# batch_task_count           = 20
# batch_parallelism          = 10
# batch_cpu                  = "4"
# batch_memory               = "8Gi"
# batch_task_timeout_seconds = 7200

labels = {
  env = "prod"
}
