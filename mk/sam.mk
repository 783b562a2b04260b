# AWS SAM: building, checking and deploying template.yaml.
#
#   make build           sam build: the eight functions into .aws-sam/build
#   make deploy          sam deploy with the settings saved in samconfig.toml
#   make deploy-guided   sam deploy --guided: asks for every setting, then
#                        offers to save them (use it for a first deploy to a
#                        new account, or to change saved settings)
#   make validate        cfn-lint and sam validate --lint (offline, no credentials)
#   make test-template   validate, then sam build into a temporary folder and
#                        check the eight binaries (Linux arm64, at most
#                        BOOTSTRAP_MAX_BYTES each), then the Go template test
#
# SAM_CONFIG_ENV picks the samconfig.toml environment: make deploy SAM_CONFIG_ENV=prod
#
# sam build calls `make build-<LogicalId>` in the repository root (CodeUri is
# ".") with ARTIFACTS_DIR set; each such target builds one bootstrap binary.
# Guide: docs/DEPLOY.md.

SAM            := $(VENV)/bin/sam
CFN_LINT       := $(VENV)/bin/cfn-lint
SAM_TEMPLATE   := template.yaml
SAM_CONFIG_ENV ?= default

# Telemetry off for every SAM command run from here.
SAM_RUN := SAM_CLI_TELEMETRY=0 $(SAM)

# SAM commands that need no AWS account get a region and placeholder
# credentials, so that they never reach for a developer's profile (an expired
# SSO login would fail them) and behave the same on every machine.
SAM_OFFLINE_ENV := env -u AWS_PROFILE -u AWS_SESSION_TOKEN \
	AWS_REGION=$${AWS_REGION:-us-east-1} AWS_DEFAULT_REGION=$${AWS_REGION:-us-east-1} \
	AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline

# In test-template, run SAM in a network namespace with no interfaces where
# the machine allows it (root on Linux), which proves the build needs no
# network; elsewhere run it as it is.
SAM_NO_NETWORK = $(shell unshare -n true >/dev/null 2>&1 && echo unshare -n)

# Lambda logical id -> Go package of its main.
SAM_FUNCTIONS := ConnectFunction DisconnectFunction MessageFunction SweeperFunction FanoutFunction \
	PublishFunction PublishEventsFunction ChangeFeedFunction
SAM_PKG_ConnectFunction    := ./functions/connect
SAM_PKG_DisconnectFunction := ./functions/disconnect
SAM_PKG_MessageFunction    := ./functions/message
SAM_PKG_SweeperFunction    := ./functions/sweeper
SAM_PKG_FanoutFunction     := ./functions/fanout
SAM_PKG_PublishFunction    := ./functions/publish
SAM_PKG_PublishEventsFunction := ./functions/publishevents
SAM_PKG_ChangeFeedFunction := ./functions/changefeed

# The size budget of one bootstrap (docs/BENCHMARKS.md, cold start): a
# binary that grows past it has pulled in an SDK service client or the
# SDK's configuration loader, which internal/awsrest replaces.
BOOTSTRAP_MAX_BYTES := 10000000

# A static Linux arm64 binary named bootstrap (the provided.al2023 runtime
# runs it). lambda.norpc drops aws-lambda-go's unused RPC mode; -trimpath,
# -buildvcs=false and -s -w make the binary small and the same on every machine.
SAM_GO_BUILD := GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc \
	-trimpath -buildvcs=false -ldflags "-s -w"

.PHONY: build deploy deploy-guided validate test-template $(addprefix build-,$(SAM_FUNCTIONS))

$(addprefix build-,$(SAM_FUNCTIONS)): build-%:
	@test -n "$(ARTIFACTS_DIR)" || { echo "$@: ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 1; }
	$(SAM_GO_BUILD) -o "$(ARTIFACTS_DIR)/bootstrap" $(SAM_PKG_$*)

## build: sam build (no Docker, no AWS credentials).
build: go-deps py-deps
	$(SAM_RUN) build --template-file $(SAM_TEMPLATE) --config-env $(SAM_CONFIG_ENV)

## deploy: sam deploy with the saved settings of SAM_CONFIG_ENV.
deploy: build
	$(SAM_RUN) deploy --config-env $(SAM_CONFIG_ENV)

## deploy-guided: sam deploy --guided (first deploy, or to change settings).
deploy-guided: build
	$(SAM_RUN) deploy --guided --config-env $(SAM_CONFIG_ENV)

## validate: cfn-lint and sam validate --lint; no AWS account or network.
validate: py-deps
	$(CFN_LINT) $(SAM_TEMPLATE)
	$(SAM_OFFLINE_ENV) $(SAM_RUN) validate --lint --template-file $(SAM_TEMPLATE)

## test-template: validate, build all eight functions, run the template test.
test-template: validate go-deps
	@set -euo pipefail; \
	tmp="$$(mktemp -d)"; trap 'rm -rf "$$tmp"' EXIT; \
	echo "sam build -> $$tmp/build"; \
	$(SAM_OFFLINE_ENV) $(SAM_NO_NETWORK) env SAM_CLI_TELEMETRY=0 $(SAM) build \
		--template-file $(SAM_TEMPLATE) --build-dir "$$tmp/build" --cache-dir "$$tmp/cache" \
		--build-in-source --no-cached; \
	for fn in $(SAM_FUNCTIONS); do \
		bin="$$tmp/build/$$fn/bootstrap"; \
		test -s "$$bin" || { echo "test-template: $$bin missing" >&2; exit 1; }; \
		magic="$$(od -An -tx1 -N4 "$$bin" | tr -d ' \n')"; \
		machine="$$(od -An -tx1 -j18 -N2 "$$bin" | tr -d ' \n')"; \
		test "$$magic" = 7f454c46 -a "$$machine" = b700 || \
			{ echo "test-template: $$bin is not a Linux arm64 executable" >&2; exit 1; }; \
		size="$$(wc -c <"$$bin")"; \
		test "$$size" -le $(BOOTSTRAP_MAX_BYTES) || \
			{ echo "test-template: $$bin has $$size bytes, over the budget of $(BOOTSTRAP_MAX_BYTES)" >&2; exit 1; }; \
		echo "ok  $$fn/bootstrap ($$size bytes, linux/arm64)"; \
	done
	$(GO) test -count=1 ./internal/deploy/

TEST_TARGETS += test-template
