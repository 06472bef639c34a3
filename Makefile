# The two commands: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DEMO := data/nagorno-karabakh-2020.json
export DJANGO_SETTINGS_MODULE ?= conflict.settings

.PHONY: run test setup setup-dev lint migrate demo clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt $(VENV)/.runtime
	$(PIP) install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime

setup-dev: $(VENV)/.dev

# Development server on http://127.0.0.1:8000 with SQLite unless DATABASE_URL says otherwise.
run: setup
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py migrate --noinput
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py import_timeline $(DEMO)
	DJANGO_DEBUG=$${DJANGO_DEBUG:-1} $(PY) manage.py runserver 127.0.0.1:8000

lint: setup-dev
	$(VENV)/bin/ruff check .

# Lint, migration check, then the whole suite (browser tests included).
test: setup-dev lint
	DJANGO_SETTINGS_MODULE=conflict.settings_test $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest

clean:
	rm -rf $(VENV) staticfiles artifacts .pytest_cache db.sqlite3
