terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  # Remote state in a versioned bucket created once by hand (infra/README.md, step 2):
  #   terraform init -backend-config="bucket=<project>-tfstate"
  backend "gcs" {
    prefix = "synthscope"
  }

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "= 6.50.0" # = infra/schema (the HCL is checked against it); GPU fields need >= 6.27
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
