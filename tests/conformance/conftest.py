"""Real servers (``python -m app``: gunicorn) serving TF Serving's own test models, shared by the conformance cases.

The cases in this package are ported from the peers' own tests (each cites where it comes from) and run over HTTP.
Each server is set up as the upstream test sets up its own.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.server import RunningServer, run_server


def _serve(factory: pytest.TempPathFactory, base: Path, name: str, **env: str) -> Iterator[RunningServer]:
    settings = {"MODEL_URI": str(base), "MODEL_NAME": name, "WORKERS": "1", **env}
    with run_server(settings, factory.mktemp(name)) as server:
        yield server


@pytest.fixture(scope="session")
def half_plus_two_server(half_plus_two_base_dir: Path, tmp_path_factory) -> Iterator[RunningServer]:
    """half_plus_two (version 123, labelled ``stable``) served as model ``half_plus_two`` (TF Serving's docker.md)."""
    yield from _serve(tmp_path_factory, half_plus_two_base_dir, "half_plus_two", MODEL_VERSION_LABELS="stable=123")


@pytest.fixture(scope="session")
def two_versions_server(half_plus_two_2_versions_base_dir: Path, tmp_path_factory) -> Iterator[RunningServer]:
    """Versions 123 (0.5x + 2) and 124 (0.5x + 3), both served, labelled ``stable`` (123) and ``canary`` (124)."""
    yield from _serve(
        tmp_path_factory,
        half_plus_two_2_versions_base_dir,
        "saved_model_half_plus_two_2_versions",
        MODEL_VERSION_POLICY="all",
        MODEL_VERSION_LABELS="stable=123,canary=124",
    )


@pytest.fixture(scope="session")
def handler_test_server(half_plus_two_2_versions_base_dir: Path, tmp_path_factory) -> Iterator[RunningServer]:
    """The setup of TF Serving's ``http_rest_api_handler_test.cc``: model ``saved_model_half_plus_two_2_versions``,
    version policy ``specific`` {123}, label ``Version_Label`` on 123."""
    yield from _serve(
        tmp_path_factory,
        half_plus_two_2_versions_base_dir,
        "saved_model_half_plus_two_2_versions",
        MODEL_VERSION_POLICY="specific:123",
        MODEL_VERSION_LABELS="Version_Label=123",
    )


@pytest.fixture(scope="session")
def half_plus_three_server(half_plus_three_base_dir: Path, tmp_path_factory) -> Iterator[RunningServer]:
    """half_plus_three served as ``saved_model_half_plus_three``, the name api_rest.md's examples use."""
    yield from _serve(tmp_path_factory, half_plus_three_base_dir, "saved_model_half_plus_three")
