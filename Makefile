# chaosgen — see README.md. `make demo` runs the main job on built-in sample
# data; `make test` runs the tests.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
BIN       := bin/chaosgen
DEMO      := demo
STATICCHECK_VERSION := v0.8.2
GOTESTSUM_VERSION   := v1.13.0
# Build tags of every build, test and benchmark here (and of deploy/Dockerfile
# and the bench scripts, which build chaosgen themselves; TestBuildTags checks
# that they agree). disable_grpc_modules leaves out the Google Cloud Storage
# client's gRPC DirectPath modules (xDS, and Envoy's protos under it), which
# chaosgen never uses (it talks to GCS over HTTP): their package
# initialisation cost every chaosgen process 11 ms and the binary 13 MB
# (docs/scale.md, "The merge, fifth pass").
GOTAGS ?= disable_grpc_modules
export GOFLAGS += -tags=$(GOTAGS)
# gotestsum runs `go test` and ends with a list of every skipped and failed
# test and why: a test that skips because ../shared, ssh-keygen or chromium
# is missing says so at the end of the run, where plain `go test ./...`
# would hide it behind "ok".
GOTESTSUM := $(GO) run gotest.tools/gotestsum@$(GOTESTSUM_VERSION) --format pkgname-and-test-fails --

.PHONY: all build test race check golden bench bench-duckdb bench-scale bench-inject soak eval demo loop loop-short clean

all: build

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/chaosgen

test:
	$(GOTESTSUM) -count=1 ./...

# the race detector over the library packages (-short); the CLI's and the
# browser's end-to-end tests run the same code as processes and take most of
# the time under -race, so they are left to make test
race:
	$(GOTESTSUM) -race -count=1 -short $$($(GO) list ./... | grep -v -e '/cmd/chaosgen$$' -e '/dashboard/e2e$$')

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# rewrite golden files (in the packages whose tests use internal/golden);
# read the diff before committing
golden:
	$(GO) test $$($(GO) list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./... | grep internal/golden | cut -d' ' -f1) -update

# Benchmarks of the stages; BENCH selects, e.g. `make bench BENCH=Analyze`.
BENCH ?= .
bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem ./...

# 1, 2 and 4 shards of a 40M-span day and their merge, one core each
# (see bench/scale/run.sh and docs/scale.md).
bench-scale:
	bash bench/scale/run.sh

# analyze against DuckDB on the same 10M-span file (see bench/duckdb).
bench-duckdb: build
	bash bench/duckdb/run.sh

# the injector against a direct connection and nginx (installs wrk, nginx)
bench-inject: build
	bash bench/inject/run.sh

# 60 s of requests through the injector with a bundle reload every second
soak:
	bash bench/inject/soak.sh

# chaosgen's root-cause rankings and the naive baseline on the labelled
# fault runs of ../shared/data/rca/nezha_dev: per fault and AC@1/3/5 per run
# (see docs/evaluate.md and bench/eval/run.sh).
eval: build
	bash bench/eval/run.sh

# The feedback loop on a local mesh of real processes (bench/loop/run.sh,
# docs/nightly.md "A local mesh"): 7 services, each behind its own
# `chaosgen inject`, 5 nights of records -> analyze -> generate --previous ->
# replay -> sidecar reload, then a summary. loop-short: 2 short nights.
# LOOP_NIGHTS, LOOP_DAY, LOOP_RPS, LOOP_DIR override.
loop:
	bash bench/loop/run.sh

loop-short:
	LOOP_NIGHTS=$${LOOP_NIGHTS:-2} LOOP_DAY=$${LOOP_DAY:-30s} bash bench/loop/run.sh

# The main job on built-in sample data: a small synthetic mesh (seconds),
# analysed, top edges printed.
demo: build
	@echo "== synthesizing a small service mesh (30 services, 1 day, 1.5 req/s) =="
	$(BIN) synth -o $(DEMO)/spans.parquet --days 1 --rps 1.5 --services 30 --seed 1
	@echo
	@echo "== analyzing it =="
	$(BIN) analyze $(DEMO)/spans.parquet -o $(DEMO)/analysis --top 8
	@echo
	@echo "== generating the error profile bundle (unsigned; sign with --key ~/.ssh/id_ed25519) =="
	@# the synthetic traffic is dated 2026-01-05: the default expiry (a week
	@# after the data) would already have passed
	$(BIN) generate $(DEMO)/analysis -o $(DEMO)/bundle.json --not-after 30d
	@echo
	@echo "== replaying the recorded traffic with the bundle through a simulated mesh =="
	@# a breach of the bundle's own guards is reported (replay --gate would exit 3 on it)
	$(BIN) replay --bundle $(DEMO)/bundle.json $(DEMO)/spans.parquet -o $(DEMO)/replay
	@echo
	@echo "== writing the HTML report =="
	$(BIN) report --analysis $(DEMO)/analysis --bundle $(DEMO)/bundle.json --replay $(DEMO)/replay -o $(DEMO)/report.html
	@echo
	@echo "The planted incidents are in $(DEMO)/truth.json; the bundle is $(DEMO)/bundle.json."
	@echo "Open $(DEMO)/report.html in a browser, or run the dashboard:"
	@echo "  $(BIN) dashboard --analysis $(DEMO)/analysis --bundle $(DEMO)/bundle.json --replay $(DEMO)/replay --spans $(DEMO)/spans.parquet"
	@echo "Your own traces: chaosgen import --from auto traces.json -o spans.parquet (OTLP, Jaeger, Zipkin, CSV), then analyze."

clean:
	rm -rf bin $(DEMO)
