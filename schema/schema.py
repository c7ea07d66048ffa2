import strawberry
from strawberry.schema.config import StrawberryConfig

from resolvers.books import BookQuery
from resolvers.identity import IdentityMutation, IdentityQuery
from resolvers.markets import MarketMutation, MarketQuery
from resolvers.money import MoneyMutation, MoneyQuery
from resolvers.orders import OrderMutation
from resolvers.portfolio import PortfolioQuery
from resolvers.server import server_info
from resolvers.subscriptions import Subscription
from schema.checks import DocumentChecks
from schema.common import CENTS_SCALAR, Cents
from schema.execution import Execution
from schema.types import ServerInfo


@strawberry.type(description="Everything that can be read.")
class Query(IdentityQuery, MoneyQuery, MarketQuery, BookQuery, PortfolioQuery):
    server_info: ServerInfo = strawberry.field(
        resolver=server_info, description="The server's version and clock; proves the chain."
    )


@strawberry.type(description="Everything that changes something.")
class Mutation(IdentityMutation, MoneyMutation, MarketMutation, OrderMutation):
    pass


schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    config=StrawberryConfig(scalar_map={Cents: CENTS_SCALAR}),
    extensions=[DocumentChecks],
    execution_context_class=Execution,
)
