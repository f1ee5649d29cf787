# Every target that runs code installs first when .venv is missing or older than pyproject.toml.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= 5000
APP_PORT ?= 8501# make app: the trainer app's port (on 127.0.0.1)
DASHBOARD_PORT ?= 8080# make dashboard: Optuna Dashboard's port (on 127.0.0.1)
DOCS_PORT ?= 8000# make docs: the docs site's port (on 127.0.0.1)
HOST   ?= 0.0.0.0# make server: the interface others reach it on
BACKEND ?=# make server: a database URL for the runs (postgresql+psycopg://...) instead of STORE/mlflow.db
ALLOWED_HOSTS ?=# make server: names clients reach it by, comma-separated (default: host name, FQDN, localhost)
CORS_ORIGINS ?=# make server: browser origins that may call its API (default: the server's own)
AUTH_DEFAULT ?= READ# make server: what every signed-in user may do (READ, EDIT, ...) unless granted more
ADMIN_PASSWORD_FILE ?=# make server, first start: a file holding the admin password (or MLFLOW_AUTH_ADMIN_PASSWORD)
STORE  ?= $(CURDIR)# folder holding mlflow.db and mlruns/
ARGS   ?=
WORKERS ?= 2# make test / test-all: processes the test files are spread over (pytest-xdist)
GPU    ?=# make install GPU=1: TensorFlow's GPU wheel (CUDA and cuDNN inside) instead of the CPU one
TF_VERSION := $(shell sed -n 's/^ *"tensorflow-cpu==\([0-9.]*\)".*/\1/p' pyproject.toml)
# The GPU wheel, same version, in place of the CPU one; remembered in .venv/.gpu, so that a later
# reinstall (pyproject.toml changed) swaps again instead of putting the CPU wheel over it.
GPU_SWAP = $(PY) -m pip uninstall -q -y tensorflow-cpu && \
	$(PY) -m pip install -q "tensorflow[and-cuda]==$(TF_VERSION)" && touch $(VENV)/.gpu

.PHONY: help install info train test test-all lint format ui server app runs sweeps dashboard docs clean
.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 12

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	if test -f $(VENV)/.gpu; then $(GPU_SWAP); fi
	touch $(STAMP)

install: $(STAMP) ## create .venv and install blueprint (editable) with dev tools; GPU=1: the GPU wheel
	$(if $(GPU),if ! test -f $(VENV)/.gpu; then $(GPU_SWAP); fi)

info: $(STAMP) ## versions, the devices TensorFlow sees, mixed precision on them, the stores in use
	$(PY) -m blueprint.info $(ARGS)

train: $(STAMP) ## train the default recipe on the bundled digits; extra overrides via ARGS="..."
	$(PY) -m blueprint.train $(ARGS)

test: $(STAMP) ## the fast suite (everything not marked slow)
	$(PY) -m pytest -n $(WORKERS) --dist loadfile -m "not slow"

test-all: $(STAMP) ## every test, slow ones included
	$(PY) -m pytest -n $(WORKERS) --dist loadfile

lint: $(STAMP) ## ruff check and ruff format --check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP) ## ruff fix and format in place
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

server: export MLFLOW_BACKEND_STORE_URI = $(BACKEND)# the environment, not the echoed command line
server: $(STAMP) ## a team's MLflow server on HOST:PORT with logins, artifacts in STORE/mlruns
	$(PY) -m blueprint.ui --host $(HOST) --port $(PORT) --store $(STORE) --auth \
		--auth-default $(AUTH_DEFAULT) $(if $(ALLOWED_HOSTS),--allowed-hosts $(ALLOWED_HOSTS)) \
		$(if $(CORS_ORIGINS),--cors-allowed-origins $(CORS_ORIGINS)) \
		$(if $(ADMIN_PASSWORD_FILE),--admin-password-file $(ADMIN_PASSWORD_FILE))

app: $(STAMP) ## the trainer app on 127.0.0.1:APP_PORT: train, watch, try a model, browse sweeps; overrides via ARGS
	$(PY) -m blueprint.app --port $(APP_PORT) --mlflow-ui http://127.0.0.1:$(PORT) $(ARGS)

runs: $(STAMP) ## the latest runs: status (dead processes marked KILLED), best value, resume command
	$(PY) -m blueprint.runs $(ARGS)

sweeps: $(STAMP) ## the studies in the sweep store: trials per state, best value and params
	$(PY) -m blueprint.sweeps $(ARGS)

dashboard: $(STAMP) ## Optuna Dashboard over the sweep store on 127.0.0.1:DASHBOARD_PORT; overrides via ARGS
	$(PY) -m blueprint.dashboard --port $(DASHBOARD_PORT) $(ARGS)

docs: $(STAMP) ## the docs site (blueprint/docs/pages) on 127.0.0.1:DOCS_PORT, rebuilt as pages change; Ctrl-C stops it
	$(PY) -m mkdocs serve -f blueprint/docs/mkdocs.yml -a 127.0.0.1:$(DOCS_PORT)

ui: $(STAMP) ## MLflow UI over the project's store; prints the latest experiment's runs-view URL
	$(PY) -m blueprint.ui --port $(PORT) --store $(STORE)

clean: ## remove run outputs, the sweep store and the MLflow store (asks nothing: be sure)
	rm -rf experiments/*/ multirun/*/ multirun/optuna.db* mlruns mlflow.db mlflow.db.lock
