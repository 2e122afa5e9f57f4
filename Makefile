# Two commands for a fresh machine with Python 3.11+ and make: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test install install-test check-python

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Parley needs Python 3.11 or newer")'

$(PY): | check-python
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamps make a second run skip the install unless pyproject.toml changed.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_admin
	PORT=$(PORT) $(PY) manage.py serve

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
# The modules whose behaviour depends on the database and the channel layer run a second time
# on PostgreSQL and Redis when those answer (tests/services.py).
PRODUCTION_TESTS := tests/streaming/test_persist.py tests/streaming/test_relay.py tests/streaming/test_runner.py tests/meetings/test_api.py

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)
	@status=0; $(PY) -m tests.services || status=$$?; \
	if [ $$status -eq 0 ]; then \
	  echo "== again on PostgreSQL and Redis"; \
	  DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -p no:cacheprovider $(PRODUCTION_TESTS); \
	elif [ $$status -eq 1 ]; then exit 1; fi
