package cost

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Item sizes of the DynamoDB store, in metered bytes, as measured by
// `make cost` (the capacity scenario of tools/loadtest against moto,
// sized with ItemSize): the connection item of a dev identity and its
// subscription item of a channel named like "order:cap-solo".
const (
	DefaultConnItemBytes = 257
	DefaultSubItemBytes  = 123
)

// PublishParams describe a publish for EstimatePublish. Zero fields take
// the defaults noted.
type PublishParams struct {
	// Fanout is the number of subscribers. Required.
	Fanout int
	// MessageBytes is the size of each delivered frame. Required.
	MessageBytes int
	// ReplyBytes is the size of the acknowledgement. Default 200.
	ReplyBytes int
	// ShardSize splits the fan-out over ceil(Fanout/ShardSize)
	// invocations; 0 means one invocation posts to everyone.
	ShardSize int
	// ReadUnits and WriteUnits are measured request units per publish.
	// Default 0: modelled with PublishReadUnits and the item sizes; a
	// publish writes nothing.
	ReadUnits, WriteUnits float64
	// ConnItemBytes and SubItemBytes are the item sizes the model reads.
	// Default DefaultConnItemBytes and DefaultSubItemBytes.
	ConnItemBytes, SubItemBytes int
	// PageSize is the subscriptions read per Query. Default 500.
	PageSize int
	// Concurrency is the posts in flight per invocation. Default 512
	// (broadcast.DefaultConcurrency).
	Concurrency int
	// BaseDuration is an invocation's time outside posting (store reads,
	// decoding, the reply). Default 10 ms.
	BaseDuration time.Duration
	// PostLatency is one PostToConnection round trip. Default 20 ms.
	PostLatency time.Duration
	// LambdaMemoryMB is the function's memory. Default 256.
	LambdaMemoryMB int
	// ConnectionMinutesPerDelivery attributes connection time to each
	// delivery. Default 0 (left out).
	ConnectionMinutesPerDelivery float64
	// ModelLambda prices Lambda time with the model (BaseDuration plus
	// PostLatency per round of Concurrency posts) even where the emulator
	// measurement applies (MeasuredBilled). Default false: measured where
	// it applies.
	ModelLambda bool
	// History prices a publish on a channel with history: the writes of
	// HistoryWriteUnits for a payload of MessageBytes (added unless
	// WriteUnits is measured), and with HistoryCold the reads of
	// HistoryReadUnits. Default false: no history.
	History, HistoryCold bool
}

// PublishEstimate is what EstimatePublish returns.
type PublishEstimate struct {
	// Params are the parameters with their defaults applied.
	Params PublishParams
	// Publish is the per-publish usage the estimate was computed from.
	Publish Publish
	// ReadUnitsModelled reports whether ReadUnits came from the model
	// rather than from a measurement.
	ReadUnitsModelled bool
	// BilledMeasured reports whether the billed Lambda time came from the
	// emulator measurement (MeasuredBilled) rather than the model.
	BilledMeasured bool
	// Cost is the result per million delivered messages.
	Cost Breakdown
}

