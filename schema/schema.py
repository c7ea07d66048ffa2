import strawberry
from strawberry.extensions import ParserCache, ValidationCache

from resolvers.server import server_info
from schema.errors import MaskUnexpectedErrors
from schema.types import ServerInfo


@strawberry.type(description="Everything that can be read.")
class Query:
    server_info: ServerInfo = strawberry.field(
        resolver=server_info, description="The server's version and clock; proves the chain."
    )


schema = strawberry.Schema(
    query=Query,
    extensions=[
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
        MaskUnexpectedErrors,
    ],
)
