terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "= 6.40.0" # gpu_zonal_redundancy_disabled and GA node_selector need >= 6.27
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
