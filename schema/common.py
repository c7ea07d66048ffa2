"""What every part of the schema shares: the typed errors of result unions, and pagination."""

from collections.abc import Mapping
from dataclasses import MISSING
from enum import Enum
from typing import Any, NewType, TypeVar

import strawberry
from strawberry.relay import GlobalID
from strawberry.schema.compat import is_scalar
from strawberry.types.arguments import InputContext
from strawberry.types.base import (
    StrawberryMaybe,
    StrawberryOptional,
    StrawberryType,
    get_object_definition,
)
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition

MAX_SAFE_INTEGER = 2**53 - 1


_Input = TypeVar("_Input", bound=type)


def _flat(type_: StrawberryType | type, context: InputContext) -> bool:
    """A scalar or enum (or a nullable one): graphql-core's coerced value is the value."""
    if isinstance(type_, StrawberryOptional) and not isinstance(type_, StrawberryMaybe):
        type_ = type_.of_type
    if type_ is GlobalID:
        return False
    return (
        isinstance(type_, StrawberryEnumDefinition)
        or has_enum_definition(type_)
        or is_scalar(type_, context.scalar_registry)
    )


def flat_input(cls: _Input) -> _Input:
    """Build this input straight from the value graphql-core has coerced. For an input whose
    fields are all scalars and enums that value needs no converting, but Strawberry resolves
    each field's type and GraphQL name again for every value: a third of the API's CPU in a
    ``placeOrders`` of 100. Checked on first use: any other field raises TypeError."""
    definition = get_object_definition(cls, strict=True)
    if not definition.is_input:
        raise TypeError(f"{cls.__name__} is not an input type")
    # per schema naming: (GraphQL name, Python name) of each field, made on first use
    plans: dict[int, list[tuple[str, str]]] = {}
    unset = {
        f.python_name: None
        for f in definition.fields
        if f.default_value is MISSING and f.default_factory is MISSING
    }

    def build(type_: type, value: Mapping[str, Any], context: InputContext) -> Any:
        names = context.config.name_converter
        plan = plans.get(id(names))
        if plan is None:
            for field in definition.fields:
                if not _flat(field.resolve_type(type_definition=definition), context):
                    raise TypeError(f"{cls.__name__}.{field.python_name} is not a scalar or enum")
            plan = plans[id(names)] = [
                (names.from_field(f), f.python_name) for f in definition.fields
            ]
        kwargs = dict(unset)
        for graphql_name, python_name in plan:
            if graphql_name in value:
                kwargs[python_name] = value[graphql_name]
        return type_(**kwargs)

    definition.from_input = build
    return cls


