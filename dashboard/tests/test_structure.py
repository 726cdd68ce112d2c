"""The apps' shape beyond imports (those are core/tests/test_structure.py's): one error table, permission classes in
one module per app, the staff UI in one package."""

import ast
from pathlib import Path

import pytest

from core.errors import DomainError
from core.exception_handler import STATUS_BY_CODE
from dashboard.uploads.services import ImportFailure

APP = Path(__file__).resolve().parents[1]
PROJECT = APP.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_domain_error_and_import_failure_has_a_status_in_the_one_table():
    import accounts.models  # noqa: F401  (every app's domain errors are loaded with Django)

    codes = {error.code for error in _subclasses(DomainError)} | {failure.value for failure in ImportFailure}
    assert codes <= set(STATUS_BY_CODE), codes - set(STATUS_BY_CODE)


def _classes_named_like_permissions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any((getattr(base, "id", "") or getattr(base, "attr", "")).endswith("Permissions") for base in node.bases)
    ]


@pytest.mark.parametrize("app", ["accounts", "config", "core", "dashboard", "idempotency"])
def test_permission_classes_live_in_the_apps_permissions_module(app):
    misplaced = {
        str(path.relative_to(PROJECT)): names
        for path in sorted((PROJECT / app).rglob("*.py"))
        if "tests" not in path.parts and path.name != "permissions.py"
        if (names := _classes_named_like_permissions(path))
    }
    assert not misplaced


def test_the_staff_ui_is_one_package():
    """Its pages, URLs, forms, charts, formatting, templates and stylesheet are under dashboard/staff/; the admin
    mounts its URLs from there and defines none itself."""
    staff = APP / "staff"
    for part in ("urls.py", "views.py", "forms.py", "charts.py", "formatting.py", "templatetags/staff_format.py"):
        assert (staff / part).is_file(), part
    assert (staff / "templates" / "admin" / "dashboard" / "staff" / "_svg_chart.html").is_file()
    assert (staff / "static" / "css" / "staff.css").is_file()
    assert not (APP / "charts.py").exists()
    assert not (PROJECT / "templates" / "admin" / "dashboard").exists()
    assert "def get_urls" not in (APP / "admin.py").read_text(encoding="utf-8")
    assert not {name for name in _imports(staff / "forms.py") if "api" in name.split(".")}
