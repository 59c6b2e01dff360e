# Two commands: `make demo` and `make test`. Both bootstrap .venv on first use, with
# exactly the dependency tree in uv.lock (hashes checked); `make lock` is the one way
# to move it.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# uv itself lives beside the project's venv, pinned by hash in requirements-uv.txt,
# so syncing .venv to the lock never removes the tool doing the syncing.
TOOLS := .tools
UV := $(TOOLS)/bin/uv

# uv uses the interpreter make found (never downloads one) and the project's .venv.
# The real executable, not a shim (pyenv's): uv compares paths and would otherwise
# rebuild .venv on every sync.
export UV_PYTHON := $(shell $(PYTHON) -c 'import sys; print(sys.executable)')
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Quiet unless something goes wrong; unset to watch it.
UVFLAGS ?= --quiet

.PHONY: demo test sync lock lock-upgrade test-latest bench bench-peers peers-lock clean

# The type checker reads our folders under their installed names (see [tool.mypy]).
TYPECHECK := .typecheck/flowctl
$(TYPECHECK):
	mkdir -p $@
	for p in engine worker cli api metrics console; do ln -sfn ../../$$p $@/$$p; done

# Into a plain folder, not a venv: making a venv runs ensurepip, 7 s of a 14 s set-up.
$(UV): requirements-uv.txt
	rm -rf $(TOOLS)
	$(PYTHON) -m pip install --quiet --no-deps --require-hashes --target $(TOOLS) \
		-r requirements-uv.txt
	touch $(UV)

# --locked: fail when uv.lock no longer matches pyproject.toml (run `make lock`);
# sync is exact, so a package installed by hand into .venv is removed again.
# Everything is byte-compiled at install, as pip does and uv does not by default: where
# PYTHONDONTWRITEBYTECODE is set (CI, these machines), a cold `flowctl lint` would
# otherwise compile click, msgspec and typing_extensions again on every run (+140 ms).
$(STAMP): pyproject.toml uv.lock $(UV)
	$(UV) sync $(UVFLAGS) --locked --extra dev --compile-bytecode
	$(BIN)/python -m compileall -q engine cli worker api metrics console
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/flowctl lint flows/
	$(BIN)/flowctl simulate flows/clinic.json --scenario flows/clinic.scenarios.json
	$(BIN)/flowctl simulate flows/clinic.memory.scenarios.json

# .venv back to exactly the lock, whatever was installed into it by hand.
sync: $(UV)
	rm -f $(STAMP)
	$(MAKE) $(STAMP)

# What `make test` and `make test-latest` check, with the tools of the venv given.
define checks
	$(1)/ruff check .
	$(1)/ruff format --check .
	$(1)/deptry .
	$(1)/mypy
	$(1)/pytest
endef

# The console's browser tests drive Debian's Chromium (Playwright's own download is
# unreachable here); installed once where missing, quietly (we run as root on these
# machines; elsewhere install it yourself, or the browser tests skip and say why).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@command -v chromium >/dev/null || { \
		apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium >/dev/null; } || echo "make: no chromium; the browser tests skip" >&2

# `uv sync --check` fails if .venv differs from the lock in any way (`make sync`).
test: $(STAMP) | $(TYPECHECK) $(CHROMIUM)
	$(UV) sync $(UVFLAGS) --locked --extra dev --check
	$(call checks,$(BIN))

# After editing dependencies in pyproject.toml: resolve them into uv.lock, keeping
# every other pin where it is.
lock: $(UV)
	$(UV) lock

# Every dependency to the newest release pyproject's ranges allow (and uv itself).
lock-upgrade: $(UV)
	$(UV) lock --upgrade
	echo uv | $(UV) pip compile - --upgrade --generate-hashes --quiet \
		--custom-compile-command "make lock-upgrade" --output-file requirements-uv.txt

# The suite against the newest versions the ranges allow, in a throwaway venv: finds
# a dependency's breaking release on purpose, before `make lock-upgrade`. Not in CI.
test-latest: $(UV) | $(TYPECHECK)
	rm -rf .venv-latest
	$(UV) venv $(UVFLAGS) .venv-latest
	$(UV) pip install $(UVFLAGS) --python .venv-latest/bin/python --refresh --compile-bytecode -e '.[dev]'
	$(call checks,.venv-latest/bin)
	rm -rf .venv-latest

bench: $(STAMP)
	$(BIN)/python -m compileall -q engine cli worker api metrics console
	$(BIN)/python bench/lint_bench.py
	$(BIN)/python bench/engine_bench.py
	$(BIN)/python bench/route_bench.py
	$(BIN)/python bench/store_bench.py
	$(BIN)/python bench/worker_bench.py
	$(BIN)/python bench/api_bench.py
	$(BIN)/python bench/tools_bench.py
	$(BIN)/python bench/webhooks_bench.py
	$(BIN)/python bench/metrics_bench.py
	$(BIN)/python bench/knowledge_bench.py
	$(BIN)/python bench/console_bench.py
	$(BIN)/python bench/memory_bench.py
	$(BIN)/python bench/capacity_bench.py

# flowctl against Pipecat Flows (bench/peer_bench.py). Pipecat lives only in this
# throwaway venv, beside flowctl's runtime dependencies, so both sides run in one
# process; its tree is bench/peers/requirements.txt, pinned with hashes. Not in
# pyproject.toml or uv.lock: flowctl never depends on it.
PEERS := .venv-peers
$(PEERS)/.installed: bench/peers/requirements.txt pyproject.toml $(UV)
	rm -rf $(PEERS)
	$(UV) venv $(UVFLAGS) $(PEERS)
	$(UV) pip install $(UVFLAGS) --python $(PEERS)/bin/python --require-hashes \
		--compile-bytecode -r bench/peers/requirements.txt
	$(UV) pip install $(UVFLAGS) --python $(PEERS)/bin/python --no-deps -e .
	touch $@

bench-peers: $(PEERS)/.installed
	$(PEERS)/bin/python bench/peer_bench.py

# bench/peers/requirements.txt from requirements.in and flowctl's runtime dependencies,
# every version shared with uv.lock kept at the lock's but protobuf (Pipecat needs < 7).
# Run it after moving pipecat-ai in requirements.in, or after `make lock`.
peers-lock: $(UV)
	$(UV) export $(UVFLAGS) --frozen --no-hashes --no-emit-project --format requirements-txt \
		| grep -v '^protobuf==' > $(TOOLS)/peers-constraints.txt
	$(UV) pip compile $(UVFLAGS) --universal --generate-hashes \
		--custom-compile-command "make peers-lock" -c $(TOOLS)/peers-constraints.txt \
		pyproject.toml bench/peers/requirements.in -o bench/peers/requirements.txt

clean:
	rm -rf $(VENV) $(TOOLS) .venv-latest $(PEERS) build *.egg-info .pytest_cache .ruff_cache .mypy_cache .typecheck
