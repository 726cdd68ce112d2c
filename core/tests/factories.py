"""A typed base for the project's factory-boy factories: ``SomeFactory(...)`` is typed as the model it makes."""

from typing import TYPE_CHECKING, Any, TypeVar

import factory.django
from django.db import models

M = TypeVar("M", bound=models.Model)


class ModelFactory(factory.django.DjangoModelFactory[M]):
    """Derive a model's factory from ``ModelFactory[TheModel]``.

    factory-boy types ``create``, ``build`` and their batches by its own generic parameter, but calling the factory
    class (its metaclass's ``__call__``, which runs the default strategy) stays typed as the factory; the
    ``__new__`` below exists only for the type checker, to say what that call returns.
    """

    class Meta:
        abstract = True

    if TYPE_CHECKING:

        def __new__(cls, **kwargs: Any) -> M: ...  # type: ignore[misc]  # the call returns a model, not a factory
