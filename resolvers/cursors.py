"""Opaque, stable page cursors: base64 of a kind and the sort key values."""

import base64
import binascii

import orjson


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
