"""Accounts and authentication: sign-up, log-in, token refresh, API keys."""

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from db.models import ApiKey as ApiKeyRow
from db.models import User as UserRow
from schema.common import (
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    InvalidToken,
    NotAuthenticated,
    NotFound,
)


@strawberry.enum(description="What a user may do on the platform.")
class Role(Enum):
    USER = strawberry.enum_value("USER", description="Trades and holds an account.")
    ADMIN = strawberry.enum_value(
        "ADMIN", description="Also creates, halts and resolves markets and credits accounts."
    )


@strawberry.enum(description="What an API key may do: READ queries, TRADE orders.")
class ApiScope(Enum):
    READ = strawberry.enum_value("READ", description="Queries.")
    TRADE = strawberry.enum_value("TRADE", description="Order entry (and queries need READ).")


@strawberry.type(description="A person with an account on the exchange (seen by themselves).")
class User:
    id: strawberry.ID = strawberry.field(description="The user's id.")
    email: str = strawberry.field(description="The email they sign in with.")
    display_name: str = strawberry.field(description="The name shown to others.")
    role: Role = strawberry.field(description="USER, or ADMIN (creates and resolves markets).")
    created_at: datetime = strawberry.field(description="When the account was made.")

    @classmethod
    def from_model(cls, row: UserRow) -> "User":
        return cls(
            id=strawberry.ID(str(row.id)),
            email=row.email,
            display_name=row.display_name,
            role=Role(row.role),
            created_at=row.created_at,
        )


@strawberry.type(description="Credentials after sign-up, log-in or refresh.")
class AuthPayload:
    access_token: str = strawberry.field(
        description="Send as `Authorization: Bearer <token>`; short-lived."
    )
    access_token_expires_at: datetime = strawberry.field(description="When it stops working.")
    refresh_token: str = strawberry.field(
        description="Trade it for new tokens with `refreshToken`; each one works once."
    )
    refresh_token_expires_at: datetime = strawberry.field(description="When it stops working.")
    user: User = strawberry.field(description="Who the tokens are for.")


@strawberry.type(description="The refresh token and every token rotated from it are revoked.")
class LoggedOut:
    ok: bool = strawberry.field(default=True, description="Always true.")


@strawberry.type(description="A partner API key (its secret is shown once, at creation).")
class ApiKey:
    id: strawberry.ID = strawberry.field(description="The key's id.")
    name: str = strawberry.field(description="The owner's name for the key.")
    prefix: str = strawberry.field(description="The secret's first characters, to recognise it.")
    scopes: list[ApiScope] = strawberry.field(description="What the key may do.")
    created_at: datetime = strawberry.field(description="When it was made.")
    last_used_at: datetime | None = strawberry.field(description="When it was last used.")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked, if it was.")

    @classmethod
    def from_model(cls, row: ApiKeyRow) -> "ApiKey":
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            prefix=row.prefix,
            scopes=[ApiScope(s) for s in row.scopes],
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


@strawberry.type(description="A new API key and its secret; the secret is never shown again.")
class ApiKeyCreated:
    api_key: ApiKey = strawberry.field(description="The key.")
    secret: str = strawberry.field(description="Send as the `X-Api-Key` header.")


@strawberry.type(description="The caller's API keys, revoked ones included.")
class ApiKeyList:
    items: list[ApiKey] = strawberry.field(description="Oldest first.")


@strawberry.type(description="The key no longer authenticates anything.")
class ApiKeyRevoked:
    api_key: ApiKey = strawberry.field(description="The key, with its revocation time.")


@strawberry.input(description="A new account.")
class SignUpInput:
    email: str = strawberry.field(description="An email address, at most 254 characters.")
    password: str = strawberry.field(description="10 to 128 characters.")
    display_name: str = strawberry.field(description="1 to 50 characters.")


@strawberry.input(description="Credentials of an existing account.")
class LogInInput:
    email: str = strawberry.field(description="The account's email.")
    password: str = strawberry.field(description="The account's password.")


@strawberry.input(description="A new partner API key.")
class CreateApiKeyInput:
    name: str = strawberry.field(description="1 to 50 characters, for the owner's eyes.")
    scopes: list[ApiScope] = strawberry.field(description="At least one scope.")


SignUpResult = Annotated[
    AuthPayload | InvalidInput | Conflict,
    strawberry.union("SignUpResult", description="The new account's tokens, or why not."),
]
LogInResult = Annotated[
    AuthPayload | InvalidCredentials | InvalidInput,
    strawberry.union("LogInResult", description="Tokens, or why not."),
]
RefreshTokenResult = Annotated[
    AuthPayload | InvalidToken,
    strawberry.union("RefreshTokenResult", description="New tokens, or why not."),
]
LogOutResult = Annotated[
    LoggedOut | InvalidToken,
    strawberry.union("LogOutResult", description="Logged out, or why not."),
]
MeResult = Annotated[
    User | NotAuthenticated | Forbidden,
    strawberry.union("MeResult", description="The signed-in user, or why not."),
]
CreateApiKeyResult = Annotated[
    ApiKeyCreated | InvalidInput | NotAuthenticated | Forbidden,
    strawberry.union("CreateApiKeyResult", description="The new key and its secret, or why not."),
]
ApiKeysResult = Annotated[
    ApiKeyList | NotAuthenticated | Forbidden,
    strawberry.union("ApiKeysResult", description="The caller's keys, or why not."),
]
RevokeApiKeyResult = Annotated[
    ApiKeyRevoked | NotFound | NotAuthenticated | Forbidden,
    strawberry.union("RevokeApiKeyResult", description="The revoked key, or why not."),
]
