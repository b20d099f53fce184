# Two commands on a fresh clone: `make serve` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

export BENTOML_HOME ?= $(CURDIR)/.bentoml
export BENTOML_CONFIG ?= $(CURDIR)/configuration.yaml
export BENTOML_DO_NOT_TRACK := true

.PHONY: install model serve test train models promote rollback build image bench profile bench-tools clean

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

# A Bento with the production model pinned by version; an OCI image of it, run and checked (needs root).
build: model
	$(PY) -m purchase.packaging

image: model
	bash deploy/image.sh

# The benchmark (not part of `make test`): wrk against the service and the references. ARGS="--seconds 5 --soak 0" for a quick one.
bench: model bench-tools
	$(PY) -m benchmarks.bench $(ARGS)

# Where a worker's time goes under load, by layer (py-spy): benchmarks/results/profile-*.md
profile: model bench-tools
	$(PY) -m benchmarks.profile $(ARGS)

bench-tools: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt -c constraints.txt

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
	rm -rf $(VENV) .bentoml .pytest_cache build
	[ ! -d .oci ] || (export CONTAINERS_STORAGE_CONF=$(CURDIR)/.oci/storage.conf; buildah rm --all; buildah rmi --all --force; rm -rf .oci)
