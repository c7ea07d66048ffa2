"""compose.yaml cannot be run here (no Docker engine); its shape is checked instead."""

from pathlib import Path

import yaml
from click.testing import CliRunner

from cli.main import cli

COMPOSE = yaml.safe_load((Path(__file__).resolve().parent.parent / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def test_every_dependency_exists_and_waits_for_health() -> None:
    for name, service in SERVICES.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in SERVICES[dependency], f"{dependency} has no healthcheck"


def test_the_platform_roles_use_real_servers_and_existing_commands() -> None:
    commands = set(cli.list_commands(None))  # type: ignore[arg-type]
    for role in ("migrate", "api", "matcher", "sink"):
        service = SERVICES[role]
        assert service["command"][0] == "predmarket"
        assert service["command"][1] in commands
        env = service["environment"]
        for url in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP", "CLICKHOUSE_DSN"):
            assert env[url], f"{role} would start an embedded server for {url}"
        assert env["ENVIRONMENT"] == "production"


def test_every_cli_command_has_help() -> None:
    runner = CliRunner()
    for command in cli.list_commands(None):  # type: ignore[arg-type]
        result = runner.invoke(cli, [command, "--help"])
        assert result.exit_code == 0, command
        assert "Usage: " in result.output


def test_roles_not_built_yet_say_so_and_fail() -> None:
    for role in ("sink",):
        result = CliRunner().invoke(cli, [role])
        assert result.exit_code == 2
        assert "not built yet" in result.output
