# Cloud Build's identity for cloudbuild.yaml: push to this repository, deploy new revisions of the three
# services (running as their own accounts), write build logs, read the API keys for the end-to-end check.
# Everything is bound on the resource except logging, which has no resource-level binding.

resource "google_service_account" "build" {
  account_id   = "${var.name_prefix}-build"
  display_name = "Synthscope Cloud Build (test, build, push, deploy)"
}

resource "google_project_iam_member" "build_logs" {
  project = var.project_id
  role    = "roles/logging.logWriter"
  member  = "serviceAccount:${google_service_account.build.email}"
}

resource "google_artifact_registry_repository_iam_member" "build_pushes" {
  repository = google_artifact_registry_repository.images.name
  location   = google_artifact_registry_repository.images.location
  role       = "roles/artifactregistry.writer"
  member     = "serviceAccount:${google_service_account.build.email}"
}

resource "google_cloud_run_v2_service_iam_member" "build_deploys" {
  for_each = {
    api          = google_cloud_run_v2_service.api.name
    worker       = google_cloud_run_v2_service.worker.name
    upload_check = google_cloud_run_v2_service.upload_check.name
  }
  name     = each.value
  location = var.region
  role     = "roles/run.developer"
  member   = "serviceAccount:${google_service_account.build.email}"
}

# A revision runs as the service's account: deploying it needs actAs on that account.
resource "google_service_account_iam_member" "build_acts_as" {
  for_each = {
    api    = google_service_account.api.name
    worker = google_service_account.worker.name
    screen = google_service_account.screen.name
  }
  service_account_id = each.value
  role               = "roles/iam.serviceAccountUser"
  member             = "serviceAccount:${google_service_account.build.email}"
}

# The last build step submits one real report as a trusted backend: it reads the API keys.
resource "google_secret_manager_secret_iam_member" "build_reads_api_keys" {
  secret_id = google_secret_manager_secret.secrets["api-keys"].secret_id
  role      = "roles/secretmanager.secretAccessor"
  member    = "serviceAccount:${google_service_account.build.email}"
}

# The trigger itself, once the repository is connected to Cloud Build (a manual, browser-based step; see
# infra/README.md). Leave build_repository empty to create the trigger by hand instead.
resource "google_cloudbuild_trigger" "main" {
  count           = var.build_repository == "" ? 0 : 1
  name            = "${var.name_prefix}-main"
  location        = var.region
  description     = "Test, build, push and deploy Synthscope on every push to ${var.build_branch}."
  filename        = "cloudbuild.yaml"
  service_account = google_service_account.build.id

  repository_event_config {
    repository = var.build_repository
    push {
      branch = "^${var.build_branch}$"
    }
  }

  substitutions = {
    _REGION = var.region
    _PREFIX = var.name_prefix
    # The L4 worker needs CUDA torch in its image; the API and the CPU worker take the CPU build.
    _WORKER_TORCH_INDEX_URL = var.worker_gpu ? "https://download.pytorch.org/whl/cu128" : "https://download.pytorch.org/whl/cpu"
  }

  depends_on = [
    google_project_iam_member.build_logs,
    google_artifact_registry_repository_iam_member.build_pushes,
    google_cloud_run_v2_service_iam_member.build_deploys,
    google_service_account_iam_member.build_acts_as,
    google_secret_manager_secret_iam_member.build_reads_api_keys,
  ]
}
