"""Ids and pages: parsing IDs, the `first` bound, opaque stable cursors (base64 of a kind
and the sort key values)."""

import base64
import binascii

import orjson

from schema.common import InvalidInput

MAX_ID = 2**63 - 1
PAGE_MAX = 100


class BadCursor(ValueError):
    pass


def encode_cursor(kind: str, *values: int | str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([kind, *values])).decode()


def decode_cursor(kind: str, cursor: str) -> list[int | str]:
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, orjson.JSONDecodeError, ValueError) as exc:
        raise BadCursor("malformed cursor") from exc
    if not isinstance(decoded, list) or not decoded or decoded[0] != kind:
        raise BadCursor(f"not a {kind} cursor")
    values = decoded[1:]
    if not all(isinstance(v, int | str) and not isinstance(v, bool) for v in values):
        raise BadCursor("malformed cursor")
    return values


def parse_id(value: str) -> int | None:
    """The integer behind an ID, or None when it cannot name any row."""
    if not value.isascii() or not value.isdigit() or len(value) > 19:
        return None
    number = int(value)
    return number if 0 < number <= MAX_ID else None


def check_first(first: int) -> InvalidInput | None:
    if 1 <= first <= PAGE_MAX:
        return None
    return InvalidInput(message=f"`first` must be between 1 and {PAGE_MAX}.", field="first")


def bad_cursor() -> InvalidInput:
    return InvalidInput(message="`after` is not a cursor of this list.", field="after")


def id_cursor(kind: str, row_id: int) -> str:
    return encode_cursor(kind, row_id)


def decode_id_cursor(cursor: str, kind: str) -> int | None:
    """The id of a cursor made by `id_cursor(kind, id)`, or None."""
    try:
        parts = decode_cursor(kind, cursor)
    except BadCursor:
        return None
    if len(parts) != 1 or not isinstance(parts[0], int) or not 0 < parts[0] <= MAX_ID:
        return None
    return parts[0]


def page_start(first: int, after: str | None, kind: str) -> int | InvalidInput | None:
    """The id to continue below, or why the page cannot be read."""
    if refused := check_first(first):
        return refused
    if after is None:
        return None
    before_id = decode_id_cursor(after, kind)
    return bad_cursor() if before_id is None else before_id
