# Gift card provider for NewStore: every developer and CI entry point.
# `make run` and `make test` work on a fresh clone: they create .venv and install what they need.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
CDK := node_modules/.bin/cdk
# ENV=dev|prod picks a preset from cdk.json (context.environments); CDK_ARGS adds -c overrides.
ENV ?=
ENV_ARGS := $(if $(ENV),-c env=$(ENV))
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export CDK_DISABLE_VERSION_CHECK := 1
export CDK_CLI_NOTICES := false

.PHONY: help venv run test test-long mutation lint fmt build lock synth deploy destroy bench openapi events-schema import-stock console-screenshots clean

help:
	@echo "make run          serve the whole API locally on embedded moto (PORT=$(PORT))"
	@echo "make test         lint + the whole offline test suite (creates .venv, installs everything)"
	@echo "make test-long    the long reliability suites (hypothesis 5,000 examples, more load)"
	@echo "make mutation     mutation testing of the pure core -> mutation/results.json (minutes)"
	@echo "make lint         ruff + mypy"
	@echo "make build        build the Lambda layer without Docker (build/layer) from requirements.lock"
	@echo "make lock         requirements.lock: the layer's wheels with their hashes (after editing requirements.txt)"
	@echo "make synth        synthesize the CloudFormation template offline (cdk.out/) [ENV=dev|prod]"
	@echo "make deploy       build + cdk deploy + stack policy (AWS credentials; cdk bootstrap once) [ENV=dev|prod]"
	@echo "make destroy      cdk destroy (the table and secrets are retained) [ENV=dev|prod]"
	@echo "make bench        performance figures -> bench/results.json, docs/performance.md"
	@echo "make openapi      regenerate docs/openapi.json from the models"
	@echo "make events-schema  regenerate docs/events/detail.schema.json from the event model"
	@echo "make console-screenshots   the console's browser tests, writing docs/console/*.png"
	@echo "make import-stock CSV=cards.csv [ARGS='--dry-run']   import printed card stock"
	@echo "                  (.venv/bin/giftcard --help: the operator command, docs/operations.md)"

# The project itself goes in editable and without dependencies: that puts the `giftcard` command
# (pyproject.toml, [project.scripts]) in .venv/bin, running this checkout's code.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

venv: $(VENV)/.installed

# checkov in a venv of its own: it pins boto3 exactly (requirements-checkov.txt).
CHECKOV_VENV := .venv-checkov
$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	touch $@

# swagger-ui-dist pulls in @scarf/scarf, whose install script would report the install to scarf.sh.
node_modules/.installed: package.json package-lock.json
	SCARF_ANALYTICS=false npm install --no-audit --no-fund --silent
	touch $@

run: venv node_modules/.installed
	PORT=$(PORT) $(PY) -m tools.local_api

# Not part of `make test`: it takes minutes (docs/testing.md, "Mutation testing").
mutation: venv
	$(PY) -m tools.mutation

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

fmt: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# The checkov gate runs inside the suite (tests/infra/test_checkov.py) and must not be skipped here.
test: venv node_modules/.installed $(CHECKOV_VENV)/.installed lint
	CHECKOV=$(CHECKOV_VENV)/bin/checkov GIFTCARD_REQUIRE_CHECKOV=1 $(PY) -m pytest -n 2 --dist loadgroup -q

test-long: venv node_modules/.installed
	GIFTCARD_LONG=1 $(PY) -m pytest -n 2 -q -m "not quick_only" tests/reliability

build: venv requirements.lock
	$(PY) -m tools.build_layer

# After changing requirements.txt: pin every wheel of the layer with its hash (commit the result).
lock: venv
	$(PY) -m tools.lock_layer

synth: venv node_modules/.installed build
	$(CDK) synth --quiet $(ENV_ARGS) $(CDK_ARGS)

# The stack policy (infra/stack_policy.json) keeps a later update from replacing or deleting the
# table, a secret or a KMS key; CDK cannot set it, so it is set right after the deploy.
deploy: venv node_modules/.installed build
	$(CDK) deploy --require-approval never $(ENV_ARGS) $(CDK_ARGS)
	$(PY) -m tools.stack_policy --cdk-out cdk.out

destroy: venv node_modules/.installed
	$(CDK) destroy $(ENV_ARGS) $(CDK_ARGS)

bench: venv build
	$(PY) -m bench.run
	$(PY) -m bench.report

# The browser tests take the pages' screenshots; here they land in docs/console/ (committed).
console-screenshots: venv node_modules/.installed
	@test -x $${CHROMIUM:-/usr/bin/chromium} || { echo "no Chromium: apt-get install -y chromium (as root)" >&2; exit 1; }
	GIFTCARD_SCREENSHOTS=1 $(PY) -m pytest -q tests/browser

openapi: venv
	$(PY) -m tools.openapi --write docs/openapi.json

events-schema: venv
	$(PY) -m tools.events_schema --write docs/events/detail.schema.json

# The same as `.venv/bin/giftcard stock import CSV ARGS` (docs/operations.md).
import-stock: venv
	$(PY) -m tools.cli stock import $(CSV) $(ARGS)

clean:
	rm -rf build cdk.out .pytest_cache .mypy_cache .ruff_cache .hypothesis
