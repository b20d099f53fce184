# Two commands on a fresh clone: `make serve` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export BENTOML_HOME ?= $(CURDIR)/.bentoml
export BENTOML_CONFIG ?= $(CURDIR)/configuration.yaml
export BENTOML_DO_NOT_TRACK := true

.PHONY: install model serve test train models promote rollback clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $@

# Train and promote a default model, only when the store holds none.
model: install
	$(PY) train_and_save.py --if-empty --promote --export

serve: model
	$(VENV)/bin/bentoml serve service:PurchasePrediction  # host, port, workers: API_* in the environment or .env

train: install
	$(PY) train_and_save.py $(ARGS)

# The model registry (python -m purchase.registry --help): list, promote TAG=..., rollback.
models: install
	$(PY) -m purchase.registry list

promote: install
	$(PY) -m purchase.registry promote $(TAG)

rollback: install
	$(PY) -m purchase.registry rollback

test: install
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .bentoml .pytest_cache
