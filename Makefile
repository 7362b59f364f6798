# scenario-runner: `make setup` once, then `make scenario S=<name>`.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= $(VENV)/bin/python
SCENARIO := $(VENV)/bin/scenario
S ?= mooncake-tcp-loopback
OUT ?= out/rendered/$(S)
# torch for the collectives probe; on CPU-only machines pin a CPU build. Set TORCH_SPEC= to skip.
TORCH_SPEC ?= torch==2.13.0
APT_PACKAGES := libibverbs1 libnuma1 openmpi-bin iproute2
APT_TEST_PACKAGES := chromium

.PHONY: setup system-packages test lint validate render scenario list docs clean help

help:
	@echo "make setup                 create .venv and install everything the local executor needs"
	@echo "make scenario S=NAME       run a scenario (default S=$(S)) and print its verdict (./make-scenario: the runner's exit code)"
	@echo "make test                  ruff, then the test suite"
	@echo "make validate              validate every scenario"
	@echo "make render S=NAME         render a scenario into $(OUT)"
	@echo "make images REGISTRY=...   build and push the five images (see images/README.md)"

setup: system-packages $(VENV)/.installed

system-packages:
	@if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
		missing=$$(for p in $(APT_PACKAGES) $(APT_TEST_PACKAGES) $(APT_EXTRA); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
		if [ -n "$$missing" ]; then \
			echo "installing Debian packages: $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		fi; \
	else \
		for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
		if [ -n "$$missing" ]; then \
			echo "NOTE: the local executor needs these system packages:$$missing"; \
			echo "      run as root, or: sudo apt-get install -y$$missing"; \
		fi; \
		for p in $(APT_TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo "NOTE: the report test skips without $$p (sudo apt-get install -y $$p)"; done; \
	fi

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[test,local,reports]'
	@if [ -n "$(TORCH_SPEC)" ]; then $(PYTHON) -m pip install -q $(TORCH_SPEC); fi
	touch $@

test: lint
	$(PYTHON) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

validate: $(VENV)/.installed
	$(SCENARIO) validate

list: $(VENV)/.installed
	$(SCENARIO) list

docs: $(VENV)/.installed
	$(PYTHON) -m runner.flows.docs > docs/scenarios.md.tmp && mv docs/scenarios.md.tmp docs/scenarios.md

render: $(VENV)/.installed
	$(SCENARIO) render $(S) --out $(OUT)

# make exits 2 whenever a recipe fails, which the README's exit codes call "invalid": the runner's own code is
# printed, written to $(EXIT_FILE) when given, and ./make-scenario (a wrapper) exits with it.
scenario: $(VENV)/.installed
	@$(SCENARIO) run $(S) $(ARGS); code=$$?; \
	if [ -n "$(EXIT_FILE)" ]; then echo $$code > "$(EXIT_FILE)"; fi; \
	if [ $$code -ne 0 ]; then echo "scenario run $(S) exited $$code (make reports any failure as 2; ./make-scenario exits $$code)" >&2; fi; \
	exit $$code

clean:
	rm -rf out .pytest_cache

-include images/images.mk

# ---- local control plane (issue 25): real kube-apiserver/KCM/scheduler, MPI Operator, LWS; kwok nodes (runner/cluster)
CLUSTER_DIR ?= .cluster
.PHONY: cluster cluster-build cluster-down cluster-status
cluster-build:
	cluster/build.sh
cluster: $(VENV)/.installed
	bin=$$(cluster/build.sh | tail -n 1) && $(PYTHON) -m runner.cluster up --dir $(CLUSTER_DIR) --bin "$$bin" $(if $(NODES),--nodes $(NODES))
cluster-down:
	$(PYTHON) -m runner.cluster down --dir $(CLUSTER_DIR)
cluster-status:
	$(PYTHON) -m runner.cluster status --dir $(CLUSTER_DIR)
