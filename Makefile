# Every module of the repository: the core and its nested modules.
MODULES := . adapters/chi adapters/gin adapters/echo otelanon redisstore cmd/anonymous-cull examples/server conformance e2e
GO ?= go
FUZZTIME ?= 10s

.PHONY: test vet staticcheck fuzz soak example bench conformance

# Descope's JavaScript SDKs for the conformance suite and the page test in
# e2e, installed from the lockfile. Without npm the suite skips (fails
# under CI).
CONFORMANCE_DEPS := conformance/node_modules/.package-lock.json
$(CONFORMANCE_DEPS): conformance/package.json conformance/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		echo "== npm ci conformance"; cd conformance && npm ci --no-audit --no-fund; \
	else echo "npm is not installed: the conformance suite and the web-js-sdk page test will skip"; fi

# The one command that runs every module's tests, race detector on.
test: $(CONFORMANCE_DEPS)
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

# The conformance suite alone: Descope's JavaScript SDKs against the
# descope-emulator command, with every test's name.
conformance: $(CONFORMANCE_DEPS)
	cd conformance && $(GO) test -count=1 -v -run '^TestConformance$$' .

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 3 .
	cd redisstore && $(GO) test -run '^$$' -bench . -benchmem -count 3 .
