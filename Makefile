# Lakehouse Watchdogs - the front door. Every target installs what it needs (.venv, .tools/*) on first use.
#   make test        lint + typecheck + template checks + tests (what CI runs: .ci/run)
#   make demo        the embedded emulator run: no AWS account, no Docker
#   make emulator    a persistent local AWS endpoint for make invoke / sam local invoke (make help lists samples)
#   make build       sam build (python3.13)          make sam-local   sam local invoke every sample event
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SAM_CLI_VERSION := 1.170.0
CHECKOV_VERSION := 3.3.30
SAM_VENV := .tools/sam
CHECKOV_VENV := .tools/checkov
SAM := $(SAM_VENV)/bin/sam
CHECKOV := $(CHECKOV_VENV)/bin/checkov
PIP_FLAGS := -q --disable-pip-version-check
# this machine's pip config names local index directories that do not exist for most packages; pip warns about
# each one even with -q. Drop exactly those lines, keep every other warning and error.
PIP_NOISE := 2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
LINT_PATHS := src local tests $(wildcard benchmarks)
PYTEST_ARGS ?= -n 2
SAM_LOCAL_ENGINE ?= ../shared/tools/sam-local-engine.sh
# the Lambda runtime is python3.13: sam build needs that interpreter on PATH (pyenv's 3.13.0, else python3.13)
PY313_BIN := $(shell d=$$(pyenv prefix 3.13.0 2>/dev/null) && echo "$$d/bin" || { p=$$(command -v python3.13 2>/dev/null) && dirname "$$p"; } || true)
# SAM and cfn-lint resolve ${AWS::Region}; none of the template checks needs credentials
AWS_ENV := AWS_DEFAULT_REGION=us-east-1 SAM_CLI_TELEMETRY=0

VENV_STAMP := $(VENV)/.installed
SAM_STAMP := $(SAM_VENV)/.installed-$(SAM_CLI_VERSION)
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

EMULATOR_PORT ?= 5555

.PHONY: emulator emulator-stop seed ops-demo help venv tools lint format typecheck cfn unit pytest test demo invoke soak docs bench build sam-local clean distclean

help: ## list the targets, the functions and their sample events
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-13s %s\n", $$1, $$2}'
	@echo
	@PYTHONPATH=local $(PYTHON) -m watchdogs_local.local_lines

# ------------------------------------------------------------------------------------------------ environments
venv: $(VENV_STAMP) ## .venv with the project and its dev tools (pip install -e '.[dev]')

$(VENV_STAMP): pyproject.toml
	@echo ">> first run: creating .venv and installing the project with its dev tools (pip install -e '.[dev]':"
	@echo "   moto, boto3, powertools, pydantic, pytest, ruff, mypy, cfn-lint); about 3-5 minutes, once"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) -e '.[dev]' $(PIP_NOISE)
	touch $@

tools: $(SAM_STAMP) $(CHECKOV_STAMP) ## .tools/sam (aws-sam-cli) and .tools/checkov, each in its own venv

$(SAM_STAMP):
	@echo ">> first run: installing the SAM CLI $(SAM_CLI_VERSION) into .tools/sam (own venv); about 1-2 minutes, once"
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install $(PIP_FLAGS) aws-sam-cli==$(SAM_CLI_VERSION) $(PIP_NOISE)
	rm -f $(SAM_VENV)/.installed-* && touch $@

$(CHECKOV_STAMP):
	@echo ">> first run: installing checkov $(CHECKOV_VERSION) into .tools/checkov (own venv); about 4-6 minutes, once"
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install $(PIP_FLAGS) checkov==$(CHECKOV_VERSION) $(PIP_NOISE)
	rm -f $(CHECKOV_VENV)/.installed-* && touch $@

# ------------------------------------------------------------------------------------------------ checks
lint: venv ## ruff check + ruff format --check
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)

format: venv ## ruff format + ruff check --fix
	$(BIN)/ruff format $(LINT_PATHS)
	$(BIN)/ruff check --fix $(LINT_PATHS)

typecheck: venv ## mypy --strict on src/ and local/ (configured in pyproject.toml)
	$(BIN)/mypy

cfn: venv tools ## template.yaml: cfn-lint, checkov, sam validate --lint
	$(BIN)/cfn-lint template.yaml
	$(CHECKOV) -f template.yaml --framework cloudformation --quiet --compact --skip-download
	$(AWS_ENV) $(SAM) validate --lint --template-file template.yaml

unit: venv ## unit tests only (pure, no network)
	$(BIN)/pytest $(PYTEST_ARGS) tests/unit