def _parse_cents(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("Cents must be a whole number")
    if abs(value) > MAX_SAFE_INTEGER:
        raise ValueError("Cents must be within +-(2^53 - 1)")
    return value


@strawberry.enum(description="Machine-readable reason of an expected failure.")
class ErrorCode(Enum):
    INVALID_INPUT = strawberry.enum_value(
        "INVALID_INPUT", description="An input value is out of range, malformed or too long."
    )
    NOT_AUTHENTICATED = strawberry.enum_value(
        "NOT_AUTHENTICATED", description="No (valid) credentials were sent."
    )
    FORBIDDEN = strawberry.enum_value("FORBIDDEN", description="The caller may not do this.")
    NOT_FOUND = strawberry.enum_value(
        "NOT_FOUND", description="Nothing the caller may see has this id."
    )
    CONFLICT = strawberry.enum_value("CONFLICT", description="It conflicts with existing data.")
    INVALID_CREDENTIALS = strawberry.enum_value(
        "INVALID_CREDENTIALS", description="Wrong email or password."
    )
    INVALID_TOKEN = strawberry.enum_value(
        "INVALID_TOKEN", description="The token is unknown, expired, revoked or tampered with."
    )
    INSUFFICIENT_FUNDS = strawberry.enum_value(
        "INSUFFICIENT_FUNDS", description="Not enough available cash or shares."
    )
    LIMIT_EXCEEDED = strawberry.enum_value(
        "LIMIT_EXCEEDED", description="A platform limit was reached."
    )
    RATE_LIMITED = strawberry.enum_value("RATE_LIMITED", description="Too many requests.")
    MARKET_CLOSED = strawberry.enum_value(
        "MARKET_CLOSED", description="The market does not trade now."
    )
    INVALID_STATE = strawberry.enum_value(
        "INVALID_STATE", description="The object's state does not allow it."
    )


@strawberry.interface(description="An expected failure, returned as a member of a result union.")
class Error:
    code: ErrorCode = strawberry.field(description="Machine-readable reason.")
    message: str = strawberry.field(description="Human-readable explanation.")
    field: str | None = strawberry.field(
        default=None, description="The input field at fault, when one is."
    )


@strawberry.type(description="An input value is out of range, malformed or too long.")
class InvalidInput(Error):
    code: ErrorCode = strawberry.field(
        default=ErrorCode.INVALID_INPUT, description="Machine-readable reason."
    )


@strawberry.type(description="The operation needs a signed-in user (or an API key).")
class NotAuthenticated(Error):
    code: ErrorCode = strawberry.field(
        default=ErrorCode.NOT_AUTHENTICATED, description="Machine-readable reason."
    )
    message: str = strawberry.field(
        default="Sign in, or send an API key, to do this.",
        description="Human-readable explanation.",
    )


@strawberry.type(description="The caller is known but may not do this.")
class Forbidden(Error):
    code: ErrorCode = strawberry.field(
        default=ErrorCode.FORBIDDEN, description="Machine-readable reason."
    )


@strawberry.type(
    description="Nothing with this id exists that the caller may see (another user's private"
    " objects are reported exactly like missing ones)."
)
class NotFound(Error):
    code: ErrorCode = strawberry.field(
        default=ErrorCode.NOT_FOUND, description="Machine-readable reason."
    )


@strawberry.type(description="The operation conflicts with existing data.")
class Conflict(Error):
    code: ErrorCode = strawberry.field(
        default=ErrorCode.CONFLICT, description="Machine-readable reason."
    )


@strawberry.type(description="Not enough available cash (or shares) for the operation.")
class InsufficientFunds(Error):
    code: ErrorCode = strawberry.field(
        default=ErrorCode.INSUFFICIENT_FUNDS, description="Machine-readable reason."
    )
    available: int = strawberry.field(description="What is available, in cents or shares.")
    required: int = strawberry.field(description="What the operation needs.")


@strawberry.type(description="A limit of the platform was reached (daily faucet cap, sizes).")
class LimitExceeded(Error):
    code: ErrorCode = strawberry.field(
        default=ErrorCode.LIMIT_EXCEEDED, description="Machine-readable reason."
    )
    limit: int = strawberry.field(description="The limit that applies.")
    remaining: int = strawberry.field(description="What is still allowed now.")


@strawberry.type(description="Too many requests; retry after the given time.")
class RateLimited(Error):
    code: ErrorCode = strawberry.field(
        default=ErrorCode.RATE_LIMITED, description="Machine-readable reason."
    )
    retry_after_seconds: float = strawberry.field(description="When a retry will be accepted.")


@strawberry.type(description="The object is not in a state that allows this operation.")
class InvalidState(Error):
    code: ErrorCode = strawberry.field(
        default=ErrorCode.INVALID_STATE, description="Machine-readable reason."
    )


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow this page.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")


@strawberry.type(description="The email or password is wrong (which one is not told).")
class InvalidCredentials(Error):
    code: ErrorCode = strawberry.field(
        default=ErrorCode.INVALID_CREDENTIALS, description="Machine-readable reason."
    )
    message: str = strawberry.field(
        default="The email or password is wrong.", description="Human-readable explanation."
    )


@strawberry.type(description="The token is unknown, expired, revoked or tampered with.")
class InvalidToken(Error):
    code: ErrorCode = strawberry.field(
        default=ErrorCode.INVALID_TOKEN, description="Machine-readable reason."
    )


Cents = NewType("Cents", int)

CENTS_SCALAR = strawberry.scalar(
    name="Cents",
    description="A whole number of cents (100 = one dollar). A JSON number, exact up to 2^53"
    " (GraphQL's Int stops at 2^31).",
    serialize=int,
    parse_value=_parse_cents,
)
