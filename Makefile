# Every module of the repository: the core and its nested modules.
MODULES := . adapters/chi adapters/gin adapters/echo e2e
GO ?= go
FUZZTIME ?= 10s

.PHONY: test vet staticcheck fuzz example bench

# The one command that runs every module's tests, race detector on.
test:
	@set -e; for m in $(MODULES); do \
		if [ -f $$m/go.mod ]; then echo "== go test $$m"; (cd $$m && $(GO) test -race -count=1 ./...); fi; \
	done

vet:
	@set -e; for m in $(MODULES); do \
		if [ -f $$m/go.mod ]; then echo "== go vet $$m"; (cd $$m && $(GO) vet ./...); fi; \
	done

staticcheck:
	@set -e; for m in $(MODULES); do \
		if [ -f $$m/go.mod ]; then echo "== staticcheck $$m"; (cd $$m && staticcheck ./...); fi; \
	done

# Runs the example on the embedded emulator.
example:
	$(GO) run ./examples/server

bench:
	$(GO) test -run '^$$' -bench . -benchmem .
