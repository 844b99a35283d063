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

# GPU variant (image built with --target gpu): uncomment and raise cpu/memory to 4 / 16Gi.
# gpu_count = 1
# gpu_type  = "nvidia-l4"

invoker_members = [
  "serviceAccount:frontend@example-ml-prod.iam.gserviceaccount.com",
]
allow_public_access = false

labels = {
  env = "prod"
}
