# One service account per role, each with only what it needs (DESIGN §9, notes/gcp-pitfalls.md).

resource "google_service_account" "api" {
  account_id   = "${var.name_prefix}-api"
  display_name = "Synthscope API (Cloud Run)"
}

resource "google_service_account" "worker" {
  account_id   = "${var.name_prefix}-worker"
  display_name = "Synthscope worker (Cloud Run)"
}

resource "google_service_account" "invoker" {
  account_id   = "${var.name_prefix}-invoker"
  display_name = "Cloud Tasks OIDC identity that invokes the worker"
}

# --- API ---------------------------------------------------------------------------------------------

# On the queue itself: create tasks, and read the queue (GET /readyz pings it).
resource "google_cloud_tasks_queue_iam_member" "api_queue" {
  for_each = toset(["roles/cloudtasks.enqueuer", "roles/cloudtasks.viewer"])
  name     = google_cloud_tasks_queue.reports.name
  location = google_cloud_tasks_queue.reports.location
  role     = each.value
  member   = "serviceAccount:${google_service_account.api.email}"
}

# Firestore has no per-database IAM binding resource: datastore.user is granted on the project.
resource "google_project_iam_member" "api_datastore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.api.email}"
}

# Tasks carry an OIDC token minted as the invoker: the API must be able to act as it.
resource "google_service_account_iam_member" "api_acts_as_invoker" {
  service_account_id = google_service_account.invoker.name
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.api.email}"
}

# V4 upload URLs are signed through IAM signBlob as the API's own account.
resource "google_service_account_iam_member" "api_signs_as_itself" {
  service_account_id = google_service_account.api.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = "serviceAccount:${google_service_account.api.email}"
}

resource "google_storage_bucket_iam_member" "api_uploads_create" {
  bucket = google_storage_bucket.uploads.name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.api.email}"
}

resource "google_storage_bucket_iam_member" "api_uploads_view" {
  bucket = google_storage_bucket.uploads.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.api.email}"
}

# Spilled timelines are read back when a report is served.
resource "google_storage_bucket_iam_member" "api_results_view" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.api.email}"
}

resource "google_secret_manager_secret_iam_member" "api_secrets" {
  for_each  = toset(values(local.api_secret_env))
  secret_id = google_secret_manager_secret.secrets[each.value].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.api.email}"
}

# --- worker ------------------------------------------------------------------------------------------

resource "google_project_iam_member" "worker_datastore" {
  project = var.project_id
  role    = "roles/datastore.user"
  member  = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_storage_bucket_iam_member" "worker_uploads_view" {
  bucket = google_storage_bucket.uploads.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_storage_bucket_iam_member" "worker_results_write" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectCreator"
  member = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_storage_bucket_iam_member" "worker_results_view" {
  bucket = google_storage_bucket.results.name
  role   = "roles/storage.objectViewer"
  member = "serviceAccount:${google_service_account.worker.email}"
}

resource "google_secret_manager_secret_iam_member" "worker_secrets" {
  for_each  = toset(values(local.worker_secret_env))
  secret_id = google_secret_manager_secret.secrets[each.value].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.worker.email}"
}

# --- invoker: run.invoker on the worker only ---------------------------------------------------------

resource "google_cloud_run_v2_service_iam_member" "invoker_worker" {
  name     = google_cloud_run_v2_service.worker.name
  location = google_cloud_run_v2_service.worker.location
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.invoker.email}"
}

# The API is public (browsers and the Next.js proxy call it; it authenticates requests itself).
resource "google_cloud_run_v2_service_iam_member" "api_public" {
  name     = google_cloud_run_v2_service.api.name
  location = google_cloud_run_v2_service.api.location
  role     = "roles/run.invoker"
  member   = "allUsers"
}
