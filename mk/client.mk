# TypeScript client SDK in client/: install, build, check, test.
#
#   make client-deps       npm ci in client/ when node_modules is missing or
#                          package.json / package-lock.json changed
#   make client-build      tsc: client/src -> client/dist (ES modules + .d.ts)
#   make client-typecheck  tsc --noEmit over the sources and the tests
#   make test-client       all of the above, then vitest once (no watch)
#
# Needs Node.js >= 20.19 and npm; every package comes from package-lock.json.

CLIENT_DIR   := client
NPM          ?= npm
CLIENT_STAMP := $(CLIENT_DIR)/node_modules/.rtcollab-deps-stamp

.PHONY: client-deps client-build client-typecheck test-client

client-deps: $(CLIENT_STAMP)

# npm ci empties node_modules first, so the stamp is written after it.
$(CLIENT_STAMP): $(CLIENT_DIR)/package.json $(CLIENT_DIR)/package-lock.json
	cd $(CLIENT_DIR) && $(NPM) ci --no-audit --no-fund
	touch $@

client-build: client-deps
	cd $(CLIENT_DIR) && $(NPM) run --silent build

client-typecheck: client-deps
	cd $(CLIENT_DIR) && $(NPM) run --silent typecheck

test-client: client-build client-typecheck
	cd $(CLIENT_DIR) && $(NPM) test

TEST_TARGETS += test-client
