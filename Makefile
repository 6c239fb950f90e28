# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
PORT ?= 5000
VENDOR := app/static/vendor

.PHONY: run test install install-dev assets services system-deps peers lint bench bench-sync \
	bench-poll bench-public clean

run: install assets
	$(VENV)/bin/flask --app app db upgrade
	$(VENV)/bin/flask --app app run --host 127.0.0.1 --port $(PORT) --no-reload

# Two passes: everything on PostgreSQL, Redis and S3; then the web, API and job tests again on
# the embedded profile a newcomer's `make run` gives (SQLite, local disk, in-process jobs).
EMBEDDED_TESTS := tests/web tests/tasks tests/services

test: install-dev assets system-deps services peers lint
	$(PY) -m pytest
	LINKAROOIE_TEST_PROFILE=embedded $(PY) -m pytest $(EMBEDDED_TESTS)

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev
assets: $(VENDOR)/.installed

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(VENV)/.installed: requirements.txt | $(VENV)/bin/python
	$(PIP) install -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(PIP) install -r requirements-dev.txt
	touch $(VENV)/.installed $@

# Front-end packages come from the npm registry at the versions in package-lock.json.
$(VENDOR)/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	sh scripts/vendor.sh
	touch $@

system-deps:
	bash scripts/install-system-deps.sh

services:
	bash scripts/ensure-services.sh

# Servers the tests talk to as other platforms do (a Bluesky PDS), each with its own npm lockfile.
peers:
	bash scripts/install-pds.sh

lint: install-dev
	$(VENV)/bin/ruff check app tests bench migrations *.py
	$(VENV)/bin/ruff format --check app tests bench migrations *.py

bench: install-dev
	$(PY) bench/pipeline.py

# The sync engine under chaos (1,000 tasks, a killed worker, a flushed Redis) and the polled
# status partial under load; both on the PostgreSQL and Redis of `make services`.
bench-sync: install-dev services
	$(PY) bench/sync_chaos.py

bench-poll: install-dev services
	bash scripts/install-bench-deps.sh
	$(PY) bench/poll.py

# The public page /@<handle> as visitors load it, against /healthz in the same run.
bench-public: install-dev services
	bash scripts/install-bench-deps.sh
	$(PY) bench/public_page.py

clean:
	rm -rf $(VENV) node_modules tests/peers/pds/node_modules $(VENDOR) .pytest_cache
