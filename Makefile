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
	DJANGO_SETTINGS_MODULE=conflict.settings_test $(VENV)/bin/pytest

clean:
	rm -rf $(VENV) staticfiles artifacts .pytest_cache db.sqlite3

# The benchmark on PostgreSQL (docs/benchmarks.md); not part of `make test`.
# A quick run: make bench BENCH_ARGS="--sizes 10k --duration 5"
BENCH_ARGS ?= --sizes 10k,100k,1m
.PHONY: bench
bench: setup-dev
	$(PY) -m bench.run $(BENCH_ARGS)

# Soak and faults on gunicorn + PostgreSQL (docs/reliability.md); restarts the local PostgreSQL.
# A quick run: make soak SOAK_ARGS="--duration 20 --readers 10 --synthetic 2000"
SOAK_ARGS ?=
.PHONY: soak
soak: setup-dev
	$(PY) -m bench.soak.run $(SOAK_ARGS)

# A real PostgreSQL streaming replica of the local cluster (pg_basebackup, port 5433) and the proof
# that anonymous reads use it and staff read their writes (docs/scaling.md). Run as root or postgres.
# The primary needs a pg_hba.conf replication line for 127.0.0.1: REPLICA_ARGS=--configure-primary adds it.
REPLICA_ARGS ?=
.PHONY: replica-check
replica-check: setup-dev
	$(PY) -m bench.replica check $(REPLICA_ARGS)
