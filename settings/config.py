from enum import StrEnum
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-insecure-jwt-secret-change-me"


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class Settings(BaseSettings):
    """Every knob of the platform. A URL left empty means: start the embedded server."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Environment = Environment.DEVELOPMENT
    database_url: str = Field(default="", description="postgresql://user:pass@host:port/db")
    redis_url: str = Field(default="", description="redis://host:port/0")
    kafka_bootstrap: str = Field(default="", description="host:port[,host:port]")
    clickhouse_dsn: str = Field(
        default="", description="http://user:pass@host:8123/db or chdb:///path"
    )
    data_dir: Path = Field(default=Path(".data"), description="where embedded servers keep data")
    jwt_secret: str = DEV_JWT_SECRET
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    kafka_topic_prefix: str = Field(
        default="", description="prefix for Kafka topic names (isolates test runs)"
    )
    faucet_daily_cap: int = Field(
        default=100_000, ge=0, description="play money a user may deposit per UTC day, cents"
    )
    rate_limit_per_second: float = Field(
        default=50.0, gt=0, description="sustained GraphQL requests per user, key or address"
    )
    rate_limit_burst: int = Field(default=200, ge=1, description="requests allowed at once")
    order_wait_ms: int = Field(
        default=1000, ge=0, description="how long an order mutation waits for the matcher's result"
    )
    embedded_durable: bool = Field(
        default=True, description="fsync in the embedded Postgres (tests turn it off for speed)"
    )

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> "Settings":
        if self.environment is Environment.PRODUCTION:
            if self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32:
                raise ValueError(
                    "JWT_SECRET must be set to a secret of at least 32 characters in production"
                )
            missing = [
                name
                for name in ("database_url", "redis_url", "kafka_bootstrap", "clickhouse_dsn")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(
                    "production needs real servers; set " + ", ".join(m.upper() for m in missing)
                )
        return self

    def topic(self, name: str) -> str:
        return f"{self.kafka_topic_prefix}{name}"

    def servers_env(self) -> dict[str, str]:
        """The environment that points a child process at these same servers and topics."""
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "CLICKHOUSE_DSN": self.clickhouse_dsn,
            "DATA_DIR": str(self.data_dir),
            "KAFKA_TOPIC_PREFIX": self.kafka_topic_prefix,
        }


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]
