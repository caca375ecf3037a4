# pier — one command to run it, one to test it (see README.md).
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
PYTHON     ?= /usr/bin/python3
LISTEN     ?= 127.0.0.1:8080
DATA_DIR   ?= ./pier-data

FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all deps test-deps test-agents build serve test test-unit test-integration test-asan fuzz clean install

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

# libFuzzer harnesses (tests/fuzz/) for the parsers that read untrusted bytes,
# FUZZ_SECONDS each, seeded from tests/fuzz/corpus/; what they find is kept in
# $(FUZZ_BUILD)/corpus/. A crash stops the run with the input saved. Not part of `make test`.
fuzz:
	@scripts/deps.sh fuzz
	@scripts/deps.sh build
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DPIER_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	@set -e; for f in $(FUZZ_BUILD)/fuzz_*; do [ -f $$f ] && [ -x $$f ] || continue; \
	  n=$$(basename $$f); mkdir -p $(FUZZ_BUILD)/corpus/$$n; echo "== $$n ($(FUZZ_SECONDS) s)"; \
	  seeds=; [ -d tests/fuzz/corpus/$$n ] && seeds=tests/fuzz/corpus/$$n; \
	  log=$(FUZZ_BUILD)/corpus/$$n.log; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=8192 -artifact_prefix=$(FUZZ_BUILD)/corpus/$$n- \
	    $(FUZZ_BUILD)/corpus/$$n $$seeds >$$log 2>&1 || { tail -n 40 $$log; exit 1; }; tail -n 1 $$log; \
	done

install: build
	install -D -m 0755 $(BUILD)/pier $(DESTDIR)/usr/local/bin/pier
	install -D -m 0644 scripts/pier-completion.bash $(DESTDIR)/usr/share/bash-completion/completions/pier

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
