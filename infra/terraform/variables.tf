variable "project_id" {
  description = "GCP project id everything is created in."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project_id))
    error_message = "project_id must be a valid GCP project id (6-30 chars, lowercase letters, digits, hyphens)."
  }
}

variable "region" {
  description = "Region for Cloud Run, Cloud Tasks, Artifact Registry and the buckets (L4 GPUs need a supported one)."
  type        = string
  default     = "us-central1"
  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]$", var.region))
    error_message = "region must look like us-central1."
  }
}

variable "environment" {
  description = "SYNTHSCOPE_ENVIRONMENT of the services: staging or production (local is for development only)."
  type        = string
  default     = "production"
  validation {
    condition     = contains(["staging", "production"], var.environment)
    error_message = "environment must be staging or production."
  }
}

variable "name_prefix" {
  description = "Prefix of every resource name (buckets add the project id to stay globally unique)."
  type        = string
  default     = "synthscope"
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{2,20}$", var.name_prefix))
    error_message = "name_prefix must be 3-21 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "allowed_origins" {
  description = "Browser origins allowed to PUT to the upload bucket and to call the API (CORS); never *."
  type        = list(string)
  validation {
    condition     = length(var.allowed_origins) > 0 && alltrue([for o in var.allowed_origins : can(regex("^https?://[^*/]+$", o))])
    error_message = "allowed_origins must be a non-empty list of scheme://host[:port] origins without wildcards or paths."
  }
}

variable "api_image" {
  description = "Initial API image (Cloud Build deploys later ones; Terraform ignores image changes)."
  type        = string
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
}

variable "worker_image" {
  description = "Initial worker image (Cloud Build deploys later ones; Terraform ignores image changes)."
  type        = string
  default     = "us-docker.pkg.dev/cloudrun/container/hello"
}

variable "upload_retention_days" {
  description = "Uploaded audio is deleted this many days after upload."
  type        = number
  default     = 2
  validation {
    condition     = var.upload_retention_days >= 1 && var.upload_retention_days <= 365
    error_message = "upload_retention_days must be between 1 and 365."
  }
}

variable "results_retention_days" {
  description = "Spilled timelines in the results bucket are deleted this many days after writing."
  type        = number
  default     = 90
  validation {
    condition     = var.results_retention_days >= 1 && var.results_retention_days <= 3650
    error_message = "results_retention_days must be between 1 and 3650."
  }
}

variable "worker_timeout_s" {
  description = "Cloud Run request timeout of the worker, seconds; the Cloud Tasks dispatch deadline must be >= it."
  type        = number
  default     = 900
  validation {
    condition     = var.worker_timeout_s >= 15 && var.worker_timeout_s <= 1800
    error_message = "worker_timeout_s must be within Cloud Tasks' dispatch deadline range, 15-1800 s."
  }
}

variable "queue_dispatch_deadline_s" {
  description = "Cloud Tasks dispatch deadline the API sets on each task, seconds (15-1800, >= worker_timeout_s)."
  type        = number
  default     = 1800
  validation {
    condition     = var.queue_dispatch_deadline_s >= 15 && var.queue_dispatch_deadline_s <= 1800
    error_message = "queue_dispatch_deadline_s must be between 15 and 1800."
  }
}

variable "queue_max_attempts" {
  description = "Delivery attempts per task before the worker marks the report failed."
  type        = number
  default     = 5
  validation {
    condition     = var.queue_max_attempts >= 1 && var.queue_max_attempts <= 100
    error_message = "queue_max_attempts must be between 1 and 100."
  }
}

variable "api_max_instances" {
  description = "Upper bound of API instances."
  type        = number
  default     = 10
  validation {
    condition     = var.api_max_instances >= 1 && var.api_max_instances <= 1000
    error_message = "api_max_instances must be between 1 and 1000."
  }
}

variable "worker_max_instances" {
  description = "Upper bound of worker instances (also bounds GPU quota use)."
  type        = number
  default     = 5
  validation {
    condition     = var.worker_max_instances >= 1 && var.worker_max_instances <= 1000
    error_message = "worker_max_instances must be between 1 and 1000."
  }
}

variable "worker_gpu" {
  description = "Attach one NVIDIA L4 to each worker instance (needs quota and a supported region; >=4 CPU, 16Gi)."
  type        = bool
  default     = false
}

variable "worker_cpu" {
  description = "CPUs per worker instance (at least 4 with a GPU)."
  type        = string
  default     = "2"
  validation {
    condition     = contains(["1", "2", "4", "6", "8"], var.worker_cpu)
    error_message = "worker_cpu must be one of 1, 2, 4, 6, 8."
  }
}

variable "worker_memory" {
  description = "Memory per worker instance (at least 16Gi with a GPU)."
  type        = string
  default     = "4Gi"
  validation {
    condition     = can(regex("^[0-9]+Gi$", var.worker_memory))
    error_message = "worker_memory must be given in Gi, e.g. 4Gi."
  }
}

variable "stripe_prices" {
  description = "Tier -> Stripe price id, e.g. {pro = \"price_123\"}; empty = billing checkout unavailable."
  type        = map(string)
  default     = {}
  validation {
    condition     = alltrue([for k in keys(var.stripe_prices) : contains(["pro", "enterprise"], k)])
    error_message = "stripe_prices keys must be pro or enterprise."
  }
}

variable "deletion_protection" {
  description = "Protect the Firestore database and Cloud Run services from terraform destroy."
  type        = bool
  default     = true
}

variable "screen_max_instances" {
  description = "Maximum instances of the upload screen (one event per upload; each instance takes 40 at once)."
  type        = number
  default     = 5
  validation {
    condition     = var.screen_max_instances >= 1 && var.screen_max_instances <= 100
    error_message = "screen_max_instances must be between 1 and 100."
  }
}

variable "build_repository" {
  description = "Cloud Build (2nd gen) repository to trigger on, projects/P/locations/R/connections/C/repositories/N; empty = create the trigger by hand."
  type        = string
  default     = ""
  validation {
    condition     = var.build_repository == "" || can(regex("^projects/[^/]+/locations/[^/]+/connections/[^/]+/repositories/[^/]+$", var.build_repository))
    error_message = "build_repository must be empty or projects/P/locations/R/connections/C/repositories/N."
  }
}

variable "build_branch" {
  description = "Branch whose pushes run cloudbuild.yaml (the trigger anchors it as ^branch$)."
  type        = string
  default     = "main"
  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+$", var.build_branch))
    error_message = "build_branch must be a plain branch name."
  }
}

variable "worker_lease_s" {
  description = "Seconds a crashed attempt keeps its report before a retry may take it over (SYNTHSCOPE_LEASE_S; renewed by progress while alive). The queue's first retry waits 15 s longer."
  type        = number
  default     = 60
  validation {
    condition     = var.worker_lease_s >= 10 && var.worker_lease_s <= 300
    error_message = "worker_lease_s must be between 10 and 300 seconds."
  }
}
