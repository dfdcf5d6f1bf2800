"""Fixtures of the integration tests beyond tests/conftest.py."""

from tests.integration.proj_cluster import make_proj_cluster, proj_cluster  # noqa: F401
