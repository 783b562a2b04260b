# rie.mk: the Lambda Runtime Interface Emulator and the native bootstraps the
# end-to-end tests run under it (the "rie" backend of internal/e2e).
#
#   make rie-deps   install the emulator into bin/ and build
#                   bin/bootstraps/<function>/bootstrap for this machine
#   make dev-rie    make dev with every function as its real bootstrap under
#                   the emulator, on moto (scripts/dev-rie.sh); until Ctrl-C
#
# Both steps are cheap when up to date: the emulator is reinstalled only when
# it is missing or this file (its pinned version) changed, and go build only
# relinks a bootstrap whose sources changed.

RIE_VERSION   := v0.0.0-20261030222936-bef5c4ba774d
RIE_MODULE    := github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie
RIE_BIN       := $(CURDIR)/bin/aws-lambda-rie
BOOTSTRAP_DIR := $(CURDIR)/bin/bootstraps
FUNCTIONS     := connect disconnect message sweeper fanout

# The tests find the emulator and the bootstraps through these (and fall
# back to the same paths when run outside make).
export RIE_BIN BOOTSTRAP_DIR

.PHONY: rie-deps rie-bootstraps dev-rie
TEST_GO_DEPS += rie-deps

rie-deps: $(RIE_BIN) rie-bootstraps

$(RIE_BIN): mk/rie.mk
	mkdir -p $(@D)
	GOBIN=$(@D) $(GO) install $(RIE_MODULE)@$(RIE_VERSION)
	touch $@

# Native builds with the deploy tags; go build skips the link when nothing
# changed, so this runs on every invocation and stays fast.
rie-bootstraps:
	@for f in $(FUNCTIONS); do \
	  CGO_ENABLED=0 $(GO) build -tags lambda.norpc -o $(BOOTSTRAP_DIR)/$$f/bootstrap ./functions/$$f || exit 1; \
	done

## dev-rie: the local server invoking the bootstraps under the emulator, on moto.
dev-rie: rie-deps py-deps localserver-bin demo
	LOCALSERVER_BIN=$(CURDIR)/$(LOCALSERVER_BIN) scripts/with-moto.sh scripts/dev-rie.sh
