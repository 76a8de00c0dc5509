# Two commands on a fresh machine: `make demo` (the main job) and `make test` (the tests).
# Both make the virtual environment on first use.
VENV ?= .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: demo serve test check install clean

$(BIN)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/stele demo

# PostgreSQL cases run when the server answers at PG_TEST_URL (they skip otherwise, unless
# STELE_REQUIRE_POSTGRES=1, as CI sets).
test: install
	STELE_TEST_POSTGRES_URL="$${STELE_TEST_POSTGRES_URL:-$(PG_TEST_URL)}" $(BIN)/pytest -q

check: install
	$(BIN)/ruff check .
	$(BIN)/mypy domain verifiers ledger api

clean:
	rm -rf $(VENV) stele-data

serve: install
	$(BIN)/stele serve
