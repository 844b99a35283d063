# scripts/check-infra runs checkov a second time with every optional part of terraform/ turned on, so that resources
# behind a switch that is off by default (count = 0) are scanned too.
prediction_logs_enabled = true
batch_job_enabled       = true
mount_model_bucket      = true
gpu_count               = 1
cpu                     = "4"
memory                  = "16Gi"