// EstimatePublish models one publish (Lambda invocations and billed time,
// DynamoDB units when not measured) and prices it per million deliveries.
func EstimatePublish(p PublishParams, prices Prices) (PublishEstimate, error) {
	if p.ReplyBytes <= 0 {
		p.ReplyBytes = 200
	}
	if p.ConnItemBytes <= 0 {
		p.ConnItemBytes = DefaultConnItemBytes
	}
	if p.SubItemBytes <= 0 {
		p.SubItemBytes = DefaultSubItemBytes
	}
	if p.PageSize <= 0 {
		p.PageSize = 500
	}
	if p.Concurrency <= 0 {
		p.Concurrency = 512
	}
	if p.BaseDuration <= 0 {
		p.BaseDuration = 10 * time.Millisecond
	}
	if p.PostLatency <= 0 {
		p.PostLatency = 20 * time.Millisecond
	}
	if p.LambdaMemoryMB <= 0 {
		p.LambdaMemoryMB = 256
	}
	e := PublishEstimate{Params: p}
	if p.Fanout < 1 {
		return e, fmt.Errorf("estimate publish: fan-out %d: want at least 1", p.Fanout)
	}
	w := Publish{Fanout: p.Fanout, MessageBytes: p.MessageBytes, ReplyBytes: p.ReplyBytes,
		ReadUnits: p.ReadUnits, WriteUnits: p.WriteUnits, LambdaMemoryMB: p.LambdaMemoryMB,
		ConnectionMinutesPerDelivery: p.ConnectionMinutesPerDelivery}
	if w.ReadUnits == 0 && w.WriteUnits == 0 {
		w.ReadUnits = PublishReadUnits(p.Fanout, p.PageSize, p.ConnItemBytes, p.SubItemBytes)
		e.ReadUnitsModelled = true
	}
	if p.History && p.WriteUnits == 0 {
		w.WriteUnits = HistoryWriteUnits(p.MessageBytes)
		if p.HistoryCold {
			w.ReadUnits += HistoryReadUnits(p.MessageBytes)
		}
	}
	// Shards: each invocation posts to at most ShardSize recipients; the
	// coordinator also pays for reading the list and dispatching.
	shard := p.Fanout
	if p.ShardSize > 0 && p.ShardSize < p.Fanout {
		shard = p.ShardSize
	}
	e.BilledMeasured = !p.ModelLambda
	for left := p.Fanout; left > 0; left -= shard {
		n := min(left, shard)
		w.Invocations++
		if d, ok := MeasuredBilled(n, p.LambdaMemoryMB, p.PostLatency); ok && !p.ModelLambda {
			w.LambdaBilled += d
			continue
		}
		e.BilledMeasured = false
		w.LambdaBilled += BilledDuration(Duration(n, p.Concurrency, p.BaseDuration, p.PostLatency))
	}
	e.Publish = w
	b, err := Estimate(w, prices)
	if err != nil {
		return e, err
	}
	e.Cost = b
	return e, nil
}

// Print writes e as a small table.
func Print(w io.Writer, e PublishEstimate) {
	p, u, c := e.Params, e.Publish, e.Cost
	units := "measured"
	if e.ReadUnitsModelled {
		units = fmt.Sprintf("modelled: %d B connection item, %d B subscription items", p.ConnItemBytes, p.SubItemBytes)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "cost per million delivered messages\tfan-out %d, %d B frames\n", p.Fanout, p.MessageBytes)
	fmt.Fprintf(tw, "  API Gateway messages\t$%.4f\t(floor for the deliveries alone: $%.4f)\n", c.Messages, c.Floor)
	if c.ConnectionMinutes > 0 {
		fmt.Fprintf(tw, "  API Gateway connection minutes\t$%.4f\n", c.ConnectionMinutes)
	}
	fmt.Fprintf(tw, "  Lambda requests\t$%.4f\t(%.0f invocations per publish)\n", c.LambdaRequests, u.Invocations)
	billed := "modelled"
	if e.BilledMeasured {
		billed = "measured under the Lambda emulator"
	}
	fmt.Fprintf(tw, "  Lambda compute\t$%.4f\t(%d MB, %v billed per publish, %s)\n", c.LambdaCompute, u.LambdaMemoryMB, u.LambdaBilled, billed)
	fmt.Fprintf(tw, "  DynamoDB reads\t$%.4f\t(%.1f RRU per publish, %s)\n", c.DynamoDBReads, u.ReadUnits, units)
	fmt.Fprintf(tw, "  DynamoDB writes\t$%.4f\t(%.1f WRU per publish)\n", c.DynamoDBWrites, u.WriteUnits)
	fmt.Fprintf(tw, "  total\t$%.4f\t(Lambda + DynamoDB add %.1f%% to API Gateway's messaging)\n", c.Total, 100*c.Overhead)
	tw.Flush()
}
