"""The project's parsers: JSON with a bound on nesting (hostile bodies are a 400, never a RecursionError); form and
multipart bodies as plain dicts, validated like JSON."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import IO, Any

from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError

# No body the API takes nests deeper than a handful of levels; this leaves room while keeping every later step
# (validation, copying, rendering) far from Python's recursion limit.
JSON_MAX_DEPTH = 64


def json_depth_exceeds(value: object, limit: int) -> bool:
    """True when *value* (parsed JSON) nests lists/objects more than *limit* levels deep; iterative, never recursive."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[object]
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


def form_fields(data: QueryDict) -> dict[str, str | list[str]]:
    """A parsed form (a QueryDict) as a plain dict: one value per name, or the list of them when a name repeats.

    DRF reads a QueryDict like an HTML form: an empty value of an optional field counts as absent (``timestamp=``
    became "now", ``target=`` became null) and a missing boolean as false. A plain dict is validated exactly as the
    same JSON object would be.
    """
    return {name: values[0] if len(values) == 1 else values for name, values in data.lists()}


class FormParser(parsers.FormParser):
    def parse(  # type: ignore[override]  # a plain dict where DRF gives a QueryDict: the point of this parser
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> dict[str, str | list[str]]:
        return form_fields(super().parse(stream, media_type, parser_context))


class MultiPartParser(parsers.MultiPartParser):
    """Fields as :func:`form_fields`; a body without a single part (which RFC 2046 does not allow) is a 400
    parse_error rather than an empty form that a PATCH would accept as "change nothing"."""

    def parse(  # type: ignore[override]  # plain dicts where DRF gives a QueryDict and a MultiValueDict
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> parsers.DataAndFiles[dict[str, str | list[str]], dict[str, Any]]:
        result = super().parse(stream, media_type, parser_context)
        if not result.data and not result.files:
            raise ParseError("Multipart form parse error - the body holds no parts.")
        # Files as a plain dict too: DRF merges them into request.data with dict.update, which would copy a
        # MultiValueDict's internal lists.
        return parsers.DataAndFiles(form_fields(result.data), result.files.dict())


class JSONParser(parsers.JSONParser):
    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:  # any JSON value (a body of `null` or `[1]` too), not only the object DRF's stubs promise
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            data = None
        else:
            if not json_depth_exceeds(data, JSON_MAX_DEPTH):
                return data
        raise ParseError(f"JSON parse error - nested deeper than {JSON_MAX_DEPTH} levels.")
