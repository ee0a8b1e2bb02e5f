# Run `make help` for the targets.

GO      ?= go
BIN     := bin/todolog
PKGS    := ./...

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z/_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

.PHONY: postgres
postgres: ## install PostgreSQL server binaries if missing (Debian, as root)
	@scripts/ensure-postgres.sh

.PHONY: pgbouncer
pgbouncer: ## install PgBouncer if missing (Debian, as root), for the pooled test run
	@scripts/ensure-pgbouncer.sh

.PHONY: build
build: ## build bin/todolog
	$(GO) build -o $(BIN) ./cmd/todolog

.PHONY: run
run: postgres build ## run the demo end to end on the embedded default database
	$(BIN) demo

.PHONY: test
test: postgres pgbouncer ## go vet, every test with the race detector, then every test through PgBouncer
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	GO=$(GO) scripts/test-pooled.sh $(PKGS)

.PHONY: test/pgbouncer
test/pgbouncer: postgres pgbouncer ## every test through PgBouncer in transaction pooling mode
	GO=$(GO) scripts/test-pooled.sh $(PKGS)

.PHONY: test/short
test/short: postgres ## every test without the race detector
	$(GO) test -count=1 $(PKGS)

.PHONY: lint
lint: ## gofmt and go vet
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "run gofmt -w on the files above"; exit 1; }
	$(GO) vet $(PKGS)

.PHONY: bench
bench: postgres ## run the Go benchmarks (numbers for docs/benchmarks.md)
	$(GO) test -run '^$$' -bench . -benchtime 2s -count 1 $(PKGS)
