from dataclasses import dataclass
from enum import StrEnum

from db.enums import ApiScope, Role


class Via(StrEnum):
    TOKEN = "TOKEN"
    API_KEY = "API_KEY"


ALL_SCOPES = frozenset(ApiScope)


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is asking. A session token carries every scope; an API key only its own."""

    user_id: int
    role: Role
    scopes: frozenset[ApiScope]
    via: Via
    api_key_id: int | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN and self.via is Via.TOKEN

    def can(self, scope: ApiScope) -> bool:
        return scope in self.scopes
