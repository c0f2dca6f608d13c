"""End-to-end fixtures: a running platform in both profiles (see tests/pipeline/conftest.py)."""

from __future__ import annotations

from ..pipeline.conftest import fresh_postgres_url, http, platform, platform_factory  # noqa: F401
