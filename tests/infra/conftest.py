"""Fixtures for the infrastructure tests: parsed Terraform (python-hcl2) and the repository paths."""

from pathlib import Path

import hcl2
import pytest
from hcl2 import SerializationOptions

from tests.infra import TERRAFORM_DIR

# Plain values: unquoted strings, no comments or block markers; expressions stay as "${...}".
_HCL_OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


def load_hcl(path: Path) -> dict:
    """Parse one .tf file into python-hcl2's dict form."""
    with path.open() as f:
        return hcl2.load(f, serialization_options=_HCL_OPTIONS)


@pytest.fixture(scope="session")
def tf_main() -> dict:
    return load_hcl(TERRAFORM_DIR / "main.tf")


@pytest.fixture(scope="session")
def tf_variables() -> dict[str, dict]:
    parsed = load_hcl(TERRAFORM_DIR / "variables.tf")
    return {name: body for block in parsed["variable"] for name, body in block.items()}


@pytest.fixture(scope="session")
def tf_versions() -> dict:
    return load_hcl(TERRAFORM_DIR / "versions.tf")


def resources_by_address(module: dict) -> dict[str, dict]:
    """Every resource of a parsed .tf file by address, e.g. "google_storage_bucket.models"."""
    return {
        f"{rtype}.{name}": body
        for block in module["resource"]
        for rtype, by_name in block.items()
        for name, body in by_name.items()
    }


@pytest.fixture(scope="session")
def tf_resources(tf_main: dict) -> dict[str, dict]:
    """Every resource of main.tf by address."""
    return resources_by_address(tf_main)
