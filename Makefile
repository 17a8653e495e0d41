# The README's entry points. Everything real lives in CMakeLists.txt.
BUILD_DIR ?= build
SAN_DIR ?= build-sanitize
GENERATOR := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
JOBS ?= $(shell nproc)

.PHONY: all deps build run test test-sanitize bench clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

run: build
	./$(BUILD_DIR)/restd serve --demo --listen 127.0.0.1:8080

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

test-sanitize: deps
	cmake -S . -B $(SAN_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRESTD_SANITIZE=ON
	cmake --build $(SAN_DIR) -j $(JOBS)
	cd $(SAN_DIR) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 ctest --output-on-failure -j $(JOBS)

BENCH_DIR ?= build-bench

bench: deps
	@bash scripts/install-deps.sh --bench
	cmake -S . -B $(BENCH_DIR) $(GENERATOR) -DCMAKE_BUILD_TYPE=Release -DRESTD_TESTS=OFF -DRESTD_BENCH=ON
	cmake --build $(BENCH_DIR) -j $(JOBS)
	BENCH_BUILD=$(BENCH_DIR) python3 bench/run.py

clean:
	rm -rf $(BUILD_DIR) $(SAN_DIR) $(BENCH_DIR)
