# Two commands for a fresh machine with Python 3.11+ and make: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run run-prod test install install-test check-python

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

# The production topology on this machine against the local PostgreSQL and Redis (Procfile, run
# by honcho): two Daphne processes on $(PORT) and $(PORT)+1, a session-runner worker, a Celery
# worker and Celery beat. Secrets are generated once into $(PROD_DATA) (docs/deployment.md).
PROD_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/parley
PROD_REDIS_URL ?= redis://127.0.0.1:6379/1
PROD_DATA ?= var/prod
PROD_ENV = PARLEY_PRODUCTION=true DEBUG=false PARLEY_DATA_DIR=$(PROD_DATA) \
	DATABASE_URL=$(PROD_DATABASE_URL) REDIS_URL=$(PROD_REDIS_URL) \
	SECRET_KEY_FILE=$(PROD_DATA)/secret_key PARLEY_ENCRYPTION_KEY_FILE=$(PROD_DATA)/encryption_key \
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH

run-prod: install
	@mkdir -p $(PROD_DATA)
	@test -s $(PROD_DATA)/secret_key || $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' > $(PROD_DATA)/secret_key
	@test -s $(PROD_DATA)/encryption_key || $(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())' > $(PROD_DATA)/encryption_key
	$(PROD_ENV) $(PY) manage.py ensure_database
	$(PROD_ENV) $(PY) manage.py migrate --noinput
	$(PROD_ENV) $(PY) manage.py ensure_admin
	$(PROD_ENV) $(VENV)/bin/honcho start -f Procfile -c web=2,runner=1,worker=1,beat=1 -p $(PORT)

TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
# The modules whose behaviour depends on the database and the channel layer run a second time
# on PostgreSQL and Redis when those answer (tests/services.py).
PRODUCTION_TESTS := tests/streaming/test_persist.py tests/streaming/test_relay.py tests/streaming/test_runner.py tests/meetings/test_api.py tests/meetings/test_search.py tests/streaming/zoom/test_rtmp.py

test: install-test
	$(PY) -m pytest $(PYTEST_ARGS)
	@status=0; $(PY) -m tests.services || status=$$?; \
	if [ $$status -eq 0 ]; then \
	  echo "== again on PostgreSQL and Redis"; \
	  DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest -p no:cacheprovider $(PRODUCTION_TESTS); \
	elif [ $$status -eq 1 ]; then exit 1; fi
