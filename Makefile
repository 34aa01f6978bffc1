# The two commands: `make run` and `make test`. Everything else is what they need.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=
# `make run DEMO=federal` serves the US federal AI use-case inventory (shared/data) instead
# of the demo bank, from its own embedded database (var/federal) unless DATABASE_URL is set.
DEMO ?= bank
ifeq ($(DEMO),federal)
SEED := seed_federal --if-empty
export VAR_DIR ?= $(CURDIR)/var/federal
else
SEED := seed_demo --if-empty
endif

# `make run` serves like production (gunicorn, DEBUG off); `make dev` runs Django's
# auto-reloading server with DEBUG on.
.PHONY: run dev test install assets lint lock check-migrations bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip uv

$(VENV)/.installed: requirements.lock $(BIN)/python
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements.lock
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Third-party front-end assets come from npm (lock file) and are copied to static/vendor.
assets: node_modules/.installed
	node scripts/vendor-assets.mjs

install: $(VENV)/.installed assets

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py $(SEED)
	$(BIN)/python manage.py serve

dev: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py $(SEED)
	$(BIN)/python manage.py serve --dev

test: install
	$(BIN)/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check-migrations: install
	$(BIN)/python manage.py makemigrations --check --dry-run

# Regenerate the pinned lock from pyproject.toml's ranges.
lock: $(BIN)/python
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules static/vendor var/staticfiles
