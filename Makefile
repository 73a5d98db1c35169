# Phoenix — see README.md. Targets: deps, build, test, race, lint, bench, demo, plan, hook-test, docs, fresh-check.
GO      ?= go
BIN     := bin/phoenix
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PKGS    := ./...
GOFILES_DIRS := cmd engine hooks luaapi internal
# make demo / make plan keep their run log and lock here: no root needed.
DEMO_DIR := $(CURDIR)/.demo
BENCHTIME ?= 1s
# Phoenix is pure Go: no C toolchain needed. (A machine whose gcc came
# without libc6-dev, as apt's --no-install-recommends leaves it, would
# otherwise fail every build in runtime/cgo.) make race turns cgo back on.
export CGO_ENABLED ?= 0
# The bundled example, with the run log and lock kept in DEMO_DIR.
EXAMPLE_FLAGS := --hypervisor-config examples/phoenix_hypervisor_config.json \
	--lxc-config examples/phoenix_lxc_configs.json --hooks-dir examples \
	--log-file $(DEMO_DIR)/phoenix_hypervisor.log --lock-file $(DEMO_DIR)/phoenix_hypervisor.lock

.PHONY: all deps build test race lint bench demo plan hook-test docs fresh-check fuzz-plan clean

all: build

# The OS packages of .ci/packages: installed when missing (as root, with
# apt-get); otherwise the missing ones and their install command are printed.
deps:
	@.ci/install-deps

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/phoenix

lint:
	@out=$$(gofmt -l $(GOFILES_DIRS)); \
	if [ -n "$$out" ]; then echo "gofmt -l: these files need gofmt -w:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# The whole suite: vet, unit and end-to-end tests, then the example hooks' own tests.
test: deps lint build
	$(GO) test $(PKGS)
	$(BIN) $(EXAMPLE_FLAGS) hook test
	$(BIN) --hypervisor-config examples/phoenix_hypervisor_config.json --lxc-config examples/later/phoenix_lxc_configs.json --hooks-dir examples/later \
		--log-file $(DEMO_DIR)/phoenix_hypervisor.log --lock-file $(DEMO_DIR)/phoenix_hypervisor.lock hook test

# The race detector is not part of make test: on two cores it multiplies the
# end-to-end tests' time (every fake pct call is an instrumented process).
race:
	CGO_ENABLED=1 $(GO) test -race $(PKGS)

# Every benchmark, then the issue's three figures again: `phoenix plan` of
# 1,000 generated containers (goal < 1 s; peak heap), orchestration overhead
# per container with an instant backend, the makespan of examples/ with
# 50 ms per call against its critical path (goal ratio <= 1.10), and with
# the fake pct at 0.4 s per call: the converged re-run (goal < 3 s), the
# fresh run against its critical path (goal <= 1.15), and the pct calls
# per container of both.
BENCH_FIGURES := Benchmark(PhoenixPlan1000|Plan1000|RunOverheadPerContainer|MakespanExampleDAG|ConvergedRerunRealLatency|FreshRunRealLatency)-|pct calls per container
bench:
	@out=$$(mktemp); trap 'rm -f "$$out" "$$out.rc"' EXIT; \
	{ $(GO) test -run '^$$' -bench . -benchmem -benchtime=$(BENCHTIME) $(PKGS); echo $$? > "$$out.rc"; } | tee "$$out"; \
	echo; echo "== figures (ns/op is the time of one plan, run or makespan) =="; \
	grep -E '$(BENCH_FIGURES)' "$$out" || true; \
	exit $$(cat "$$out.rc")

# The README's main job: as root, provision examples/lxc on real LXC
# containers (and tear them down); otherwise the dry-run plan of examples/.
demo: deps build
	@mkdir -p $(DEMO_DIR)
	@if [ "$$(id -u)" -eq 0 ] && [ -x examples/lxc/demo.sh ]; then \
		PHOENIX=$(CURDIR)/$(BIN) examples/lxc/demo.sh; \
	else \
		echo "not root: printing the dry-run plan of examples/ (as root, make demo provisions examples/lxc on real LXC containers)"; \
		$(MAKE) --no-print-directory plan; \
	fi

# The dry-run plan of the bundled example: needs no Proxmox and no root.
plan: build
	@mkdir -p $(DEMO_DIR)
	$(BIN) $(EXAMPLE_FLAGS) plan

# docs/config.md, the field reference, from the schemas and engine/fields.go.
docs:
	$(GO) run ./internal/cmd/gendocs

# The fresh-machine proof, as root: make demo and make test in a new minimal
# Debian chroot that has only Go, git, make, gcc, jq and curl (.ci/fresh-check).
fresh-check:
	@.ci/fresh-check

# Plan equals apply on many more generated cases than make test's 200
# (make fuzz-plan N=20000 SEED=1).
N    ?= 5000
SEED ?= 1
fuzz-plan:
	@out=$$(mktemp); trap 'rm -f "$$out"' EXIT; \
	$(GO) test ./engine -run '^TestPlanEqualsApply$$' -count=1 -v -plan-cases=$(N) -plan-seed=$(SEED) > "$$out"; rc=$$?; \
	grep -E '^(--- FAIL|ok|FAIL)|checked|differ' "$$out"; exit $$rc

hook-test: build
	$(BIN) $(EXAMPLE_FLAGS) hook test
	$(BIN) --hypervisor-config examples/phoenix_hypervisor_config.json --lxc-config examples/later/phoenix_lxc_configs.json --hooks-dir examples/later \
		--log-file $(DEMO_DIR)/phoenix_hypervisor.log --lock-file $(DEMO_DIR)/phoenix_hypervisor.lock hook test

clean:
	rm -rf bin $(DEMO_DIR)
