"""Query strings and form bodies for serializers: what the client sent, "" included, validated as the schema says."""

from __future__ import annotations

from django.http import QueryDict


def plain_data(data: object) -> object:
    """*data* (``request.query_params`` or a form/multipart ``request.data``) as a plain dict, the last value of each
    name; anything else (a JSON body) unchanged.

    DRF reads a QueryDict like an HTML form: an empty value of an optional field counts as absent (``?from=`` or a
    multipart ``timestamp=`` silently meant "no filter" or "now") and a missing boolean as false. A plain dict makes
    "" an invalid value like any other and leaves a missing field missing.
    """
    return data.dict() if isinstance(data, QueryDict) else data
