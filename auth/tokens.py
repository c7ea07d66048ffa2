"""Short-lived access tokens (JWT, HS256, signed with authlib's JOSE implementation, joserfc)
and opaque refresh tokens (only their hash is stored)."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

from db.enums import Role

ALGORITHM = "HS256"
ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=30)
ISSUER = "predmarket"


class InvalidToken(ValueError):
    """Expired, tampered, of another algorithm, or not ours."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: int
    role: Role
    expires_at: datetime


def issue_access_token(
    secret: str, user_id: int, role: Role, now: datetime
) -> tuple[str, datetime]:
    expires = now + ACCESS_TTL
    claims = {
        "iss": ISSUER,
        "sub": str(user_id),
        "role": role.value,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": uuid.uuid4().hex,
        "typ": "access",
    }
    return jwt.encode({"alg": ALGORITHM}, claims, OctKey.import_key(secret)), expires


def verify_access_token(secret: str, token: str, now: datetime) -> AccessClaims:
    try:
        decoded = jwt.decode(token, OctKey.import_key(secret), algorithms=[ALGORITHM])
        JWTClaimsRegistry(
            now=int(now.timestamp()),
            leeway=0,
            iss={"essential": True, "value": ISSUER},
            sub={"essential": True},
            exp={"essential": True},
            typ={"essential": True, "value": "access"},
        ).validate(decoded.claims)
        user_id = int(decoded.claims["sub"])
        role = Role(decoded.claims["role"])
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise InvalidToken(str(exc) or type(exc).__name__) from exc
    return AccessClaims(user_id, role, datetime.fromtimestamp(decoded.claims["exp"], now.tzinfo))


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def digest(secret: str) -> str:
    """What is stored of a refresh token or API key: its SHA-256 (they are random, so a
    fast hash is enough; passwords get Argon2)."""
    return hashlib.sha256(secret.encode()).hexdigest()
