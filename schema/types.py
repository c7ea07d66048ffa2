from datetime import datetime

import strawberry


@strawberry.type(description="What this server is and its clock.")
class ServerInfo:
    version: str = strawberry.field(description="The platform's version.")
    time: datetime = strawberry.field(description="The server's current time (UTC).")
