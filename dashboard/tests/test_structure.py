"""The dashboard app's shape: services speak the domain (no web framework), tasks call services, one error table."""

import ast
from pathlib import Path

import pytest

from config.domain import DomainError
from config.exceptions import STATUS_BY_CODE
from dashboard.services.uploads import ImportFailure

APP = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


FRAMEWORK_NEUTRAL = [
    *sorted((APP / "services").glob("*.py")),
    APP / "selectors.py",
    APP / "exceptions.py",
    APP / "admin.py",
    APP / "staff" / "views.py",
    *sorted((APP / "management" / "commands").glob("*.py")),
]


@pytest.mark.parametrize("path", FRAMEWORK_NEUTRAL, ids=lambda path: str(path.relative_to(APP)))
def test_services_admin_and_commands_do_not_speak_http(path):
    assert not {name for name in _imports(path) if name.split(".")[0] == "rest_framework"}, path


@pytest.mark.parametrize("path", sorted((APP / "services").glob("*.py")), ids=lambda path: path.name)
def test_services_never_import_tasks(path):
    assert "dashboard.tasks" not in _imports(path)


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_domain_error_and_import_failure_has_a_status_in_the_one_table():
    import accounts.models  # noqa: F401  (every app's domain errors are loaded with Django)

    codes = {error.code for error in _subclasses(DomainError)} | {failure.value for failure in ImportFailure}
    assert codes <= set(STATUS_BY_CODE), codes - set(STATUS_BY_CODE)
