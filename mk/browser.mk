# The demo page and the browser suites in client/.
#
#   make chromium       install Debian's chromium when /usr/bin/chromium is missing
#   make demo           build the demo page into client/demo/dist (served at / by make dev)
#   make test-browser   the hooks against the real local server (vitest, happy-dom), then
#                       the end-to-end suite: two chromium pages on the demo, driven by
#                       playwright-core, on the memory store and on DynamoDB (moto); and
#                       the UI suite (e2e/ui.test.mjs): screenshots against the reviewed
#                       baselines in client/e2e/baselines, axe-core, page position, Thai text
#                       (UPDATE_BASELINES=1 rewrites the baselines: review each before committing)
#
# Screenshots of the end-to-end suite go to test-artifacts/browser/.

CHROMIUM        ?= /usr/bin/chromium

.PHONY: chromium demo test-browser test-client-server

# Thai fonts too (fonts-thai-tlwg), so that screenshots of the Thai strings are legible.
chromium:
	@pkgs=; \
	[ -x "$(CHROMIUM)" ] || pkgs="chromium"; \
	{ command -v fc-list >/dev/null && fc-list :lang=th | grep -q .; } || pkgs="$$pkgs fonts-thai-tlwg"; \
	if [ -n "$$pkgs" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	  $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y $$pkgs; \
	fi

demo: client-deps
	cd $(CLIENT_DIR) && $(NPM) run --silent demo:build

# The React hooks against the real server binary (each test file starts its own on a free port);
# the README's Node.js example imports the built package, hence client-build. Under moto, so that
# the channel history suite also runs its servers on DynamoDB (DYNAMODB_TEST_ENDPOINT).
test-client-server: client-deps client-build localserver-bin py-deps
	scripts/with-moto.sh env LOCALSERVER_BIN=$(CURDIR)/$(LOCALSERVER_BIN) sh -c 'cd $(CLIENT_DIR) && $(NPM) run --silent test:server'

test-browser: chromium demo localserver-bin py-deps test-client-server
	mkdir -p test-artifacts/browser
	scripts/with-moto.sh env LOCALSERVER_BIN=$(CURDIR)/$(LOCALSERVER_BIN) CHROMIUM=$(CHROMIUM) \
	  DEMO_DIR=$(CURDIR)/$(CLIENT_DIR)/demo/dist ARTIFACTS_DIR=$(CURDIR)/test-artifacts/browser \
	  node --test --test-concurrency=1 $(CLIENT_DIR)/e2e/

# make dev serves the demo page: build it first.
dev: demo

TEST_TARGETS += test-browser
