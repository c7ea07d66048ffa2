from datetime import UTC, datetime
from importlib.metadata import version

from schema.types import ServerInfo

VERSION = version("predmarket")  # reading package metadata costs ~0.3 ms: once is enough


def server_info() -> ServerInfo:
    return ServerInfo(version=VERSION, time=datetime.now(UTC))
