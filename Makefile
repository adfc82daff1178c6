# Gatehouse developer commands. `make serve` and `make test` set everything up on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: setup serve test lint bench bench-scale bench-purge

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml tests/peers/node/package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	if command -v npm >/dev/null 2>&1; then npm ci --prefix tests/peers/node --no-audit --no-fund --silent; fi
	touch $@

serve: setup
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py welcome --url http://$(HOST):$(PORT)
	GATEHOUSE_ISSUER=$${GATEHOUSE_ISSUER:-http://$(HOST):$(PORT)} $(PY) manage.py runserver $(HOST):$(PORT)

test: setup
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy config clients tokens api portal ops
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/hadolint Dockerfile

bench: setup  ## side by side with vanilla django-oauth-toolkit and the bare-Django floor (needs wrk, PostgreSQL)
	bench/compare.sh --python $(PY)

bench-scale: setup  ## 1M live + 1M expired tokens, purge under load, worker memory (needs wrk, PostgreSQL)
	$(PY) bench/scale.py $(BENCH_ARGS)

bench-purge: setup  ## 1M expired tokens: partition drop vs row-by-row delete while tokens are issued (needs wrk, PostgreSQL)
	$(PY) bench/purge.py $(BENCH_ARGS)
