output "service_name" {
  description = "Name of the Cloud Run service."
  value       = google_cloud_run_v2_service.server.name
}

output "service_url" {
  description = "HTTPS URL of the service; call it with an identity token whose audience is this URL."
  value       = google_cloud_run_v2_service.server.uri
}

output "runtime_service_account" {
  description = "Email of the runtime service account (read access to the model bucket only)."
  value       = google_service_account.runtime.email
}

output "model_bucket" {
  description = "Name of the bucket holding the models."
  value       = google_storage_bucket.models.name
}

output "model_uri" {
  description = "MODEL_URI given to the container: upload the SavedModel (or a TF Serving base dir) here."
  value       = local.model_uri
}

output "image_repository" {
  description = "Docker repository path to push images to."
  value       = "${var.region}-docker.pkg.dev/${var.project_id}/${google_artifact_registry_repository.images.repository_id}"
}
