# Two commands on a fresh clone: `make serve` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.spark-installed
SPARK_EVENTS ?= data/events.csv
SPARK_SCORE_DEFAULTS := --input data/examples --keep as_of,label --out data/scores --overwrite  # (a comma: not inline in $(or))

export BENTOML_CONFIG ?= $(CURDIR)/configuration.yaml
export BENTOML_DO_NOT_TRACK := true

.PHONY: install browser model features serve test test-unit lint mutate train models promote rollback model-export model-import model-delete report build image bench profile bench-tools clean spark spark-features spark-train spark-score spark-zip bench-spark docs

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	@echo "Installing the Python packages into $(VENV) (the first time: a few minutes)..."
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)
	touch $@

# Train and promote a default model, only when the store holds none.
model: install
	$(PY) -m purchase.cli.train --if-empty --promote --export

# A historical event log into the online feature store: ARGS="--events log.csv"; none: the synthetic log.
features: install
	$(PY) -m purchase.cli.features $(ARGS)

serve: model
	$(PY) -m purchase.cli.features --if-empty
	$(VENV)/bin/bentoml serve service:PurchasePrediction  # host, port, workers: API_* in the environment or .env

train: install
	$(PY) -m purchase.cli.train $(ARGS)

# A Bento with the production model pinned by version; an OCI image of it, run and checked (needs root).
build: model
	$(PY) -m purchase.cli.build

image: model
	bash deploy/image.sh

# The benchmark (not part of `make test`): wrk against the service and the references. ARGS="--seconds 5 --soak 0" for a quick one.
bench: model bench-tools
	$(PY) -m benchmarks.bench $(ARGS)
	$(PY) -m benchmarks.features
	$(PY) -m benchmarks.replicas
	$(PY) -m benchmarks.insight
	$(PY) -m benchmarks.jobs
	$(PY) -m benchmarks.stall
	$(PY) -m benchmarks.outcomes
	$(PY) -m benchmarks.peers

# Where a worker's time goes under load, by layer (py-spy): benchmarks/results/profile-*.md
profile: model bench-tools
	$(PY) -m benchmarks.profile $(ARGS)

bench-tools: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(PY) -m pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt -c constraints.txt
	# Each peer in a virtual environment of its own: its pins are not the service's.
	for peer in mlserver asgi litserve kserve ray; do test -f benchmarks/.venvs/$$peer/.installed || { python3 -m venv benchmarks/.venvs/$$peer \
	  && benchmarks/.venvs/$$peer/bin/pip install --quiet --disable-pip-version-check -r benchmarks/peers/$$peer.txt \
	  && touch benchmarks/.venvs/$$peer/.installed; } || exit 1; done

# Mutation testing (not part of `make test`): mutmut plants bugs in the in-process modules listed in
# pyproject.toml and runs tests/unit against each; prints the share killed and the survivors.
mutate: install
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-mutate.txt -c constraints.txt
	rm -rf mutants
	PURCHASE_TEST_CACHE=$(CURDIR)/mutants/test-cache $(VENV)/bin/mutmut run > mutants.log 2>&1 || { tail -n 40 mutants.log; exit 1; }
	$(VENV)/bin/mutmut export-cicd-stats >/dev/null
	$(VENV)/bin/mutmut results | tee mutants/survivors.txt
	$(PY) -c 'import json; s = json.load(open("mutants/mutmut-cicd-stats.json")); print("mutation score: %(killed)d of %(total)d killed (%(survived)d survived, %(no_tests)d without tests, %(timeout)d timed out)" % s)'

# The model registry (python -m purchase.cli.registry --help): list, promote TAG=..., rollback.
models: install
	$(PY) -m purchase.cli.registry list

promote: install
	$(PY) -m purchase.cli.registry promote $(TAG)

rollback: install
	$(PY) -m purchase.cli.registry rollback

# A version's report drawn again from its stored evaluation (ROC, precision-recall, calibration, scores,
# importance; in the store, next to the model): make report TAG=... (a tag, a version, latest; default production).
report: install
	$(PY) -m purchase.cli.report $(or $(TAG),production)

# Archives of versions (MODEL_DIR): make model-export TAG=..., make model-import FILE=..., make model-delete TAG=...
model-export: install
	$(PY) -m purchase.cli.registry export $(TAG)

model-import: install
	$(PY) -m purchase.cli.registry import $(FILE)

model-delete: install
	$(PY) -m purchase.cli.registry delete $(TAG)

# The Spark extra (pyspark, and Java when the machine has none): for the Spark commands and their tests.
spark: $(SPARK_STAMP)

$(SPARK_STAMP): requirements-spark.txt constraints.txt $(STAMP)
	command -v java >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-spark.txt -c constraints.txt
	touch $@

$(SPARK_EVENTS): | $(STAMP)
	$(PY) -m purchase.cli.train --write-events $(SPARK_EVENTS)

# The pipeline on Spark, in local mode (docs/how-to/spark.md). Without ARGS: the synthetic log.
spark-features: spark $(SPARK_EVENTS)
	$(PY) -m purchase.spark features $(or $(ARGS),--events $(SPARK_EVENTS) --out data/examples --overwrite)

spark-train: spark $(SPARK_EVENTS)
	$(PY) -m purchase.spark train $(or $(ARGS),--events $(SPARK_EVENTS))

spark-score: spark model
	$(if $(ARGS),,$(MAKE) spark-features)
	$(PY) -m purchase.spark score $(or $(ARGS),$(SPARK_SCORE_DEFAULTS))

# pandas against Spark's local mode on 1M and 10M events (about half an hour; not part of make bench).
bench-spark: model spark bench-tools
	$(PY) -m benchmarks.spark $(ARGS)

# The package as one zip for spark-submit's --py-files.
spark-zip: install
	$(PY) -m devtools.spark_zip dist/purchase.zip

# The documentation site (MkDocs with the Material theme) into site/, offline; a warning (a broken link) fails it.
docs: install
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict  # not --quiet: it hides the warnings strict mode counts

# Lint and types first, the documentation site, then every test: the unit tests first, then the integration tests.
test: lint browser spark docs
	$(PY) -m pytest $(PYTEST_ARGS)

# The quick loop: the in-process tests alone (about a minute), no servers.
test-unit: install spark
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

# Debian's Chromium, for the model page's tests in a real headless browser (driven by Playwright).
browser:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

lint: install spark
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) .pytest_cache build  # not the model store: ~/bentoml is BentoML's, shared
	[ ! -d .oci ] || (export CONTAINERS_STORAGE_CONF=$(CURDIR)/.oci/storage.conf; buildah rm --all; buildah rmi --all --force; rm -rf .oci)
