"""Email addresses as the login: the one normalisation used for storage, lookup, uniqueness and throttle keys."""

from __future__ import annotations

import unicodedata

from django.db.models import Q, Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact

# The one character whose Unicode lowercase is two characters (Python's str.lower gives "i̇"); the database's
# lower() and the simple case mapping give "i".
_SIMPLE_LOWER_EXCEPTIONS = str.maketrans({"\u0130": "i"})


def email_normalize(value: str) -> str:
    """The stored form of an address: Unicode NFKC (so compatibility look-alikes such as the Kelvin sign U+212A or the
    long s U+017F become the letters they stand for), surrounding space removed, the domain lowercased."""
    value = unicodedata.normalize("NFKC", value).strip()
    local, at, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}" if at else value


def email_key(value: str) -> str:
    """The case-insensitive identity of an address, computed in Python (throttle keys): the normalised address under
    the simple lowercase mapping, which is what the database's ``lower()`` (the ``Lower(email)`` constraint) does."""
    return email_normalize(value).translate(_SIMPLE_LOWER_EXCEPTIONS).lower()


def email_match(value: str, field: str = "email") -> Q:
    """A filter for the users whose address is *value* in any case: the database's own ``lower()`` on both sides, so
    lookups agree with the ``Lower(email)`` unique constraint on every database (never ``iexact``, which uses
    ``UPPER`` on PostgreSQL: ``upper`` maps the dotless i U+0131 to ``I``, ``lower`` keeps it)."""
    return Q(Exact(Lower(field), Lower(Value(email_normalize(value)))))
