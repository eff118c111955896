# rankd: `make run` and `make test` are all the set-up a fresh Debian machine needs.
SWIFT ?= swift
HOST ?= 127.0.0.1
PORT ?= 50051
RELEASE_BIN := .build/release
DEBUG_BIN := .build/debug
# Fuzzing time per target: `make fuzz` (long runs) and the smoke run at the end of `make test`.
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 30
# `make fuzz FUZZ_TARGETS=connection FUZZ_ARGS=--merge` fuzzes one target and merges what it finds into its corpus.
FUZZ_TARGETS ?=
FUZZ_ARGS ?=

.PHONY: run test deps test-deps build build-debug unit-test integration-test interop-test \
        proto check-generated proto-check proto-baseline alerts-test bench fuzz fuzz-smoke sanitize clean

# The demo rankd writes its exposure and event logs to out/logs/, for `rankctl simulate` and
# `rankctl experiment report --exposures out/logs --events out/logs` (docs/experiments.md).
LOGS ?= out/logs
run: deps build
	$(RELEASE_BIN)/rankd --host $(HOST) --port $(PORT) --exposure-log $(LOGS) --event-log $(LOGS)

deps:
	@Scripts/install-deps.sh

test-deps:
	@Scripts/install-deps.sh --test

build:
	$(SWIFT) build -c release

build-debug:
	$(SWIFT) build --build-tests

# Every test: generated code, the contract check, the Prometheus alert rules, Swift unit tests, real-client
# integration tests, interop, and a short run of each fuzzer.
test: test-deps check-generated build-debug proto-check alerts-test unit-test integration-test interop-test fuzz-smoke

unit-test:
	$(SWIFT) test --skip-build

integration-test:
	Scripts/integration-test.sh $(DEBUG_BIN)

interop-test:
	Scripts/interop-test.sh $(DEBUG_BIN)

# H2GRPCTests, GRPCStandardServicesTests and RankdServiceTests under ThreadSanitizer, then AddressSanitizer (with leak
# checking), each in its own scratch path (.build-threadsan/, .build-addresssan/); any report fails. See docs/testing.md.
sanitize: test-deps
	Scripts/sanitize.sh

# libFuzzer targets in Fuzz/, built with swiftc into .build-fuzz/ (never .build/); see docs/testing.md.
fuzz: deps
	Scripts/fuzz.sh --seconds $(FUZZ_SECONDS) $(FUZZ_ARGS) $(FUZZ_TARGETS)

fuzz-smoke: deps
	Scripts/fuzz.sh --seconds $(FUZZ_SMOKE_SECONDS)

proto:
	Scripts/generate-proto.sh

check-generated:
	Scripts/generate-proto.sh --check

proto-check:
	Scripts/proto-check.sh $(DEBUG_BIN)

proto-baseline:
	Scripts/proto-check.sh --raise-baseline $(DEBUG_BIN)

# promtool on deploy/prometheus/: the scrape configuration, the rules, and the unit tests of every alert.
alerts-test:
	Scripts/alerts-test.sh

# Side-by-side benchmarks (transport, end to end, scaling, micro), the scorer vs LightGBM/XGBoost/lleaves, issue 13's
# Recommend goals (CPU per request, capacity on one core, the scorer against lleaves), rankd at twice its
# capacity (admission control), snapshot loading, and the online store in-process against Redis (builds in
# .build-bench/); never in `make test`.
bench: deps
	Scripts/bench.sh
	Scripts/bench-scoring.sh
	Scripts/bench-recommend-goals.sh --runs 3
	Scripts/bench-overload.sh
	Scripts/bench-snapshot-load.sh --runs 3 --scales "1 5"
	Scripts/bench-online.sh --runs 3
	Scripts/bench-exposure-log.sh --runs 3

clean:
	rm -rf .build
