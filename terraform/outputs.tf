output "service_name" {
  description = "Name of the Cloud Run service."
  value       = google_cloud_run_v2_service.server.name
}

output "service_url" {
  description = "HTTPS URL of the service; call it with an identity token whose audience is this URL."
  value       = google_cloud_run_v2_service.server.uri
}

output "latest_revision" {
  description = "Name of the latest ready revision: the canary while stable_revision is set, and the stable_revision of the next rollout."
  value       = google_cloud_run_v2_service.server.latest_ready_revision
}

output "traffic" {
  description = "Traffic targets as Cloud Run reports them: type, revision, percent, tag and, for a tagged target, the URL that reaches only that revision."
  value = [
    for t in google_cloud_run_v2_service.server.traffic_statuses :
    { type = t.type, revision = t.revision, percent = t.percent, tag = t.tag, uri = t.uri }
  ]
}

output "canary_url" {
  description = "URL that reaches only the canary (the latest revision) while stable_revision is set, whatever its share; null otherwise."
  value       = var.stable_revision == "" ? null : one([for t in google_cloud_run_v2_service.server.traffic_statuses : t.uri if t.tag == var.canary_tag])
}

output "runtime_service_account" {
  description = "Email of the runtime service account: reads the model bucket; with batch_job_enabled also reads the batch bucket and writes under batch_output_prefix."
  value       = google_service_account.runtime.email
}

output "model_bucket" {
  description = "Name of the bucket holding the models."
  value       = google_storage_bucket.models.name
}

output "model_uri" {
  description = "Where to upload the SavedModel (or a TF Serving base dir); the batch job's MODEL_URI."
  value       = local.model_uri
}

output "service_model_uri" {
  description = "MODEL_URI of the service: model_uri, or its path under the read-only mount with mount_model_bucket."
  value       = local.service_model_uri
}

output "gpu" {
  description = "The service's accelerator: null without one, else its type, whether zonal redundancy is off and the extra environment."
  value = var.gpu_count > 0 ? {
    type                      = var.gpu_type
    zonal_redundancy_disabled = var.gpu_zonal_redundancy_disabled
    env                       = local.gpu_env
  } : null
}

output "image_repository" {
  description = "Docker repository path to push images to."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}

output "batch_job_name" {
  description = "Name of the batch prediction Cloud Run job (null unless batch_job_enabled)."
  value       = var.batch_job_enabled ? google_cloud_run_v2_job.batch[0].name : null
}

output "batch_input_uri" {
  description = "Default --input of the batch job: upload JSON Lines files here (null unless batch_job_enabled)."
  value       = var.batch_job_enabled ? local.batch_input_uri : null
}

output "batch_output_uri" {
  description = "Default --output of the batch job; give each execution its own prefix below it (null unless batch_job_enabled)."
  value       = var.batch_job_enabled ? local.batch_output_uri : null
}
