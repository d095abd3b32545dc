# The two commands of the README. Each installs what is missing first (scripts/setup.sh).
#   make run   build and start acdd on config/acd.toml, with the reference CRM store acd-crm
#              beside it; everything they write goes to ./state
#   make test  every test: unit, scenario and end-to-end with SIPp against a running acdd
#   make check the unit and scenario tests only (no daemon, no SIPp): the edit-test loop
#   make fuzz  the fuzzers for FUZZ_SECONDS each and the SIP mutator against a daemon (fuzz/run.sh)

SWIFT ?= swift
CONFIG ?= config/acd.toml

.PHONY: run test check setup build build-release stress fuzz fuzz-short clean

setup:
	./scripts/setup.sh

build: setup
	$(SWIFT) build --build-tests

build-release: setup
	$(SWIFT) build -c release --product acdd
	$(SWIFT) build -c release --product acdctl
	$(SWIFT) build -c release --product acd-crm

# acd-crm listens on state/crm.sock (acdd's default crm.socket) and stops when acdd does.
run: build-release
	@echo "acdd: control with  .build/release/acdctl --socket state/acdd.sock status"
	mkdir -p state
	.build/release/acd-crm serve --socket state/crm.sock --db state/crm.sqlite & crm=$$!; \
	trap 'kill $$crm 2>/dev/null' EXIT INT TERM; \
	.build/release/acdd --config $(CONFIG)

# The lock-free structures under ThreadSanitizer: every item once, in order, no lost wake-up.
stress: setup
	$(SWIFT) build -c release --sanitize=thread --product lockfree-stress --scratch-path .build-tsan
	TSAN_OPTIONS=halt_on_error=1 .build-tsan/release/lockfree-stress --producers 4 --inbox-items 4000000 --ring-items 2000000

# Fuzzing, bounded: FUZZ_SECONDS per libFuzzer target, then MUTATOR_COUNT hostile messages.
FUZZ_SECONDS ?= 300
MUTATOR_COUNT ?= 100000
fuzz: setup
	FUZZ_SECONDS=$(FUZZ_SECONDS) MUTATOR_COUNT=$(MUTATOR_COUNT) ./fuzz/run.sh

# make test's short pass: 30 s per fuzzer on the debug build (quicker to build); the mutator's
# short pass is an end-to-end test (HostileSIPTests).
fuzz-short: setup
	FUZZ_SECONDS=30 MUTATOR_COUNT=0 FUZZ_CONF=debug ./fuzz/run.sh

test: build stress fuzz-short
	$(SWIFT) test --skip-build

check: build
	$(SWIFT) test --skip-build --skip IntegrationTests

clean:
	rm -rf .build .build-tsan .build-fuzz state
