# The two commands a new user needs: `make run` and `make test`.
SHELL := /bin/bash
GO ?= $(shell command -v go 2>/dev/null || echo /usr/local/go/bin/go)
export PATH := $(dir $(GO)):$(PATH)
# go.mod names the toolchain vidjob is built with (a patch release with the
# standard library's security fixes); "auto" lets the go command fetch it from
# the module proxy when the installed Go is older, as machines that set
# GOTOOLCHAIN=local would otherwise refuse.
export GOTOOLCHAIN = auto

DATA ?= ./data
LISTEN ?= 127.0.0.1:8080
# go test's own timeout; the suite takes a few minutes on two cores.
TEST_TIMEOUT ?= 30m

# How much each fuzz target runs in `make test`: a count of inputs, not a duration.
# A duration (-fuzztime 5s) can fail with a bare "context deadline exceeded" and
# no crasher when the machine is busy as the deadline passes: a race in Go's fuzz
# coordinator (go.dev/issue/75804, fixed in Go 1.27). A count has no deadline, so a
# busy machine only makes the run slower. Longer runs: make fuzz FUZZTIME=2000000x
FUZZTIME ?= 10000x

.PHONY: run build deps tools browser clients test vet fuzz vulncheck soak bench bench-accel bench-failover clean

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

## clients: install Blitline's Node client (npm ci) and the JSON parsers of the other clients' languages
clients:
	@scripts/install-clients.sh

## fuzz: run each fuzz target for FUZZTIME on top of its seed corpus in testdata/fuzz
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeJobs$$' -fuzztime $(FUZZTIME) ./blitline
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeForm$$' -fuzztime $(FUZZTIME) ./blitline
	$(GO) test -run '^$$' -fuzz '^FuzzLookup$$' -fuzztime $(FUZZTIME) ./preset

## vulncheck: govulncheck over vidjob's packages (says loudly when it cannot run)
vulncheck: tools
	@scripts/vulncheck.sh

## test: everything: unit, conformance and end-to-end tests with real ffmpeg, S3, HTTP and a headless browser
test: deps tools browser clients vet vulncheck fuzz
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

## soak: 1,000 jobs through API server and worker restarts, then 200 jobs on three workers killed or frozen every 20 s, on PostgreSQL (minutes; CI runs it)
soak: deps tools
	VIDJOB_SOAK=1 $(GO) test -timeout 45m -run 'TestSoakJobsThroughRestarts|TestSoakFailover' -count=1 -v ./e2e

## bench: benchmark tables; BENCH_ARGS picks suites, e.g. BENCH_ARGS="-suite submit -count 3 -markdown" prints the tables docs/PERFORMANCE.md carries
BENCH_ARGS ?=
bench:
	$(GO) run ./bench $(BENCH_ARGS)

## bench-accel: one 10-minute encode through 1, 2 and 4 pinned worker processes (PostgreSQL; ~7 min on 2 cores)
bench-accel: deps
	$(GO) run ./bench -suite accel

## bench-failover: takeover time after kill -9 and after SIGSTOP of the encoding worker, 10 of each (PostgreSQL; ~6 min)
bench-failover: deps
	$(GO) run ./bench -suite failover

clean:
	rm -rf bin tools/bin
