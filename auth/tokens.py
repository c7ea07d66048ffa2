"""Short-lived access tokens (JWT, HS256, signed with authlib's JOSE implementation, joserfc)
and opaque refresh tokens (only their hash is stored)."""

import functools
import hashlib
import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
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
    return jwt.encode({"alg": ALGORITHM}, claims, _key(secret)), expires


VERIFIED_CACHE = 10_000
"""Access tokens verified recently, by (secret, token): the signature and the claims never
change, so only the expiry is checked again (HMAC and claim parsing were a tenth of an API
request's work). Bounded; the oldest entry goes first."""
_verified: OrderedDict[tuple[str, str], AccessClaims] = OrderedDict()


def verify_access_token(secret: str, token: str, now: datetime) -> AccessClaims:
    cached = _verified.get((secret, token))
    if cached is not None:
        if cached.expires_at.timestamp() <= int(now.timestamp()):
            del _verified[(secret, token)]
            raise InvalidToken(str(ExpiredTokenError("exp")))
        return cached
    try:
        decoded = jwt.decode(token, _key(secret), algorithms=[ALGORITHM])
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
    claims = AccessClaims(user_id, role, datetime.fromtimestamp(decoded.claims["exp"], UTC))
    _verified[(secret, token)] = claims
    if len(_verified) > VERIFIED_CACHE:
        _verified.popitem(last=False)
    return claims


@functools.lru_cache(maxsize=8)
def _key(secret: str) -> OctKey:
    return OctKey.import_key(secret)


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def digest(secret: str) -> str:
    """What is stored of a refresh token or API key: its SHA-256 (they are random, so a
    fast hash is enough; passwords get Argon2)."""
    return hashlib.sha256(secret.encode()).hexdigest()
