# Every module of the repository: the core and its nested modules.
MODULES := . adapters/chi adapters/gin adapters/echo otelanon redisstore examples/server e2e
GO ?= go
FUZZTIME ?= 10s

.PHONY: test vet staticcheck fuzz soak example bench

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

# Each fuzz target briefly (FUZZTIME=2m for a longer run by hand).
fuzz:
	@set -e; for f in FuzzCookies FuzzToken FuzzConvertBody FuzzLocalCookie; do \
		echo "== $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 2s . ; \
	done

# 200 clients for 30 s through refreshes and an outage (race detector on).
soak:
	$(GO) test -race -count=1 -run '^TestLoad$$' -v . -soak

# Runs the example on the embedded emulator (a module of its own: it has a
# Redis client for REDIS_URL, which the library's go.mod does without).
example:
	$(GO) -C examples/server run .

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 3 .
	cd redisstore && $(GO) test -run '^$$' -bench . -benchmem -count 3 .
