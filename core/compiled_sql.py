"""Hot single-row lookups with their SQL compiled once per thread and database, for the per-request path.

Building a query through the ORM costs about 0.3 ms of CPU per request, several times what the query itself costs
(bench/bench_api.py). A ``CompiledLookup`` builds the queryset once, keeps its SQL and compiler, and turns the row
into instances exactly as Django's ``ModelIterable`` does (same converters, ``from_db``, ``select_related``
populators), so callers get the same objects the ORM would give them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeAlias, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, router
from django.db.models import Model, QuerySet
from django.db.models.expressions import Expression
from django.db.models.query import RelatedPopulator, get_related_populators
from django.db.models.sql.compiler import SQLCompiler

# A placeholder the queryset is built with; the real value is bound at execution.
_PLACEHOLDER = 0

_M = TypeVar("_M", bound=Model)
_Converters: TypeAlias = dict[int, tuple[list[Callable[..., Any]], Expression]]
# (sql, compiler, converters, start, end, names, populators): what ModelIterable works out per query, kept.
_Plan: TypeAlias = tuple[str, SQLCompiler, _Converters, int, int, list[str], list[RelatedPopulator]]


class CompiledLookup(Generic[_M]):
    """``lookup.get(value)``: the one row ``build(placeholder)`` would return for *value* (None when there is none).

    *build* takes the placeholder value and returns a queryset with exactly one parameter (the value) and no
    ordering, e.g. ``lambda v: User.objects.filter(pk=v)``; *prepare* turns the value into the query parameter.
    """

    def __init__(
        self,
        model: type[_M],
        build: Callable[[Any], QuerySet[_M]],
        prepare: Callable[[Any], Any] = lambda v: v,
    ) -> None:
        self.model, self.build, self.prepare = model, build, prepare
        self._plans = threading.local()

    def _plan(self, alias: str) -> _Plan:
        plans: dict[str, _Plan] = self._plans.__dict__.setdefault("by_alias", {})
        plan = plans.get(alias)
        if plan is None:
            compiler: SQLCompiler = self.build(_PLACEHOLDER).using(alias).order_by().query.get_compiler(alias)
            sql, params = compiler.as_sql()
            assert len(params) == 1, params
            klass_info, select = compiler.klass_info, compiler.select
            fields = klass_info["select_fields"]
            start, end = fields[0], fields[-1] + 1
            names = [column[0].target.attname for column in select[start:end]]
            populators = get_related_populators(klass_info, select, alias)  # type: ignore[call-arg]  # Django 6.1 stubs: get_related_populators takes fetch_mode, 5.2 does not
            converters = compiler.get_converters([column[0] for column in select[: compiler.col_count]])
            plan = plans[alias] = (sql, compiler, converters, start, end, names, populators)
        return plan

    def get(self, value: object) -> _M | None:
        alias = router.db_for_read(self.model) or DEFAULT_DB_ALIAS
        sql, compiler, converters, start, end, names, populators = self._plan(alias)
        with connections[alias].cursor() as cursor:
            cursor.execute(sql, [self.prepare(value)])
            row = cursor.fetchone()
        if row is None:
            return None
        if converters:
            row = next(iter(compiler.apply_converters([row], converters)))
        instance = self.model.from_db(alias, names, row[start:end])
        for populator in populators:
            populator.populate(row, instance)
        return instance
