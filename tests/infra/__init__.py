"""Tests of the deployment files terraform/ and k8s/ (scripts/check-infra lints the rest)."""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = REPO / "terraform"
K8S_DIR = REPO / "k8s"

# scripts/infra_checks.py runs Terraform offline; scripts/check-infra uses the same helpers.
if str(REPO / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO / "scripts"))
