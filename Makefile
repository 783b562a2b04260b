# rtcollab: serverless real-time collaboration backend.
#
#   make dev    run the local API Gateway + Lambda emulation on :3001
#   make test   install what the tests need, start them, run every suite
#
# Area-specific targets live in mk/*.mk; each adds itself to TEST_TARGETS.

SHELL       := /bin/bash
GO          ?= go
VENV        := .venv
PY          := $(VENV)/bin/python
PIP         := $(VENV)/bin/pip
# The local server binary make dev runs (and the browser and dev-rie targets).
LOCALSERVER_BIN := bin/localserver
export GOFLAGS ?= -mod=mod

TEST_TARGETS :=
TEST_GO_DEPS :=

-include mk/*.mk

.PHONY: all dev localserver-bin test test-dev deps go-deps py-deps lint fmt vet test-go build-go

.DEFAULT_GOAL := all
all: build-go

## deps: everything the tests and the local server need on a fresh machine.
deps: go-deps py-deps

go-deps:
	$(GO) mod download

# The project virtualenv holds moto (the DynamoDB wire-protocol server used by
# the tests), cfn-lint and the SAM CLI. Pinned in requirements-dev.txt.
py-deps: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

build-go:
	$(GO) build ./...

## dev: the local server on the embedded store (DYNAMODB_ENDPOINT=... for DynamoDB).
# The server is built, then exec'd as the recipe's process: make passes
# SIGTERM on to that process only, and go run would die of it without
# passing it on, leaving the server running with the port taken.
dev: go-deps localserver-bin
	exec $(LOCALSERVER_BIN) -dev

# go build is incremental; always ask it.
localserver-bin: go-deps
	$(GO) build -o $(LOCALSERVER_BIN) ./cmd/localserver

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	$(GO) vet ./...

STATICCHECK := bin/staticcheck
$(STATICCHECK):
	GOBIN=$(CURDIR)/bin $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2

## lint: gofmt, go vet and staticcheck.
lint: vet $(STATICCHECK)
	$(STATICCHECK) ./...
	@out=$$(gofmt -l $$(find . -name '*.go' -not -path './client/*' -not -path './.venv/*' -not -path './bin/*' -not -path './.aws-sam/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## test-go: every Go test; the DynamoDB store suites run against moto.
## internal/e2e, the longest package, takes about 11 minutes on two idle
## cores; the per-package timeout leaves room for a machine doing more.
test-go: deps $(TEST_GO_DEPS)
	scripts/with-moto.sh $(GO) test -count=1 -timeout 25m ./...


## test-dev: `make dev` installs what it needs, serves and prints its URL.
test-dev:
	scripts/check-dev.sh

## test: every suite. test-dev runs first, so on a fresh clone it shows
## that `make dev` installs its own dependencies.
test: test-dev lint test-go $(TEST_TARGETS)
	@echo "make test: all suites passed"

## soak: the editing stress tests at full size on DynamoDB (moto): 20 clients
## racing for one lock 1,000 times, 10 clients pushing 1,000 changes with
## dropped connections. About 15 minutes (moto serves one request at a time);
## make test runs them at full size on the embedded store and at 100 grants
## and 300 changes on DynamoDB.
soak: deps $(TEST_GO_DEPS)
	RTCOLLAB_SOAK=1 scripts/with-moto.sh $(GO) test -count=1 -timeout 90m -run 'TestLockRace|TestChangesNothingLost' -v ./internal/e2e/
