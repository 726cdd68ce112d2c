"""The project's shape, checked on the source: no import cycle among the project's modules, no import inside a
function to dodge one, services, selectors and commands that speak the domain (no web framework), services that never
import tasks, and the dashboard's feature packages each with the same rooms."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "config", "core", "dashboard", "idempotency")
FEATURES = ("metrics", "rollup", "uploads", "kpis", "alerts", "boards")


def _modules() -> dict[str, Path]:
    """Every project module that runs outside the tests (``dashboard.metrics.selectors``: its file)."""
    modules = {}
    for app in APPS:
        for path in sorted((PROJECT / app).rglob("*.py")):
            parts = path.relative_to(PROJECT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            modules[name] = path
    return modules


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING"


def _module_level_imports(module: str, path: Path) -> set[str]:
    """The project modules *module* imports when it is imported (not under TYPE_CHECKING, not inside functions)."""
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def visit(nodes):
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                visit(node.orelse)
            elif isinstance(node, ast.If | ast.Try | ast.With):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    visit(getattr(node, field, []))
            elif isinstance(node, ast.ExceptHandler):
                visit(node.body)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*kept, base]).strip(".")
                found.add(base)
                # ``from dashboard.rollup import write``: the submodule is imported too
                found.update(f"{base}.{alias.name}" for alias in node.names)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return {name for name in found if name in MODULES}


def _graph() -> dict[str, set[str]]:
    return {module: _module_level_imports(module, path) for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or a module importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def connect(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_cycle_finder_finds_a_cycle_of_three():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_the_projects_modules():
    assert _cycles(_graph()) == []


def _function_level_project_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) or function.name == "ready":
            continue  # AppConfig.ready: where Django wants receivers connected, once the models are loaded
        for node in ast.walk(function):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            found += [f"{function.name}: {name}" for name in names if name.split(".")[0] in APPS]
    return found


@pytest.mark.parametrize("module", sorted(MODULES), ids=str)
def test_no_project_import_inside_a_function(module):
    assert _function_level_project_imports(MODULES[module]) == []


def _domain_modules() -> list[str]:
    """Services, selectors, the alert rules' parts, the CLI, and the modules named as framework-neutral."""
    chosen = []
    for module in MODULES:
        parts = module.split(".")
        if (
            "services" in parts
            or parts[-1] in ("selectors", "rules", "evaluation", "delivery", "queue", "webhooks", "cells", "read")
            or parts[-1] in ("write", "maintenance", "csv_reader", "csv_format", "time_input", "timeseries", "demo")
            or "commands" in parts
            or "staff" in parts
            or module in ("accounts.admin_mfa", "accounts.forms", "dashboard.admin", "dashboard.exceptions")
        ):
            chosen.append(module)
    return sorted(chosen)


DOMAIN_MODULES = _domain_modules()


def test_the_domain_modules_cover_every_app():
    assert {module.split(".")[0] for module in DOMAIN_MODULES} >= {"accounts", "dashboard", "idempotency"}


@pytest.mark.parametrize("module", DOMAIN_MODULES, ids=str)
def test_services_selectors_and_commands_do_not_speak_http(module):
    imported = set()
    for node in ast.walk(ast.parse(MODULES[module].read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert not {name for name in imported if name.split(".")[0] == "rest_framework"}


@pytest.mark.parametrize("module", DOMAIN_MODULES, ids=str)
def test_services_never_import_tasks(module):
    """The caller (a view, a command) enqueues, or the service is handed a queue (registered by an app config)."""
    assert not {name for name in _module_level_imports(module, MODULES[module]) if name.rpartition(".")[2] == "tasks"}


@pytest.mark.parametrize("feature", FEATURES)
def test_every_dashboard_feature_has_the_same_rooms(feature):
    package = PROJECT / "dashboard" / feature
    assert (package / "models.py").is_file()
    assert (package / "tests" / "__init__.py").is_file()
    if feature != "rollup":  # the rollup has no API of its own: its reads and writes are the other features'
        assert (package / "selectors.py").is_file()
        assert (package / "api" / "views.py").is_file()
        assert (package / "api" / "serializers.py").is_file()
        assert (package / "services.py").is_file() or (package / "rules.py").is_file()
