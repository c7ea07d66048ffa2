"""What every part of the schema shares: the typed errors of result unions, and pagination."""

from enum import Enum
from typing import NewType

import strawberry

MAX_SAFE_INTEGER = 2**53 - 1


def _parse_cents(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Cents must be a whole number")
    if abs(value) > MAX_SAFE_INTEGER:
        raise ValueError("Cents must be within +-(2^53 - 1)")
    return value


@strawberry.enum(description="Machine-readable reason of an expected failure.")
class ErrorCode(Enum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_AUTHENTICATED = "NOT_AUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    INVALID_TOKEN = "INVALID_TOKEN"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    RATE_LIMITED = "RATE_LIMITED"
    MARKET_CLOSED = "MARKET_CLOSED"
    INVALID_STATE = "INVALID_STATE"


@strawberry.interface(description="An expected failure, returned as a member of a result union.")
class Error:
    code: ErrorCode = strawberry.field(description="Machine-readable reason.")
    message: str = strawberry.field(description="Human-readable explanation.")
    field: str | None = strawberry.field(
        default=None, description="The input field at fault, when one is."
    )


@strawberry.type(description="An input value is out of range, malformed or too long.")
class InvalidInput(Error):
    code: ErrorCode = ErrorCode.INVALID_INPUT


@strawberry.type(description="The operation needs a signed-in user (or an API key).")
class NotAuthenticated(Error):
    code: ErrorCode = ErrorCode.NOT_AUTHENTICATED
    message: str = "Sign in, or send an API key, to do this."


@strawberry.type(description="The caller is known but may not do this.")
class Forbidden(Error):
    code: ErrorCode = ErrorCode.FORBIDDEN


@strawberry.type(
    description="Nothing with this id exists that the caller may see (another user's private"
    " objects are reported exactly like missing ones)."
)
class NotFound(Error):
    code: ErrorCode = ErrorCode.NOT_FOUND


@strawberry.type(description="The operation conflicts with existing data.")
class Conflict(Error):
    code: ErrorCode = ErrorCode.CONFLICT


@strawberry.type(description="Not enough available cash (or shares) for the operation.")
class InsufficientFunds(Error):
    code: ErrorCode = ErrorCode.INSUFFICIENT_FUNDS
    available: int = strawberry.field(description="What is available, in cents or shares.")
    required: int = strawberry.field(description="What the operation needs.")


@strawberry.type(description="A limit of the platform was reached (daily faucet cap, sizes).")
class LimitExceeded(Error):
    code: ErrorCode = ErrorCode.LIMIT_EXCEEDED
    limit: int = strawberry.field(description="The limit that applies.")
    remaining: int = strawberry.field(description="What is still allowed now.")


@strawberry.type(description="Too many requests; retry after the given time.")
class RateLimited(Error):
    code: ErrorCode = ErrorCode.RATE_LIMITED
    retry_after_seconds: float = strawberry.field(description="When a retry will be accepted.")


@strawberry.type(description="The object is not in a state that allows this operation.")
class InvalidState(Error):
    code: ErrorCode = ErrorCode.INVALID_STATE


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")


@strawberry.type(description="The email or password is wrong (which one is not told).")
class InvalidCredentials(Error):
    code: ErrorCode = ErrorCode.INVALID_CREDENTIALS
    message: str = "The email or password is wrong."


@strawberry.type(description="The token is unknown, expired, revoked or tampered with.")
class InvalidToken(Error):
    code: ErrorCode = ErrorCode.INVALID_TOKEN


Cents = NewType("Cents", int)

CENTS_SCALAR = strawberry.scalar(
    name="Cents",
    description="A whole number of cents (100 = one dollar). A JSON number, exact up to 2^53"
    " (GraphQL's Int stops at 2^31).",
    serialize=int,
    parse_value=_parse_cents,
)
