"""Shared fixtures. Layer-specific fixtures live in the plugin modules listed below."""

pytest_plugins = ["tests.fixtures_app", "tests.fixtures_gcs", "tests.fixtures_models"]
