# The README's entry points. Everything real lives in CMakeLists.txt.
BUILD_DIR ?= build
SAN_DIR ?= build-sanitize
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
JOBS ?= $(shell nproc)

.PHONY: all deps test-deps build run cluster test test-sanitize test-tsan fuzz bench bench-costs clean

all: build

# Debian's packages, and what the binary embeds for browsers (web/: Swagger
# UI for /docs and the admin UI at /_/, from npm, built with Vite).
deps:
	@bash scripts/install-deps.sh
	@bash scripts/build-web.sh

# Chromium, promtool and the node test tools from npm (from the lockfile): playwright-core,
# Redocly CLI and Ajv (the OpenAPI checks); reinstalled when the lockfile changes.
test-deps: deps
	@bash scripts/install-deps.sh --test
	@[ tests/browser/node_modules/.package-lock.json -nt tests/browser/package-lock.json ] || npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	./$(BUILD_DIR)/restd serve --demo --listen 127.0.0.1:8080

# A private PostgreSQL, two restd nodes and nginx round-robin on 127.0.0.1:8080.
cluster: build
	@bash scripts/install-deps.sh --cluster
	@bash scripts/cluster.sh $(BUILD_DIR)

test: build test-deps
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

test-sanitize: test-deps
	cmake -S . -B $(SAN_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRESTD_SANITIZE=ON
	cmake --build $(SAN_DIR) -j $(JOBS)
	cd $(SAN_DIR) && RESTD_TEST_SLOWDOWN=4 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

TSAN_DIR ?= build-tsan

# ThreadSanitizer: the whole suite against a TSan build (the e2e tests drive its binary).
test-tsan: test-deps
	cmake -S . -B $(TSAN_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRESTD_TSAN=ON
	cmake --build $(TSAN_DIR) -j $(JOBS)
	cd $(TSAN_DIR) && RESTD_TEST_SLOWDOWN=10 TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --output-on-failure -j $(JOBS)

FUZZ_DIR ?= build-fuzz
FUZZ_SECONDS ?= 60

# libFuzzer under ASan and UBSan: every target for FUZZ_SECONDS each.
fuzz: deps
	@bash scripts/install-deps.sh --fuzz
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(FUZZ_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRESTD_FUZZ=ON -DRESTD_TESTS=OFF
	cmake --build $(FUZZ_DIR) -j $(JOBS)
	bash scripts/fuzz.sh $(FUZZ_DIR) $(FUZZ_SECONDS)

BENCH_DIR ?= build-bench

bench: deps
	@bash scripts/install-deps.sh --bench
	cmake -S . -B $(BENCH_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release -DRESTD_TESTS=OFF -DRESTD_BENCH=ON
	cmake --build $(BENCH_DIR) -j $(JOBS)
	BENCH_BUILD=$(BENCH_DIR) python3 bench/run.py

# What one GET of one record costs, counted (system calls, allocations,
# locks, instructions) against the bare Beast server: bench/results/per_request.md.
bench-costs: deps
	@bash scripts/install-deps.sh --bench
	cmake -S . -B $(BENCH_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release -DRESTD_TESTS=OFF -DRESTD_BENCH=ON
	cmake --build $(BENCH_DIR) -j $(JOBS)
	BENCH_BUILD=$(BENCH_DIR) python3 bench/per_request.py --write
	BENCH_BUILD=$(BENCH_DIR) python3 bench/per_request.py --write list

clean:
	rm -rf $(BUILD_DIR) $(SAN_DIR) $(TSAN_DIR) $(FUZZ_DIR) $(BENCH_DIR)
