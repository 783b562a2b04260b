// Command cost prints what the deployed backend costs per million
// delivered messages, by fan-out, for a message size: API Gateway
// messages, Lambda requests and compute, DynamoDB reads and writes, and
// the floor that API Gateway's messaging price sets (tools/cost).
//
// With -measure (or DYNAMODB_TEST_ENDPOINT / DYNAMODB_ENDPOINT set) it
// first runs the capacity scenario of tools/loadtest against that
// DynamoDB endpoint (moto under `make cost`), prints the request units of
// each operation, and prices the measured fan-outs with the measured read
// units; other fan-outs use the sizing model with the measured item sizes.
//
//	make cost
//	go run ./cmd/cost -fanout 10 -bytes 1024
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/tools/cost"
	"github.com/omnisales/rtcollab/tools/loadtest"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "cost:", err)
		os.Exit(1)
	}
}

// result is the JSON output.
type result struct {
	Capacity  *loadtest.CapacityReport `json:"capacity,omitempty"`
	Estimates []cost.PublishEstimate   `json:"estimates"`
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fanouts := fs.String("fanout", "1,10,100,1000,10000", "comma-separated fan-outs to price")
	bytes := fs.Int("bytes", 1024, "size of each delivered frame in bytes")
	shard := fs.Int("shard-size", broadcast.DefaultShardSize, "recipients per invocation before the fan-out is sharded (0: never)")
	mem := fs.Int("memory", 256, "Lambda memory in MB")
	base := fs.Duration("base", 10*time.Millisecond, "invocation time besides posting")
	post := fs.Duration("post-latency", 20*time.Millisecond, "one PostToConnection round trip")
	conc := fs.Int("concurrency", 512, "posts in flight per invocation (the model's)")
	connMin := fs.Float64("connection-minutes", 0, "connection minutes attributed to each delivery (e.g. 1 for a client that receives one message a minute)")
	measure := fs.String("measure", "", "DynamoDB endpoint to measure request units against (default $DYNAMODB_TEST_ENDPOINT or $DYNAMODB_ENDPOINT; \"none\" to skip)")
	measureFanouts := fs.String("measure-fanout", "1,10,100", "fan-outs to measure against the endpoint")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	lambdaModel := fs.Bool("lambda-model", false, "price Lambda time with the model (-base, -post-latency, -concurrency) even where the emulator measurement (make bench-rie) applies")
	history := fs.Bool("history", false, "price publishes on a channel with history (the writes of cost.HistoryWriteUnits for a payload of -bytes)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	list, err := ints(*fanouts)
	if err != nil {
		return fmt.Errorf("-fanout: %w", err)
	}
	endpoint := *measure
	if endpoint == "" {
		endpoint = getenv("DYNAMODB_TEST_ENDPOINT")
	}
	if endpoint == "" {
		endpoint = getenv("DYNAMODB_ENDPOINT")
	}
	var res result
	params := cost.PublishParams{MessageBytes: *bytes, ShardSize: *shard, LambdaMemoryMB: *mem, BaseDuration: *base,
		PostLatency: *post, Concurrency: *conc, ConnectionMinutesPerDelivery: *connMin, History: *history, ModelLambda: *lambdaModel}
	measured := map[int]float64{}
	if endpoint != "" && endpoint != "none" {
		mf, err := ints(*measureFanouts)
		if err != nil {
			return fmt.Errorf("-measure-fanout: %w", err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
		defer cancel()
		fmt.Fprintf(stderr, "measuring DynamoDB request units against %s\n", endpoint)
		rep, err := loadtest.MeasureCapacity(ctx, loadtest.CapacityConfig{Endpoint: endpoint, Fanouts: mf, MessageBytes: *bytes,
			Logf: func(format string, args ...any) { fmt.Fprintf(stderr, "  "+format+"\n", args...) }})
		if err != nil {
			return err
		}
		res.Capacity = &rep
		printCapacity(stdout, rep)
		params.ConnItemBytes, params.SubItemBytes = rep.ConnItemBytes, rep.SubItemBytes
		for _, n := range mf {
			if s, ok := rep.Step(loadtest.PublishStepName(n)); ok {
				measured[n] = s.ReadUnits
			}
		}
	}
	fmt.Fprintf(stdout, "\nCost per million delivered messages: %d B frames, %d MB Lambda, shards of %d\n", *bytes, *mem, *shard)
	if _, ok := cost.MeasuredBilled(1, *mem, *post); ok && !*lambdaModel {
		fmt.Fprintf(stdout, "billed Lambda time: measured under the Lambda emulator at %v per post (make bench-rie), between the fan-outs measured\n", *post)
	} else {
		fmt.Fprintf(stdout, "billed Lambda time: modelled, %v + %v per round of %d posts\n", *base, *post, *conc)
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "fan-out\tRRU/publish\tWRU/publish\tunits\tinvocations\tbilled/publish\tAPI Gateway\tLambda\tDynamoDB\ttotal\tfloor\toverhead\t")
	for _, n := range list {
		p := params
		p.Fanout = n
		src := "model"
		if ru, ok := measured[n]; ok {
			p.ReadUnits, src = ru, "measured"
		}
		e, err := cost.EstimatePublish(p, cost.DefaultPrices())
		if err != nil {
			return err
		}
		res.Estimates = append(res.Estimates, e)
		c := e.Cost
		fmt.Fprintf(tw, "%d\t%.1f\t%.1f\t%s\t%.0f\t%v\t$%.4f\t$%.4f\t$%.4f\t$%.4f\t$%.4f\t%.1f%%\t\n", n, e.Publish.ReadUnits, e.Publish.WriteUnits, src,
			e.Publish.Invocations, e.Publish.LambdaBilled, c.Messages+c.ConnectionMinutes, c.LambdaRequests+c.LambdaCompute,
			c.DynamoDBReads+c.DynamoDBWrites, c.Total, c.Floor, 100*c.Overhead)
	}
	tw.Flush()
	fmt.Fprintln(stdout, "\nfloor: API Gateway's $1.00 per million messages (per 32 KB) for the deliveries alone;")
	fmt.Fprintln(stdout, "overhead: Lambda + DynamoDB as a share of API Gateway's messaging charge (publish frame, reply and deliveries).")
	if *jsonOut != "" {
		b, err := json.MarshalIndent(res, "", "  ")
		if err != nil {
			return fmt.Errorf("encode results: %w", err)
		}
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fmt.Errorf("write %q: %w", *jsonOut, err)
		}
	}
	return nil
}

func printCapacity(w io.Writer, rep loadtest.CapacityReport) {
	fmt.Fprintf(w, "DynamoDB usage per operation (item sizes: connection %d B, subscription %d B)\n", rep.ConnItemBytes, rep.SubItemBytes)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "operation\trequests\tcalls\tRRU\tWRU\tmoto CU\tnote")
	for _, s := range rep.Steps {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.1f\t%.1f\t%.1f\t%s\n", s.Name, s.Requests, s.FormatCalls(), s.ReadUnits, s.WriteUnits, s.MotoUnits, s.Note)
	}
	tw.Flush()
}

func ints(list string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	return out, nil
}
