"""The project's JSON parser: DRF's, plus a bound on nesting so hostile bodies are a 400, never a RecursionError."""

from __future__ import annotations

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# No body the API takes nests deeper than a handful of levels; this leaves room while keeping every later step
# (validation, copying, rendering) far from Python's recursion limit.
JSON_MAX_DEPTH = 64


def json_depth_exceeds(value, limit: int) -> bool:
    """True when *value* (parsed JSON) nests lists/objects more than *limit* levels deep; iterative, never recursive."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class MultiPartParser(parsers.MultiPartParser):
    """DRF's, except that a body without a single part (which RFC 2046 does not allow) is a 400 parse_error rather
    than an empty form that a PATCH would accept as "change nothing"."""

    def parse(self, stream, media_type=None, parser_context=None):
        result = super().parse(stream, media_type, parser_context)
        if not result.data and not result.files:
            raise ParseError("Multipart form parse error - the body holds no parts.")
        return result


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
        else:
            if not json_depth_exceeds(data, JSON_MAX_DEPTH):
                return data
        raise ParseError(f"JSON parse error - nested deeper than {JSON_MAX_DEPTH} levels.")
