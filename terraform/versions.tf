terraform {
  # 1.9+ for variable validations that refer to other variables (invoker_members vs allow_public_access).
  required_version = ">= 1.9.0"

  required_providers {
    google = {
      source = "hashicorp/google"
      # 6.28 is the first release with GA GPU fields (node_selector, gpu_zonal_redundancy_disabled)
      # on google_cloud_run_v2_service.
      version = ">= 6.28.0, < 7.0.0"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
