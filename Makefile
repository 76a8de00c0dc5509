# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the tests).
# Both make the virtual environment on first use, from uv.lock exactly (every package pinned,
# every file checked against its hash); `make lock` refreshes the lock on purpose.
#
# Another Python: `make test PYTHON=/path/to/python3.12 VENV=.venv-3.12`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TOOLS := .tools
UV := $(TOOLS)/bin/uv
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test
# pytest-xdist workers; 0 runs the suite in one process.
JOBS ?= 2
# Use the interpreters on this machine; never download one.
export UV_PYTHON_DOWNLOADS := never

.PHONY: demo serve test test-fast test-compat check install lock bench clean

# uv itself, pinned with hashes, in a small environment of its own.
$(UV): requirements/uv.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements/uv.txt
	touch $@

# eark-validator, the outside validator of E-ARK packages, in an environment of its own (it pins
# an lxml that pyHanko cannot use); the tests run it as a separate program.
EARK := $(TOOLS)/eark-validator
$(EARK)/.installed: requirements/eark-validator.txt
	$(PYTHON) -m venv $(EARK)
	$(EARK)/bin/pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
		-r requirements/eark-validator.txt
	touch $@

$(BIN)/.installed: pyproject.toml uv.lock $(UV) $(EARK)/.installed
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --frozen --extra dev --python $(PYTHON) --quiet
	touch $@

install: $(BIN)/.installed

lock: $(UV)
	$(UV) lock --upgrade

demo: install
	$(BIN)/stele demo --dev

serve: install
	$(BIN)/stele serve --dev

# PostgreSQL cases run when the server answers at PG_TEST_URL (they skip otherwise, unless
# STELE_REQUIRE_POSTGRES=1, as CI sets).
test: install
	STELE_TEST_POSTGRES_URL="$${STELE_TEST_POSTGRES_URL:-$(PG_TEST_URL)}" \
		$(BIN)/pytest -q -n $(JOBS)

# The suite without the tests marked slow (processes, thousands of events).
test-fast: install
	STELE_TEST_POSTGRES_URL="$${STELE_TEST_POSTGRES_URL:-$(PG_TEST_URL)}" \
		$(BIN)/pytest -q -n $(JOBS) -m "not slow"

# What another Python needs checked: the fast suite on SQLite (the PostgreSQL cases repeat the
# same Python code on another store, which the full suite covers).
test-compat: install
	$(BIN)/pytest -q -n $(JOBS) -m "not slow and not postgres"

check: install
	$(BIN)/ruff check .
	$(BIN)/mypy domain verifiers ledger api

bench: install
	$(BIN)/stele bench

clean:
	rm -rf $(VENV) $(TOOLS) stele-data
