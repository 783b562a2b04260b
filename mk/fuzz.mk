# Fuzzing: the frame decoder (internal/protocol FuzzDecode), the decoder
# plus dispatcher over the memory store (internal/handler FuzzMessage), and
# the structure-aware FuzzFrames (internal/handler), which sends valid
# frames with extreme numbers in every numeric field and checks that none
# overflows into stored state.
#
#   make test-fuzz   a short pass, FUZZ_SHORT per target (part of make test)
#   make fuzz-long   a long pass, FUZZ_LONG per target
#
# The seed corpora are committed under <package>/testdata/fuzz/<target>/ and
# also run as ordinary tests under go test. A failing input found by a fuzz
# pass is written there too: commit it with the fix, so that it stays a
# regression test. Inputs that only widen coverage stay in the Go build cache.
#
# Go 1.26's fuzz coordinator can end a duration-bounded run with a bare
# "context deadline exceeded" failure when the time is up while a worker is
# busy (go.dev/issue/75804, fixed in Go 1.27). A run that fails that way,
# and only that way, without writing a failing input, counts as a pass.

FUZZ_SHORT ?= 10s
FUZZ_LONG  ?= 10m

# FUZZ_MINIMIZE bounds the minimization of each new interesting input. Go's
# default is 60 s per input, and minimization executions are not counted:
# a short pass spent its whole time minimizing the first inputs it found
# and reported 0 executions per second after a few seconds. A bounded
# count keeps the short pass fuzzing; the long pass keeps Go's default.
FUZZ_MINIMIZE ?= 20x

# package:target pairs; go test -fuzz takes one target per run.
FUZZ_TARGETS := ./internal/protocol:FuzzDecode ./internal/protocol:FuzzDecodeMatchesReference ./internal/handler:FuzzMessage ./internal/handler:FuzzFrames

.PHONY: test-fuzz fuzz-long

define run-fuzz
	@set -euo pipefail; log="$$(mktemp)"; trap 'rm -f "$$log"' EXIT; \
	for pt in $(FUZZ_TARGETS); do \
		pkg="$${pt%%:*}"; target="$${pt##*:}"; dir="$$pkg/testdata/fuzz/$$target"; \
		before="$$(ls "$$dir" 2>/dev/null || true)"; \
		echo "fuzz $$target ($$pkg) for $(1)"; \
		if $(GO) test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(1) $(2) "$$pkg" 2>&1 | tee "$$log"; then continue; fi; \
		if [ "$$before" = "$$(ls "$$dir" 2>/dev/null || true)" ] && ! grep -q 'Failing input written' "$$log" && \
			[ "$$(grep -c -- '--- FAIL' "$$log")" = 1 ] && grep -qx '    context deadline exceeded' "$$log"; then \
			echo "fuzz $$target: stopped by the fuzz coordinator's deadline race (go.dev/issue/75804), no failing input: pass"; \
			continue; \
		fi; \
		echo "fuzz $$target failed: see the failing input under $$dir" >&2; exit 1; \
	done
endef

## test-fuzz: a short fuzz pass over every target.
test-fuzz: go-deps
	$(call run-fuzz,$(FUZZ_SHORT),-fuzzminimizetime=$(FUZZ_MINIMIZE))

## fuzz-long: a long fuzz pass over every target.
fuzz-long: go-deps
	$(call run-fuzz,$(FUZZ_LONG),)

TEST_TARGETS += test-fuzz
