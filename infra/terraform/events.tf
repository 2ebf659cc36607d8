# The upload screen (DESIGN §4): GCS "object finalized" on the upload bucket -> Eventarc -> a small private
# Cloud Run service running the worker image's `synthscope-upload-check` (functions-framework). It quarantines
# non-audio and oversize uploads. It loads no model, reads no secret and may touch the upload bucket only.

resource "google_service_account" "screen" {
  account_id   = "${var.name_prefix}-screen"
  display_name = "Synthscope upload screen (Cloud Run)"
}

resource "google_service_account" "events" {
  account_id   = "${var.name_prefix}-events"
  display_name = "Eventarc identity that delivers upload events to the screen"
}

# Quarantine = copy to quarantine/, set metadata, delete the original: objectUser on the upload bucket only.
resource "google_storage_bucket_iam_member" "screen_uploads" {
  bucket = google_storage_bucket.uploads.name
  role   = "roles/storage.objectUser"
  member = "serviceAccount:${google_service_account.screen.email}"
}

# Eventarc requirements for Cloud Storage triggers; both are project-level by design of Eventarc (no resource-
# level binding exists): the trigger's identity receives events, and Cloud Storage's service agent publishes
# to the Pub/Sub topic Eventarc creates.
data "google_storage_project_service_account" "gcs" {
  depends_on = [google_project_service.apis]
}

resource "google_project_iam_member" "events_receiver" {
  project = var.project_id
  role    = "roles/eventarc.eventReceiver"
  member  = "serviceAccount:${google_service_account.events.email}"
}

resource "google_project_iam_member" "gcs_publishes_events" {
  project = var.project_id
  role    = "roles/pubsub.publisher"
  member  = "serviceAccount:${data.google_storage_project_service_account.gcs.email_address}"
}

resource "google_cloud_run_v2_service" "upload_check" {
  name                = "${var.name_prefix}-upload-check"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.screen.email
    timeout                          = "60s"
    max_instance_request_concurrency = 40

    scaling {
      min_instance_count = 0
      max_instance_count = var.screen_max_instances
    }

    containers {
      # The worker image's upload-screen entry point is set by Cloud Build together with the image
      # (`--command synthscope-upload-check`): the placeholder image of the first apply has no such command.
      name  = "upload-check"
      image = var.worker_image

      ports {
        container_port = 8080
      }

      resources {
        limits = {
          cpu    = "1"
          memory = "1Gi"
        }
        startup_cpu_boost = true
        cpu_idle          = true
      }

      dynamic "env" {
        for_each = local.screen_env
        content {
          name  = env.key
          value = env.value
        }
      }
    }
  }

  lifecycle {
    ignore_changes = [
      template[0].containers[0].image,
      template[0].containers[0].command,
      template[0].containers[0].args,
      client,
      client_version,
    ]
  }

  depends_on = [google_storage_bucket_iam_member.screen_uploads]
}

# Only the trigger's identity may invoke the screen.
resource "google_cloud_run_v2_service_iam_member" "events_invoke_screen" {
  name     = google_cloud_run_v2_service.upload_check.name
  location = google_cloud_run_v2_service.upload_check.location
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.events.email}"
}

resource "google_eventarc_trigger" "upload_finalized" {
  name            = "${var.name_prefix}-upload-finalized"
  location        = var.region # the upload bucket's location: a single region
  service_account = google_service_account.events.email

  matching_criteria {
    attribute = "type"
    value     = "google.cloud.storage.object.v1.finalized"
  }
  matching_criteria {
    attribute = "bucket"
    value     = google_storage_bucket.uploads.name
  }

  destination {
    cloud_run_service {
      service = google_cloud_run_v2_service.upload_check.name
      region  = var.region
      path    = "/"
    }
  }

  depends_on = [
    google_project_iam_member.events_receiver,
    google_project_iam_member.gcs_publishes_events,
    google_cloud_run_v2_service_iam_member.events_invoke_screen,
  ]
}
