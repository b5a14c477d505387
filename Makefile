# Two commands for a newcomer: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS := --quiet --disable-pip-version-check --no-compile  # bytecode is written on first import: ~20 s less to install

.PHONY: demo test install dev lint bench clean

$(BIN)/opsbot: pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install $(PIP_FLAGS) -e . 2>&1 | grep -v "is ignored: it is neither" >&2 || true
	@$(BIN)/python -c "import bot, slack_bolt, sqlalchemy, httpx" || { echo "install failed" >&2; exit 1; }
	@touch $@

$(VENV)/.dev: $(BIN)/opsbot
	@$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[dev]' 2>&1 | grep -v "is ignored: it is neither" >&2 || true
	@$(BIN)/python -c "import pytest, freezegun" || { echo "dev install failed" >&2; exit 1; }
	@touch $@

install: $(BIN)/opsbot
dev: $(VENV)/.dev

demo: $(BIN)/opsbot  ## run the bot in a terminal on examples/demo.yaml (SQLite, no Slack needed)
	@$(BIN)/python examples/demo.py

# Four pytest-xdist workers on two cores: most of the time the end-to-end tests wait on processes they start
# (opsbot, moto, a fake Slack), so more workers fill the gaps (1,808 tests: 4:08 on four, 4:39 on three).
test: $(VENV)/.dev  ## install dev dependencies and run every test (four workers: pytest-xdist)
	$(BIN)/python -m pytest -n 4 $(PYTEST_ARGS)

$(VENV)/.lint: $(VENV)/.dev
	@$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[lint]' 2>&1 | grep -v "is ignored: it is neither" >&2 || true
	@$(BIN)/python -c "import mypy, importlinter" || { echo "lint install failed" >&2; exit 1; }
	@touch $@

lint: $(VENV)/.lint  ## ruff, mypy --strict and the import-linter layer contracts (installs the lint extra)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

bench: $(VENV)/.dev  ## print the speed and memory figures (bench/), each beside its floor measured in the same run
	$(BIN)/python bench/status_fanout.py
	$(BIN)/python bench/alert_ingest.py
	$(BIN)/python bench/first_post.py
	$(BIN)/python bench/idle_rss.py
	$(BIN)/python bench/ack_latency.py
	$(BIN)/python bench/fuzz.py

clean:
	rm -rf $(VENV) demo.db opsbot.db .pytest_cache
