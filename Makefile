# The two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
export PATH := $(dir $(GO)):$(PATH)

DATA ?= ./data
LISTEN ?= 127.0.0.1:8080
# go test's own timeout; the suite takes a few minutes on two cores.
TEST_TIMEOUT ?= 30m

.PHONY: run build deps tools browser test vet fuzz clean

## run: install ffmpeg/exiftool if missing, build, and serve on embedded defaults
run: deps build
	./bin/vidjob serve --listen $(LISTEN) --data $(DATA)

## build: build bin/vidjob
build:
	$(GO) build -o bin/vidjob ./cmd/vidjob

deps:
	@scripts/install-deps.sh

## tools: build the S3 test server (versitygw) into tools/bin
tools:
	@scripts/install-tools.sh

vet:
	$(GO) vet ./...

## browser: install Debian's chromium for the dashboard's browser test
browser:
	@scripts/install-browser.sh >/dev/null

## test: everything: unit, conformance and end-to-end tests with real ffmpeg, S3, HTTP and a headless browser
test: deps tools browser vet
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

clean:
	rm -rf bin tools/bin
