# Development: scales to zero, cheap, easy to tear down. Replace the example IDs with yours.
project_id          = "example-ml-dev"
region              = "europe-west1"
service_name        = "tf-model-server"
image               = "europe-west1-docker.pkg.dev/example-ml-dev/tf-serving/tf-model-server:0000000000000000000000000000000000000000"
model_bucket_name   = "example-ml-dev-models"
model_path          = "mnist"
model_name          = "mnist"
deletion_protection = false

cpu           = "2"
memory        = "4Gi"
cpu_idle      = true
min_instances = 0
max_instances = 3
concurrency   = 8

# Callers of the private API (identity tokens). Never allUsers here: see allow_public_access.
invoker_members = [
  "group:ml-engineers@example.com",
]
allow_public_access = false

# Batch predictions (python -m app.batch): a dedicated bucket example-ml-dev-models-batch, 2 tasks at once.
batch_job_enabled          = true
batch_task_count           = 2
batch_parallelism          = 2
batch_max_retries          = 1
batch_task_timeout_seconds = 1800

labels = {
  env = "dev"
}
