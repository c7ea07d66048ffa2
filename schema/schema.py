import strawberry
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig

from resolvers.books import BookQuery
from resolvers.identity import IdentityMutation, IdentityQuery
from resolvers.markets import MarketMutation, MarketQuery
from resolvers.money import MoneyMutation, MoneyQuery
from resolvers.orders import OrderMutation
from resolvers.portfolio import PortfolioQuery
from resolvers.server import server_info
from resolvers.subscriptions import Subscription
from schema.common import CENTS_SCALAR, Cents
from schema.errors import MaskUnexpectedErrors
from schema.types import ServerInfo

# Limits on what one document may ask (a page of results is bounded separately).
MAX_DEPTH = 10
MAX_TOKENS = 2_000
MAX_ALIASES = 20
# Made once: the validation cache is keyed by the rule classes, and each limiter instance
# makes classes of its own.
LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]


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
    extensions=[
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: ParserCache(maxsize=1024),
        lambda: AddValidationRules(LIMIT_RULES),
        lambda: ValidationCache(maxsize=1024),
        MaskUnexpectedErrors,
    ],
)
