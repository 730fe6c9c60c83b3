# A newcomer needs two commands: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
# Werkzeug's debugger runs any Python typed into an error page: only on loopback.
LOOPBACK := $(filter 127.0.0.1 localhost ::1,$(HOST))
RUN_FLAGS := $(if $(LOOPBACK),--debug,--debug --no-debugger)
# The second database the tests run on, when one answers there. Outside CI, `make test`
# skips that run with a message when none answers; with CI=true (or 1), as .ci/run runs,
# it fails instead: CI runs the suite on both databases or says why it could not.
SYSTEM_PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
IN_CI := $(filter true TRUE True 1,$(CI))

# Demo data loaded by `make run` (0.002 = 2,000 customers); `make bench` scale.
DEMO_SCALE ?= 0.002
BENCH_SCALE ?= 1

.PHONY: run test test-embedded test-system chromium bench bench-load lint typecheck format clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: $(BIN)/python requirements.txt
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

## run: migrate, seed and serve on http://$(HOST):$(PORT) with one background worker beside it (embedded PostgreSQL unless DATABASE_URL is set)
run: $(VENV)/.runtime
	$(BIN)/flask db upgrade
	$(BIN)/flask crm seed
	$(BIN)/flask crm demo-data --scale $(DEMO_SCALE) --if-missing
	@$(if $(LOOPBACK),,echo "Serving beyond this machine ($(HOST)): the debugger is off. For production use gunicorn (README).")
	@# One job worker beside the web server, in a session of its own so that Ctrl+C reaches
	@# only the server; when the server stops, the worker gets one SIGTERM and finishes
	@# the job in progress first.
	setsid $(BIN)/flask crm worker & worker=$$!; \
	trap 'trap - EXIT INT TERM; kill -TERM $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT INT TERM; \
	$(BIN)/flask run $(RUN_FLAGS) --host $(HOST) --port $(PORT)

## test: the suite on the embedded PostgreSQL, then again on the system PostgreSQL if one answers (with CI=true it must)
test: test-embedded test-system

# The browser tests (tests/e2e) drive the system Chromium through Playwright.
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "== installing Chromium for the browser tests =="; \
			apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "The browser tests need Chromium at /usr/bin/chromium: sudo apt-get install chromium"; \
			exit 1; \
		fi; \
	fi

test-embedded: $(VENV)/.dev chromium
	@echo "== tests on the embedded PostgreSQL =="
	env -u DATABASE_URL $(BIN)/python -m pytest

test-system: $(VENV)/.dev chromium
	@if why=$$($(BIN)/python -c "import psycopg; psycopg.connect('$(SYSTEM_PG_URL)', connect_timeout=3).close()" 2>&1); then \
		echo "== tests on the system PostgreSQL at $(SYSTEM_PG_URL) =="; \
		DATABASE_URL='$(SYSTEM_PG_URL)' $(BIN)/python -m pytest; \
	elif [ -n "$(IN_CI)" ]; then \
		echo "== CI=$(CI): no PostgreSQL answers at $(SYSTEM_PG_URL), so the second run (system PostgreSQL) cannot run: failing rather than skipping it. Start PostgreSQL there or set SYSTEM_PG_URL. ==" >&2; \
		echo "$$why" | sed -n '/^[A-Za-z_.]*Error: /,$$p' >&2; \
		exit 1; \
	else \
		echo "== no PostgreSQL answers at $(SYSTEM_PG_URL); the second run (system PostgreSQL) is skipped (under CI=true this fails) =="; \
	fi

## bench: build (or reuse) a scale-$(BENCH_SCALE) database and time every page as every role
bench: $(VENV)/.dev
	$(BIN)/python -m bench.roles --scale $(BENCH_SCALE)
	$(BIN)/python -m bench.pages --scale $(BENCH_SCALE)
	$(BIN)/python -m bench.audit_writes --scale $(BENCH_SCALE)
	$(BIN)/python -m bench.imports --scale $(BENCH_SCALE)

## bench-load: 16 signed-in clients for 60 s against gunicorn, then again through a PostgreSQL restart
bench-load: $(VENV)/.dev
	$(BIN)/python -m bench.load --scale $(BENCH_SCALE)
	$(BIN)/python -m bench.load --scale $(BENCH_SCALE) --restart-at 30

## lint: ruff's checks and formatting, then mypy (strict, on crm/)
lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## typecheck: mypy alone
typecheck: $(VENV)/.dev
	$(BIN)/mypy

format: $(VENV)/.dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean-venv:
	rm -rf $(VENV)
