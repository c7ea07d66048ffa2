"""Users with credentials, and a small GraphQL client, for API tests over real HTTP."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from auth.tokens import issue_access_token
from db.enums import Role
from db.users import create_user
from workers.connections import Connections


@dataclass(frozen=True)
class Member:
    id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def member(connections: Connections, name: str, role: Role = Role.USER) -> Member:
    """A user made straight in the database (no password), with a valid access token."""
    email = f"{name}@example.test"
    async with connections.sessions() as session:
        user = await create_user(session, email, name, None, role)
        await session.commit()
    assert user.id is not None
    token, _ = issue_access_token(connections.settings.jwt_secret, user.id, role, datetime.now(UTC))
    return Member(user.id, email, token)


async def gql(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run a document; fail the test on any GraphQL error, return `data`."""
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data
