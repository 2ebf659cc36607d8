locals {
  upload_bucket  = "${var.name_prefix}-uploads-${var.project_id}"
  results_bucket = "${var.name_prefix}-results-${var.project_id}"
  queue_name     = "${var.name_prefix}-reports"
  repo_id        = var.name_prefix
  registry       = "${var.region}-docker.pkg.dev/${var.project_id}/${var.name_prefix}"
  # Secret Manager secrets (id suffixes); the services name the ones they read in run.tf (api_secret_env, ...).
  secrets = toset(["hmac-secret", "api-keys", "stripe-api-key", "stripe-webhook-secret"])
  # Exactly the headers the API signs into upload URLs (synthscope.backends.gcp.blobs.SIGNED_UPLOAD_HEADERS).
  signed_upload_headers = ["Content-Type", "x-goog-content-length-range", "x-goog-if-generation-match"]
}

resource "google_project_service" "apis" {
  for_each = toset([
    "run.googleapis.com",
    "cloudtasks.googleapis.com",
    "firestore.googleapis.com",
    "storage.googleapis.com",
    "artifactregistry.googleapis.com",
    "secretmanager.googleapis.com",
    "iamcredentials.googleapis.com",
    "cloudbuild.googleapis.com",
    "eventarc.googleapis.com",
    "pubsub.googleapis.com",
    "logging.googleapis.com",
    "iam.googleapis.com",
  ])
  service            = each.value
  disable_on_destroy = false
}

# --- Cloud Storage -----------------------------------------------------------------------------------

resource "google_storage_bucket" "uploads" {
  #checkov:skip=CKV_GCP_62:Access logging would log every signed PUT; Cloud Audit Logs cover data access.
  #checkov:skip=CKV_GCP_78:Uploads are transient (deleted by lifecycle); versioning would keep deleted audio.
  name                        = local.upload_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  cors {
    origin          = var.allowed_origins
    method          = ["PUT", "OPTIONS"]
    response_header = local.signed_upload_headers
    max_age_seconds = 3600
  }

  lifecycle_rule {
    condition {
      age = var.upload_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

resource "google_storage_bucket" "results" {
  #checkov:skip=CKV_GCP_62:Results are written only by the worker; Cloud Audit Logs cover data access.
  #checkov:skip=CKV_GCP_78:Results are regenerable from the report; versioning would only add cost.
  name                        = local.results_bucket
  location                    = var.region
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false

  lifecycle_rule {
    condition {
      age = var.results_retention_days
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.apis]
}

# --- Firestore -----------------------------------------------------------------------------------------

resource "google_firestore_database" "main" {
  name                    = "(default)"
  location_id             = var.region
  type                    = "FIRESTORE_NATIVE"
  deletion_policy         = var.deletion_protection ? "ABANDON" : "DELETE"
  delete_protection_state = var.deletion_protection ? "DELETE_PROTECTION_ENABLED" : "DELETE_PROTECTION_DISABLED"

  depends_on = [google_project_service.apis]
}

resource "google_firestore_index" "reports_by_owner" {
  database   = google_firestore_database.main.name
  collection = "reports"

  fields {
    field_path = "owner"
    order      = "ASCENDING"
  }
  fields {
    field_path = "created_at"
    order      = "DESCENDING"
  }
}

# Timelines and results are large maps/arrays: exempt them from indexing (1 MiB / index-entry limits).
resource "google_firestore_field" "result" {
  for_each   = toset(["reports", "results"])
  database   = google_firestore_database.main.name
  collection = each.value
  field      = "result"
  index_config {}
}

resource "google_firestore_field" "expires_at_ttl" {
  # idempotency keys; object pins (the bytes first reported under an upload name, kept past any URL's life);
  # rate-limit windows shared by the API instances
  for_each   = toset(["idempotency", "object_pins", "rate_limits"])
  database   = google_firestore_database.main.name
  collection = each.value
  field      = "expires_at"
  index_config {}
  ttl_config {}
}

# --- Cloud Tasks ---------------------------------------------------------------------------------------

resource "google_cloud_tasks_queue" "reports" {
  name     = local.queue_name
  location = var.region

  rate_limits {
    max_dispatches_per_second = 10
    max_concurrent_dispatches = 20
  }

  # The first retry comes after the lease of a crashed attempt has run out, so it takes the report over instead
  # of answering 503 "busy" (which would spend an attempt): with the default 60 s lease, retries at about
  # +75 s, +150 s, +300 s, +600 s. Then a report claimed on every attempt and never finished is failed when read.
  retry_config {
    max_attempts       = var.queue_max_attempts
    min_backoff        = "${var.worker_lease_s + 15}s"
    max_backoff        = "${(var.worker_lease_s + 15) * 8}s"
    max_doublings      = 3
    max_retry_duration = "0s"
  }

  stackdriver_logging_config {
    sampling_ratio = 1.0
  }

  depends_on = [google_project_service.apis]
}

# --- Artifact Registry ---------------------------------------------------------------------------------

resource "google_artifact_registry_repository" "images" {
  #checkov:skip=CKV_GCP_84:Images hold no secrets or user data; Google-managed encryption is sufficient.
  repository_id = local.repo_id
  location      = var.region
  format        = "DOCKER"
  description   = "Synthscope API and worker images (pushed by cloudbuild.yaml)."

  depends_on = [google_project_service.apis]
}

# --- Secret Manager (values are added by hand, see infra/README.md) --------------------------------------

resource "google_secret_manager_secret" "secrets" {
  for_each  = local.secrets
  secret_id = "${var.name_prefix}-${each.key}"
  replication {
    auto {}
  }
  depends_on = [google_project_service.apis]
}
