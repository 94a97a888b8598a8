"""A JSON parser that refuses what the standard one lets through or crashes on.

Refused: invalid UTF-8, duplicate keys, NaN and Infinity, lone surrogates, and nesting deeper
than MAX_DEPTH (the standard parser answers 1,000 levels with a RecursionError, a 500).
"""

import json

from django.conf import settings
from rest_framework.parsers import JSONParser

from portal.errors import ApiError

MAX_DEPTH = 32


def _reject_duplicates(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ApiError("invalid_request", "A JSON object in the body has a duplicate key.")
    return result


def _reject_constant(name: str):
    raise ApiError("invalid_request", "NaN and Infinity are not valid JSON.")


def _check_values(value: object) -> None:
    """Walk the parsed value without recursion: depth limit and well-formed strings."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ApiError("invalid_request", f"JSON is nested deeper than {MAX_DEPTH} levels.")
        if isinstance(item, str):
            _check_string(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_string(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _check_string(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError("invalid_text", "A string in the body contains a lone surrogate.") from None


def strict_json_loads(raw: bytes) -> object:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError("invalid_text", "The request body is not valid UTF-8.") from None
    try:
        value = json.loads(
            text, object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant
        )
    except RecursionError:
        raise ApiError(
            "invalid_request", f"JSON is nested deeper than {MAX_DEPTH} levels."
        ) from None
    except json.JSONDecodeError as exc:
        # NOTE: position only; the decoder's own message can quote the body.
        raise ApiError(
            "invalid_request",
            f"The body is not valid JSON (line {exc.lineno}, column {exc.colno}).",
        ) from None
    _check_values(value)
    return value


def _read_limited(stream, limit: int) -> bytes:
    """The body, refused before parsing when it is over the limit (declared or actual)."""
    raw = stream.read(limit + 1) if stream is not None else b""
    if len(raw) > limit:
        raise ApiError("payload_too_large", f"The request body is larger than {limit} bytes.")
    return raw


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        declared = int(request.META.get("CONTENT_LENGTH") or 0) if request else 0
        if declared > limit:
            raise ApiError("payload_too_large", f"The request body is larger than {limit} bytes.")
        raw = _read_limited(stream, limit)
        if not raw.strip():
            raise ApiError("invalid_request", "The request body is empty; JSON was expected.")
        return strict_json_loads(raw)
