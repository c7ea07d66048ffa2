from datetime import UTC, datetime
from importlib.metadata import version

from schema.types import ServerInfo


def server_info() -> ServerInfo:
    return ServerInfo(version=version("predmarket"), time=datetime.now(UTC))
