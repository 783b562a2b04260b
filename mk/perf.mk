# perf.mk: load runs, benchmarks, the DynamoDB cost model and the charts of
# docs/BENCHMARKS.md. None of these is part of `make test` (the short
# exactly-once load run is: internal/e2e TestLoadExactlyOnce). Every
# run targets loopback and stops by itself.
#
#   make load         a longer mixed run against an in-process local server
#   make load-1000    one channel of 1,000 subscribers, 2 publishes a second
#   make load-idle    10,000 idle connections held by a separate server process (RSS)
#   make load-shard   20,000 subscribers (1,000 real WebSockets + 19,000 simulated),
#                     sharded fan-out, 20 ms per post; SHARD_SIZE=0 for no sharding
#   make load-shard-real  9,000 real WebSocket subscribers, sharded, 20 ms per post
#   make load-deployed  1,000 subscribers on the signed HTTP path, 20 ms per post,
#                     paced at the account's budget (10,000/s, bursts of 5,000)
#   make bench        go test -bench: decode, signing, signed posts, dispatch, fan-out, OT, CRDT,
#                     and a fan-out's subscriber pages on moto
#   make bench-scan   this design's read units against the Scan design, on moto
#   make bench-rie    billed duration of a publish: the message bootstrap under the
#                     Lambda emulator, on moto, 20 ms per post, fan-out 10, 100 and
#                     1,000, with the CPU share of 256, 512 and 1,024 MB where cgroup
#                     v1's CPU controller is writable (about 2 minutes); writes
#                     tools/cost/measured/rie-billed.json, which make cost prices with
#   make bench-first-publish  the posting side of a publish to 1,000 over TLS (the real
#                     Management API client, 512 in flight, 20 ms per post, a server in
#                     another process): the first publish of a new client and 20 warm
#                     ones, with the CPU share of 256, 512, 1,024 and 1,769 MB where
#                     cgroup v1's CPU controller is writable (under a minute)
#   make compare-centrifugo  the local server's direct path against Centrifugo v6 with the
#                     same client (cmd/peerbench), 1,000 subscribers at 20, 100 and 200
#                     publishes a second (scripts/peer-compare.sh; SUBS, RATES, DURATION)
#   make cost         DynamoDB units per operation on moto, then dollars per
#                     million delivered messages by fan-out
#   make plots        the latency and throughput sweeps and their PNG charts
#
# LOAD_ARGS adds flags to every loadgen run (e.g. LOAD_ARGS=-json=out.json);
# COST_ARGS to the cost run (e.g. COST_ARGS="-bytes 4096 -fanout 10").

PERF_DIR  := bin/perf
LOADGEN   := $(PERF_DIR)/loadgen
LOAD_ARGS  ?=
COST_ARGS  ?=
# load-shard's shards: 2,000, not the template's 1,000, as 20 shards of 512 posts in
# flight would need more descriptors (both ends of every connection) than this
# process may open.
SHARD_SIZE ?= 2000

.PHONY: load load-1000 load-deployed load-idle load-shard load-shard-real bench bench-scan bench-rie bench-first-publish compare-centrifugo cost plots $(LOADGEN)

$(LOADGEN):
	@mkdir -p $(PERF_DIR)
	$(GO) build -o $@ ./cmd/loadgen

## load: 1,000 connections, 10 channels of 100, 20 publishes a second for 30 s.
load: $(LOADGEN)
	$(LOADGEN) -conns 1000 -channels 10 -fanout 100 -rate 20 -duration 30s $(LOAD_ARGS)

## load-1000: latency of publishes to 1,000 subscribers on loopback.
load-1000: $(LOADGEN)
	$(LOADGEN) -conns 1000 -channels 1 -fanout 1000 -rate 2 -duration 20s $(LOAD_ARGS)

## load-deployed: the last subscriber of 20 publishes to 1,000 over the signed HTTP
# Management API at 20 ms per post, within the account's budget (docs/BENCHMARKS.md,
# "Deployed path"), after one warm-up publish that opens the client's connections
# (its time is printed apart).
load-deployed: $(LOADGEN)
	$(LOADGEN) -conns 1000 -channels 1 -fanout 1000 -rate 1 -duration 21s -max-messages 21 -warmup 1 -mgmt-delay 20ms \
		-delivery-rate 10000 -delivery-burst 5000 -settle 20s $(LOAD_ARGS)

