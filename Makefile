# Two commands on a fresh clone: `make serve` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# The spec's settings may sit in .env; make reads it too, for API_HOST and API_PORT.
-include .env
API_HOST ?= 0.0.0.0
API_PORT ?= 8000
export BENTOML_HOME ?= $(CURDIR)/.bentoml
export BENTOML_CONFIG ?= $(CURDIR)/configuration.yaml
export BENTOML_DO_NOT_TRACK := true

.PHONY: install model serve test train clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

# Train and promote a default model, only when the store holds none.
model: install
	$(PY) train_and_save.py --if-empty --promote --export

serve: model
	$(VENV)/bin/bentoml serve service:PurchasePrediction --host $(API_HOST) --port $(API_PORT)

train: install
	$(PY) train_and_save.py $(ARGS)

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .bentoml .pytest_cache
