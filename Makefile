# The two commands of the README. Each installs what is missing first (scripts/setup.sh).
#   make run   build and start acdd on config/acd.toml; everything it writes goes to ./state
#   make test  every test: unit, scenario and end-to-end with SIPp against a running acdd

SWIFT ?= swift
CONFIG ?= config/acd.toml

.PHONY: run test setup build build-release clean

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

test: build
	$(SWIFT) test --skip-build

clean:
	rm -rf .build state