## load-idle: RSS of the local server holding 10,000 idle, subscribed connections.
load-idle: $(LOADGEN)
	$(LOADGEN) -server proc -conns 10000 -channels 100 -fanout 100 -rate 0 -duration 20s $(LOAD_ARGS)

## load-shard: one channel of 20,000, shards of SHARD_SIZE, 20 ms per Management API post.
# A process may hold at most 20,000 descriptors here (and a WebSocket costs
# one at each end), so 19,000 of the subscribers exist in the store only and
# the local Management API answers their posts itself after the delay; see
# docs/BENCHMARKS.md.
load-shard: $(LOADGEN)
	$(LOADGEN) -conns 1000 -channels 1 -fanout 1000 -simulated-subscribers 19000 -shard-size $(SHARD_SIZE) \
		-mgmt-delay 20ms -rate 0.05 -duration 45s -max-messages 3 -settle 60s $(LOAD_ARGS)

## load-shard-real: 9,000 real subscribers (server in its own process), shards of SHARD_SIZE.
load-shard-real: $(LOADGEN)
	$(LOADGEN) -server proc -conns 9000 -channels 1 -fanout 9000 -shard-size $(SHARD_SIZE) -mgmt-delay 20ms \
		-rate 0.2 -max-messages 3 -settle 60s -dial-concurrency 128 $(LOAD_ARGS)

## bench: the Go benchmarks.
bench: py-deps
	$(GO) test -run '^$$' -bench . -benchmem ./internal/protocol ./internal/awsrest ./internal/mgmtapi ./internal/handler ./internal/broadcast ./internal/ot ./internal/crdt ./internal/editing
	scripts/with-moto.sh $(GO) test -run '^$$' -bench Subscribers -benchtime 20x -benchmem ./internal/store/dynamo

## bench-scan: the Scan comparison on 10,000 connections over 100 channels (moto; minutes).
bench-scan: py-deps
	RTCOLLAB_SCAN_COMPARE=1 scripts/with-moto.sh $(GO) test -count=1 -timeout 30m -run TestScanDesignComparison -v ./tools/loadtest

## cost: measure request units on moto, then price them.
cost: py-deps
	scripts/with-moto.sh $(GO) run ./cmd/cost $(COST_ARGS)

## compare-centrifugo: see above. Centrifugo is built from the Go module proxy.
CENTRIFUGO_VERSION := v6.9.1
compare-centrifugo: localserver-bin
	@mkdir -p $(PERF_DIR)
	$(GO) build -o $(PERF_DIR)/peerbench ./cmd/peerbench
	test -x $(PERF_DIR)/centrifugo || GOBIN=$(CURDIR)/$(PERF_DIR) $(GO) install github.com/centrifugal/centrifugo/v6@$(CENTRIFUGO_VERSION)
	scripts/peer-compare.sh

## bench-first-publish: see above.
bench-first-publish:
	RTCOLLAB_FIRST_PUBLISH=1 $(GO) test -count=1 -run '^TestFirstPublishOverTLS$$' -v ./internal/e2e

## bench-rie: billed duration per publish under the Lambda emulator (see above).
bench-rie: rie-deps py-deps
	scripts/with-moto.sh env RIE_BILLED_OUT=$(CURDIR)/tools/cost/measured/rie-billed.json \
	  $(GO) test -count=1 -timeout 20m -run '^TestRIEBilledDuration$$' -v ./internal/e2e

## plots: docs/latency-vs-fanout.png and docs/throughput.png (a few minutes).
plots: $(LOADGEN)
	$(LOADGEN) -sweep-fanout 1,10,100,250,500,1000,2000 -rate 2 -duration 10s -progress 0 \
		-json $(PERF_DIR)/sweep-fanout.json -plot-latency docs/latency-vs-fanout.png $(LOAD_ARGS)
	$(LOADGEN) -conns 1000 -channels 10 -fanout 100 -sweep-rate 5,10,20,40,80,160 -duration 10s -progress 0 \
		-json $(PERF_DIR)/sweep-rate.json -plot-throughput docs/throughput.png \
		-plot-latency docs/latency-vs-load.png $(LOAD_ARGS)
