# The two commands of the README. Each installs what is missing first (scripts/setup.sh).
#   make run   build and start acdd on config/acd.toml; everything it writes goes to ./state
#   make test  every test: unit, scenario and end-to-end with SIPp against a running acdd

SWIFT ?= swift
CONFIG ?= config/acd.toml

.PHONY: run test setup build build-release stress clean

setup:
	./scripts/setup.sh

build: setup
	$(SWIFT) build --build-tests

build-release: setup
	$(SWIFT) build -c release --product acdd
	$(SWIFT) build -c release --product acdctl

run: build-release
	@echo "acdd: control with  .build/release/acdctl --socket state/acdd.sock status"
	exec .build/release/acdd --config $(CONFIG)

# The lock-free structures under ThreadSanitizer: every item once, in order, no lost wake-up.
stress: setup
	$(SWIFT) build -c release --sanitize=thread --product lockfree-stress --scratch-path .build-tsan
	TSAN_OPTIONS=halt_on_error=1 .build-tsan/release/lockfree-stress --producers 4 --inbox-items 4000000 --ring-items 2000000

test: build stress
	$(SWIFT) test --skip-build

clean:
	rm -rf .build .build-tsan state
