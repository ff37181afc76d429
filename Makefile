# The two set-up commands are `make demo` and `make test`; both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev

.PHONY: demo test lint typecheck unit i18n-extract i18n-update clean

# Debian without python3-venv has no ensurepip: fall back to a venv without pip
# and bootstrap pip from PyPI (tools/bootstrap_pip.py, standard library only).
$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV) && $(PYTHON) -m venv --without-pip $(VENV) \
		&& $(PYTHON) tools/bootstrap_pip.py $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/fairdun demo

lint: $(STAMP)
	$(BIN)/ruff check src tests tools bench
	$(BIN)/ruff format --check src tests tools bench

typecheck: $(STAMP)
	$(BIN)/mypy --strict src

unit: $(STAMP)
	$(BIN)/python -m pytest

test: lint typecheck unit

i18n-extract: $(STAMP)
	mkdir -p var
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ -o var/messages.pot .

i18n-update: i18n-extract
	$(BIN)/pybabel update -i var/messages.pot -d src/fairdun/locales -D messages --no-fuzzy-matching

clean:
	rm -rf $(VENV) var/test-artifacts .pytest_cache .mypy_cache .ruff_cache
