# pier — one command to run it, one to test it (see README.md).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
PYTHON     ?= /usr/bin/python3
LISTEN     ?= 127.0.0.1:8080
DATA_DIR   ?= ./pier-data

.PHONY: all deps test-deps test-agents build serve test test-unit test-integration test-asan clean install

all: build

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPIER_WERROR=ON >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

serve: build
	./$(BUILD)/pier serve --listen $(LISTEN) --data-dir $(DATA_DIR)

# The real Claude Code CLI for the runbook test that runs it (npm registry;
# best effort: without it that one test is skipped, never failed).
test-agents: build
	@[ -e $(BUILD)/test-agents/agents/claude-code/node_modules/.bin/claude ] || \
	  timeout 600 ./$(BUILD)/pier agent install claude-code --data-dir $(BUILD)/test-agents >/dev/null 2>&1 || \
	  echo "test-agents: Claude Code could not be installed; its runbook test will be skipped" >&2

test: test-deps build test-agents
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	PIER_BIN=$(CURDIR)/$(BUILD)/pier $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

# The whole suite once more under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: test-deps test-agents
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPIER_SANITIZE=ON -DPIER_WERROR=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j $(JOBS)
	PIER_BIN=$(CURDIR)/$(ASAN_BUILD)/pier PIER_SANITIZED=1 $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

install: build
	install -D -m 0755 $(BUILD)/pier $(DESTDIR)/usr/local/bin/pier
	install -D -m 0644 scripts/pier-completion.bash $(DESTDIR)/usr/share/bash-completion/completions/pier

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