pytest: venv ## every test tier
	$(BIN)/pytest $(PYTEST_ARGS)

test: ## lint, typecheck, template checks, tests (CI: .ci/run)
	$(MAKE) lint
	$(MAKE) typecheck
	$(MAKE) cfn
	$(MAKE) pytest

# ------------------------------------------------------------------------------------------------ run
demo: venv ## the embedded emulator run: template deployed into moto, faults injected, watchdogs healing (ALERTS=1: alert bodies)
	$(BIN)/python -m watchdogs_local.demo $(if $(filter-out 0,$(ALERTS)),--alerts)

ops-demo: venv ## the demo, then watchdogs-ops (open, show, report, replay, ack, note, smoke) on what it left
	$(BIN)/python -m watchdogs_local.ops_demo

invoke: venv ## invoke a sample on fresh emulator state, no Docker: make invoke EVENT=events/<file>.json [FN=<logical id>]
	@test -n "$(EVENT)" || { echo "usage: make invoke EVENT=events/<file>.json [FN=<function logical id>]" >&2; exit 2; }
	@$(BIN)/python -m watchdogs_local.invoke $(or $(FN),auto) $(EVENT)

emulator: venv ## a persistent local AWS endpoint (port EMULATOR_PORT=5555): stack deployed, lakehouse provisioned; Ctrl-C stops
	@$(BIN)/python -u -m watchdogs_local.server start --port $(EMULATOR_PORT)

emulator-stop: ## stop the emulator `make emulator` started (its pid file: .emulator/emulator.json)
	@$(BIN)/python -m watchdogs_local.server stop

seed: venv ## re-seed the running emulator for one sample (before sam local invoke): make seed EVENT=events/<file>.json
	@test -n "$(EVENT)" || { echo "usage: make seed EVENT=events/<file>.json" >&2; exit 2; }
	@$(BIN)/python -m watchdogs_local.server seed $(EVENT)

soak: venv ## long property-test run: thousands of random histories (PROPERTY_EXAMPLES, PROPERTY_STEPS)
	PROPERTY_EXAMPLES=$${PROPERTY_EXAMPLES:-3000} PROPERTY_STEPS=$${PROPERTY_STEPS:-60} PROPERTY_RANDOM=1 \
		PROPERTY_MOTO_EXAMPLES=$${PROPERTY_MOTO_EXAMPLES:-300} \
		$(BIN)/pytest -q -p no:cacheprovider --timeout 3600 -s tests/property

docs: venv ## regenerate docs/lifecycle.md from the runbooks' step tables
	$(BIN)/python -m watchdogs_local.lifecycle_doc

bench: venv ## cold start per function: interleaved pairs against the floor; rewrites the table in docs/performance.md
	$(BIN)/python benchmarks/run.py

.PHONY: bench-sweep
bench-sweep: venv ## the sweep at 1x, 5x and 10x of 1,000 crawlers / 1,000 runs / 5,000 queries (docs/performance.md)
	for scale in 1 5 10; do SWEEP_SCALE=$$scale $(BIN)/pytest -q -p no:cacheprovider -s --timeout 1800 tests/integration/test_sweep_scale.py \
		| grep -E 'SWEEP-SCALE|passed|failed'; done

build: $(SAM_STAMP) ## sam build (python3.13 from pyenv, else python3.13 on PATH); installs only the SAM CLI
	@test -n "$(PY313_BIN)" || { echo "sam build needs python3.13 (pyenv install 3.13.0)" >&2; exit 1; }
	PATH="$(PY313_BIN):$$PATH" $(AWS_ENV) $(SAM) build
	# ship bytecode: Lambda's code directory is read-only, so without it every cold start compiles our modules
	"$(PY313_BIN)/python3.13" -m compileall -q --invalidation-mode unchecked-hash .aws-sam/build

sam-local: venv build ## sam local invoke every sample on fresh state, each checked against events/expected/index.json
	PATH="$(abspath $(SAM_VENV))/bin:$(PY313_BIN):$$PATH" $(AWS_ENV) bash $(SAM_LOCAL_ENGINE) setup
	PATH="$(abspath $(SAM_VENV))/bin:$(PY313_BIN):$$PATH" $(AWS_ENV) $(BIN)/python -m watchdogs_local.sam_local_check

clean: ## remove build output and caches (keeps .venv and .tools)
	rm -rf .aws-sam build dist .pytest_cache .mypy_cache .ruff_cache src/*.egg-info local/*.egg-info
	find src local tests $(wildcard benchmarks) -type d -name __pycache__ -prune -exec rm -rf {} +

distclean: clean ## also remove .venv and .tools
	rm -rf $(VENV) .tools
