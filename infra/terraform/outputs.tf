output "api_url" {
  description = "Public URL of the API service."
  value       = google_cloud_run_v2_service.api.uri
}

output "worker_url" {
  description = "URL of the private worker service (Cloud Tasks target)."
  value       = google_cloud_run_v2_service.worker.uri
}

output "upload_bucket" {
  description = "Bucket browsers upload audio to with signed URLs."
  value       = google_storage_bucket.uploads.name
}

output "results_bucket" {
  description = "Bucket the worker spills large timelines to."
  value       = google_storage_bucket.results.name
}

output "queue_name" {
  description = "Cloud Tasks queue of report jobs."
  value       = google_cloud_tasks_queue.reports.name
}

output "image_registry" {
  description = "Artifact Registry path images are pushed to (cloudbuild.yaml _REGISTRY)."
  value       = local.registry
}

output "invoker_email" {
  description = "Service account Cloud Tasks mints OIDC tokens as."
  value       = google_service_account.invoker.email
}
