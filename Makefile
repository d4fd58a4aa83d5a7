# Everything starts from a fresh machine: `make test` and `make demo` create .venv if missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test demo install lint bench clean chromium prometheus haproxy grpc-stubs

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Test files run in parallel, one file per worker process (a file's module fixtures start its servers once);
# each worker has its own throwaway PostgreSQL database. `make test PYTEST_ARGS=-n0` runs them serially.
PYTEST_ARGS ?= -n auto --maxprocesses 4 --dist loadfile
test: $(STAMP) chromium prometheus haproxy
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The HTML-report test renders reports in headless Chromium (it fails without it under CI=true).
chromium:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || \
		(apt-get update -qq && apt-get install -y -qq chromium) || \
		(sudo apt-get update -qq && sudo apt-get install -y -qq chromium)

# The Prometheus metric-provider test scrapes a real gateway with a real Prometheus (fails without it under CI=true).
prometheus:
	@command -v prometheus >/dev/null 2>&1 || test -x /usr/bin/prometheus || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null) || \
		(sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq prometheus >/dev/null)

# The many-gateways test puts three gateways behind Debian's HAProxy, started in the foreground with its own config on
# a free loopback port (fails without it under CI=true). The package's own service must not start: for the install a
# policy-rc.d answering 101 ("forbidden") is put in place where the machine has none (container images ship one).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
haproxy:
	@command -v haproxy >/dev/null 2>&1 || test -x /usr/sbin/haproxy || \
		$(SUDO) sh -c 'p=/usr/sbin/policy-rc.d; own=; \
			if [ ! -e $$p ]; then printf "#!/bin/sh\nexit 101\n" >$$p && chmod +x $$p && own=1; fi; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; rc=$$?; \
			if [ -n "$$own" ]; then rm -f $$p; fi; exit $$rc'

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/lint-imports
	$(BIN)/mypy

# The whole loop on the credit example (src/shipyard/demo/); `make demo DEMO_ARGS=--no-wait` exits when told.
DEMO_ARGS ?=
demo: $(STAMP)
	$(BIN)/shipyard demo $(DEMO_ARGS)

# The gRPC messages (src/shipyard/serving/grpc/grpc_predict_v2_pb2.py) from the vendored KServe proto.
grpc-stubs: $(STAMP)
	$(BIN)/python -m tests.grpc_stubs

bench: $(STAMP)
	$(BIN)/python bench/cli_startup.py

clean:
	rm -rf $(VENV) .demo
