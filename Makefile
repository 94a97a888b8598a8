# Custos: `make run` serves, `make test` tests; both set everything up first and are
# idempotent (a second run only checks what is already there).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
HOST ?= 127.0.0.1
STAMP := $(VENV)/.requirements-installed

.PHONY: setup run test bench lint clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

setup: $(STAMP)
	$(PY) manage.py prepare

run: setup
	$(VENV)/bin/uvicorn portal.asgi:application --host $(HOST) --port $(PORT) --no-access-log

test: setup
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: setup
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) var
