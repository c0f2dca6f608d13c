from tests.pipeline.conftest import fresh_postgres_url, http, platform, platform_factory  # noqa: F401
