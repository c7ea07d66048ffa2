from pathlib import Path

import pytest
from pydantic import ValidationError

from settings import DEV_JWT_SECRET, Environment, Settings


def test_defaults_leave_every_url_empty_for_the_embedded_servers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP", "CLICKHOUSE_DSN"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert (settings.database_url, settings.redis_url) == ("", "")
    assert (settings.kafka_bootstrap, settings.clickhouse_dsn) == ("", "")
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.api_port == 8000
    assert settings.data_dir == Path(".data")


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@db:5432/x")
    monkeypatch.setenv("API_PORT", "9001")
    monkeypatch.setenv("KAFKA_TOPIC_PREFIX", "blue-")
    settings = Settings(_env_file=None)
    assert settings.database_url == "postgresql://u@db:5432/x"
    assert settings.api_port == 9001
    assert settings.topic("orders") == "blue-orders"


def test_a_child_process_environment_names_the_same_servers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    parent = Settings(
        _env_file=None,
        database_url="postgresql://u@db:5432/x",
        redis_url="redis://cache:6379/0",
        kafka_bootstrap="broker:9092",
        clickhouse_dsn="http://ch:8123/x",
        data_dir=Path("/srv/data"),
        kafka_topic_prefix="blue-",
    )
    for name, value in parent.servers_env().items():
        monkeypatch.setenv(name, value)
    child = Settings(_env_file=None)
    fields = ("database_url", "redis_url", "kafka_bootstrap", "clickhouse_dsn", "data_dir")
    assert [getattr(child, f) for f in fields] == [getattr(parent, f) for f in fields]
    assert child.topic("orders") == "blue-orders"


def test_production_refuses_the_default_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(
            environment=Environment.PRODUCTION,
            jwt_secret=DEV_JWT_SECRET,
            database_url="postgresql://x@y/z",
            redis_url="redis://y",
            kafka_bootstrap="y:9092",
            clickhouse_dsn="http://y:8123",
        )


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        Settings(environment=Environment.PRODUCTION, jwt_secret="short")


def test_production_needs_real_servers() -> None:
    with pytest.raises(ValidationError, match="REDIS_URL, KAFKA_BOOTSTRAP"):
        Settings(
            environment=Environment.PRODUCTION,
            jwt_secret="x" * 40,
            database_url="postgresql://x@y/z",
        )


def test_production_with_everything_set_is_accepted() -> None:
    settings = Settings(
        environment=Environment.PRODUCTION,
        jwt_secret="s" * 40,
        database_url="postgresql://x@y/z",
        redis_url="redis://y",
        kafka_bootstrap="y:9092",
        clickhouse_dsn="http://y:8123",
    )
    assert settings.environment is Environment.PRODUCTION


def test_bad_port_is_refused() -> None:
    with pytest.raises(ValidationError, match="api_port"):
        Settings(api_port=70000)
