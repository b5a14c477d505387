# Two commands for a newcomer: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY_OK := import sys; sys.exit(sys.version_info < (3, 11))  # pyproject.toml: requires-python >= 3.11
BIN := $(VENV)/bin
PIP_FLAGS := --quiet --disable-pip-version-check
# Installs come from uv.lock (every package, its version and its hashes, for every platform), made and read by
# this uv, which pip puts into the venv first. `make lock` remakes uv.lock after a change to pyproject.toml.
UV_VERSION := 0.13.9
UV := UV_PROJECT_ENVIRONMENT=$(abspath $(VENV)) UV_PYTHON=$(abspath $(BIN))/python UV_PYTHON_DOWNLOADS=never $(BIN)/uv
# --locked: refuse a uv.lock that pyproject.toml has moved away from; --inexact: leave the other extras and uv;
# --compile-bytecode: every module compiled once, at install (uv does it in parallel, in a second or two), so no
# process compiles at import, even where PYTHONDONTWRITEBYTECODE is set (each would, and hold the memory).
SYNC := $(UV) sync --locked --inexact --compile-bytecode --quiet

.PHONY: demo test install dev lint lock bench clean

# A .venv made by an older Python is made again, not reused; a Python too old to make one is named, with the fix.
# Then the pinned uv, into the venv (pip is quiet, and skipped when that uv is there already).
define venv_with_uv
	@if [ -x $(BIN)/python ] && ! $(BIN)/python -c '$(PY_OK)' 2>/dev/null; then \
		echo "opsbot: $(VENV) was made with $$($(BIN)/python -V 2>&1); making it again" >&2; rm -rf $(VENV); fi
	@test -x $(BIN)/python || { $(PYTHON) -c '$(PY_OK)' 2>/dev/null || { \
		echo "opsbot needs Python 3.11 or newer, and $(PYTHON) is $$($(PYTHON) -V 2>&1 || echo 'not found')." \
		"Install Python 3.11+ and run: make $(or $(MAKECMDGOALS),demo) PYTHON=python3.11" >&2; exit 1; }; \
		$(PYTHON) -m venv $(VENV); }
	@[ "$$($(BIN)/uv --version 2>/dev/null)" = "uv $(UV_VERSION)" ] || \
		$(BIN)/python -m pip install $(PIP_FLAGS) "uv==$(UV_VERSION)" 2>&1 | grep -v "is ignored: it is neither" >&2 || true
	@test -x $(BIN)/uv || { echo "opsbot: could not install uv $(UV_VERSION) with pip (above)" >&2; exit 1; }
endef

$(BIN)/opsbot: pyproject.toml uv.lock
	@echo "opsbot: installing into $(VENV) from uv.lock (about 60 packages; under a minute the first time)…" >&2
	$(venv_with_uv)
	@start=$$(date +%s); $(SYNC) && $(BIN)/python -c "import bot, slack_bolt, sqlalchemy, httpx" || { \
		echo "opsbot: install failed (above). If uv.lock is out of date with pyproject.toml: make lock" >&2; \
		exit 1; }; \
	echo "opsbot: installed in $$(( $$(date +%s) - start )) s" >&2
	@touch $@

$(VENV)/.dev: $(BIN)/opsbot
	@$(SYNC) --extra dev
	@$(BIN)/python -c "import pytest, freezegun" || { echo "dev install failed" >&2; exit 1; }
	@touch $@

install: $(BIN)/opsbot
dev: $(VENV)/.dev

demo: $(BIN)/opsbot  ## run the bot in a terminal on examples/demo.yaml (SQLite, no Slack needed)
	@$(BIN)/python examples/demo.py

# Four pytest-xdist workers on two cores: most of the time the end-to-end tests wait on processes they start
# (opsbot, moto, a fake Slack), so more workers fill the gaps; `worksteal` lets an idle worker take tests queued
# behind a long end-to-end one (1,872 tests: 3:43, against 4:19-4:59 with the default scheduling).
test: $(VENV)/.dev  ## install dev dependencies and run every test (four workers: pytest-xdist)
	$(BIN)/python -m pytest -n 4 --dist worksteal $(PYTEST_ARGS)

$(VENV)/.lint: $(VENV)/.dev
	@$(SYNC) --extra dev --extra lint
	@$(BIN)/python -c "import mypy, importlinter" || { echo "lint install failed" >&2; exit 1; }
	@touch $@

# After a change to the dependencies in pyproject.toml (reaches PyPI): `make lock`; to move every pin to
# the newest release allowed: `make lock LOCK_ARGS=--upgrade`.
lock:
	$(venv_with_uv)
	$(UV) lock $(LOCK_ARGS)

lint: $(VENV)/.lint  ## ruff, mypy --strict and the import-linter layer contracts (installs the lint extra)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench: $(VENV)/.dev  ## every bench under bench/, one after the other, then one table (date, machine, figures)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) demo.db opsbot.db .pytest_cache
