# The README's two commands: `make run` (serve on SQLite with DEBUG on) and `make test` (the whole suite).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1:8000

.PHONY: run serve test fuzz install install-dev lint format migrate superuser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt

migrate: install
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput

run: migrate
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py runserver $(HOST)

# Production-style serving with gunicorn.conf.py (WEB_CONCURRENCY, WEB_TIMEOUT); DEBUG stays as the environment says.
serve: install
	$(BIN)/gunicorn -c gunicorn.conf.py --bind $(HOST)

test: install-dev
	$(BIN)/pytest $(PYTEST_ARGS)

# Schemathesis over every operation against gunicorn on a scratch PostgreSQL database (see .ci/schemathesis).
fuzz: install-dev
	bash .ci/schemathesis

# Lint, format check, django-upgrade (as the pre-commit hook runs it; fails when it would rewrite a file) and mypy.
lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	git ls-files -z '*.py' | xargs -0 $(BIN)/django-upgrade --target-version 5.2 --check
	DEBUG=true $(BIN)/mypy

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

superuser: migrate
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py createsuperuser
