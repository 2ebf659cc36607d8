locals {
  worker_audience = "${var.name_prefix}-worker"
  # Settings both services share (synthscope.config.Settings, prefix SYNTHSCOPE_).
  common_env = {
    SYNTHSCOPE_ENVIRONMENT        = var.environment
    SYNTHSCOPE_BACKEND            = "gcp"
    SYNTHSCOPE_GCP_PROJECT        = var.project_id
    SYNTHSCOPE_GCP_LOCATION       = var.region
    SYNTHSCOPE_FIRESTORE_DATABASE = google_firestore_database.main.name
    SYNTHSCOPE_UPLOAD_BUCKET      = google_storage_bucket.uploads.name
    SYNTHSCOPE_RESULTS_BUCKET     = google_storage_bucket.results.name
    SYNTHSCOPE_QUEUE_NAME         = google_cloud_tasks_queue.reports.name
    SYNTHSCOPE_INVOKER_EMAIL      = google_service_account.invoker.email
    SYNTHSCOPE_LOG_LEVEL          = "INFO"
    # OIDC audience of tasks: a fixed custom audience of the worker (never the task URL, pitfalls: OIDC).
    SYNTHSCOPE_WORKER_AUDIENCE = local.worker_audience
  }
  api_env = merge(local.common_env, {
    SYNTHSCOPE_WORKER_URL                = google_cloud_run_v2_service.worker.uri
    SYNTHSCOPE_GCS_SIGNER_EMAIL          = google_service_account.api.email
    SYNTHSCOPE_CORS_ORIGINS              = jsonencode(var.allowed_origins)
    SYNTHSCOPE_QUEUE_MAX_ATTEMPTS        = tostring(var.queue_max_attempts)
    SYNTHSCOPE_QUEUE_DISPATCH_DEADLINE_S = tostring(var.queue_dispatch_deadline_s)
    SYNTHSCOPE_QUEUE_DISPATCH            = "false"
    SYNTHSCOPE_API_SYNC_ANALYZE          = "false"
    SYNTHSCOPE_TRUSTED_PROXY_HOPS        = "1" # Cloud Run's front end appends the client address to X-Forwarded-For
    SYNTHSCOPE_STRIPE_PRICES             = jsonencode(var.stripe_prices)
  })
  # The upload screen reads these and nothing else (synthscope.config.ScreenSettings): no secret.
  screen_env = {
    SYNTHSCOPE_ENVIRONMENT   = var.environment
    SYNTHSCOPE_GCP_PROJECT   = var.project_id
    SYNTHSCOPE_UPLOAD_BUCKET = google_storage_bucket.uploads.name
    SYNTHSCOPE_LOG_LEVEL     = "INFO"
  }
  # Settings read from Secret Manager: env var -> secret of local.secrets (each service reads only these).
  api_secret_env = {
    SYNTHSCOPE_HMAC_SECRET           = "hmac-secret" # checkov:skip=CKV_SECRET_6:a secret name, not a value
    SYNTHSCOPE_API_KEYS              = "api-keys"
    SYNTHSCOPE_STRIPE_API_KEY        = "stripe-api-key"
    SYNTHSCOPE_STRIPE_WEBHOOK_SECRET = "stripe-webhook-secret" # checkov:skip=CKV_SECRET_6:a secret name, not a value
  }
  worker_secret_env = {
    SYNTHSCOPE_HMAC_SECRET = "hmac-secret" # checkov:skip=CKV_SECRET_6:a secret name, not a value
  }
  # The worker marks a report failed on the queue's last attempt.
  worker_env = merge(local.common_env, {
    SYNTHSCOPE_QUEUE_MAX_ATTEMPTS = tostring(var.queue_max_attempts)
    SYNTHSCOPE_LEASE_S            = tostring(var.worker_lease_s)
  })
}

resource "google_cloud_run_v2_service" "api" {
  name                = "${var.name_prefix}-api"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_ALL"
  deletion_protection = var.deletion_protection

  template {
    service_account                  = google_service_account.api.email
    timeout                          = "60s"
    max_instance_request_concurrency = 40

    scaling {
      min_instance_count = 0
      max_instance_count = var.api_max_instances
    }

    containers {
      name  = "api"
      image = var.api_image

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
        for_each = local.api_env
        content {
          name  = env.key
          value = env.value
        }
      }

      dynamic "env" {
        for_each = local.api_secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.secrets[env.value].secret_id
              version = "latest"
            }
          }
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        initial_delay_seconds = 0
        period_seconds        = 5
        failure_threshold     = 24
        timeout_seconds       = 3
      }
      liveness_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds = 30
      }
    }
  }

  lifecycle {
    ignore_changes = [template[0].containers[0].image, client, client_version]
  }

  depends_on = [google_secret_manager_secret_iam_member.api_secrets]
}

resource "google_cloud_run_v2_service" "worker" {
  name                = "${var.name_prefix}-worker"
  location            = var.region
  ingress             = "INGRESS_TRAFFIC_INTERNAL_ONLY"
  deletion_protection = var.deletion_protection
  custom_audiences    = [local.worker_audience]

  template {
    service_account                  = google_service_account.worker.email
    timeout                          = "${var.worker_timeout_s}s"
    max_instance_request_concurrency = 2
    gpu_zonal_redundancy_disabled    = var.worker_gpu ? true : null

    scaling {
      min_instance_count = 0
      max_instance_count = var.worker_max_instances
    }

    dynamic "node_selector" {
      for_each = var.worker_gpu ? [1] : []
      content {
        accelerator = "nvidia-l4"
      }
    }

    containers {
      name  = "worker"
      image = var.worker_image

      ports {
        container_port = 8080
      }

      resources {
        limits = merge(
          {
            cpu    = var.worker_gpu ? "4" : var.worker_cpu
            memory = var.worker_gpu ? "16Gi" : var.worker_memory
          },
          var.worker_gpu ? { "nvidia.com/gpu" = "1" } : {},
        )
        startup_cpu_boost = true
        cpu_idle          = var.worker_gpu ? false : true
      }

      dynamic "env" {
        for_each = local.worker_env
        content {
          name  = env.key
          value = env.value
        }
      }

      env {
        name  = "SYNTHSCOPE_DEVICE"
        value = var.worker_gpu ? "cuda" : "cpu"
      }

      dynamic "env" {
        for_each = local.worker_secret_env
        content {
          name = env.key
          value_source {
            secret_key_ref {
              secret  = google_secret_manager_secret.secrets[env.value].secret_id
              version = "latest"
            }
          }
        }
      }

      startup_probe {
        http_get {
          path = "/healthz"
        }
        initial_delay_seconds = 0
        period_seconds        = 5
        failure_threshold     = 24
        timeout_seconds       = 3
      }
      liveness_probe {
        http_get {
          path = "/healthz"
        }
        period_seconds = 30
      }
    }
  }

  lifecycle {
    ignore_changes = [template[0].containers[0].image, client, client_version]
  }

  depends_on = [google_secret_manager_secret_iam_member.worker_secrets]
}
