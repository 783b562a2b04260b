// Package cost estimates what the deployed backend costs per delivered
// message: API Gateway WebSocket messages and connection minutes, Lambda
// requests and compute, and DynamoDB on-demand read and write units.
//
// The DynamoDB units of a workload come from measurement (the request
// accounting of tools/loadtest against a DynamoDB endpoint) or from the
// sizing rules in units.go; the prices are AWS list prices that callers may
// override.
//
// Entry points: DefaultPrices, Estimate, and the sizing helpers ReadUnits,
// WriteUnits and ItemSize.
package cost

import (
	"fmt"
	"math"
	"time"
)

// Prices are AWS list prices in US dollars (us-east-1, first pricing tier).
// DefaultPrices returns them; a zero field in a Prices passed to Estimate
// is taken as zero, not as its default.
type Prices struct {
	// APIGatewayPerMillionMessages is the price of a million WebSocket
	// messages, sent or received. Default 1.00.
	APIGatewayPerMillionMessages float64
	// APIGatewayMessageUnitBytes is the metering unit of a message: a
	// message is billed as ceil(size / unit) messages. Default 32768 (32 KB).
	APIGatewayMessageUnitBytes int
	// APIGatewayPerMillionConnectionMinutes is the price of a million
	// connection minutes. Default 0.25.
	APIGatewayPerMillionConnectionMinutes float64
	// LambdaPerMillionRequests is the price of a million invocations.
	// Default 0.20.
	LambdaPerMillionRequests float64
	// LambdaPerGBSecond is the compute price of arm64 functions. Default
	// 0.0000133334.
	LambdaPerGBSecond float64
	// DynamoDBPerMillionWriteUnits is the on-demand price of a million
	// write request units. Default 0.625.
	DynamoDBPerMillionWriteUnits float64
	// DynamoDBPerMillionReadUnits is the on-demand price of a million read
	// request units. Default 0.125.
	DynamoDBPerMillionReadUnits float64
}

// DefaultPrices returns the list prices the model uses unless told
// otherwise.
func DefaultPrices() Prices {
	return Prices{
		APIGatewayPerMillionMessages:          1.00,
		APIGatewayMessageUnitBytes:            32 * 1024,
		APIGatewayPerMillionConnectionMinutes: 0.25,
		LambdaPerMillionRequests:              0.20,
		LambdaPerGBSecond:                     0.0000133334,
		DynamoDBPerMillionWriteUnits:          0.625,
		DynamoDBPerMillionReadUnits:           0.125,
	}
}

// Publish describes one publish: one client frame that the message
// function fans out to Fanout subscribers. Every count is per publish.
type Publish struct {
	// Fanout is the number of subscribers that receive the message. Must
	// be at least 1.
	Fanout int
	// MessageBytes is the size of each delivered frame. Must be at least 1.
	MessageBytes int
	// RequestBytes is the size of the publish frame the client sends.
	// Default MessageBytes.
	RequestBytes int
	// ReplyBytes is the size of the acknowledgement returned to the
	// publisher; 0 means the publisher gets no reply frame. The backend
	// always replies, with about 200 bytes.
	ReplyBytes int
	// ReadUnits and WriteUnits are the DynamoDB request units the publish
	// consumes (measured, or from PublishReadUnits).
	ReadUnits, WriteUnits float64
	// Invocations is the number of Lambda invocations: 1, plus one per
	// fan-out shard delivered by another invocation. Default 1.
	Invocations float64
	// LambdaMemoryMB is the configured memory of the function. Default 256
	// (template.yaml).
	LambdaMemoryMB int
	// LambdaBilled is the billed duration of all invocations together
	// (Lambda bills per millisecond, rounded up per invocation).
	LambdaBilled time.Duration
	// ConnectionMinutesPerDelivery attributes API Gateway connection time
	// to each delivered message: 1/(messages a connection receives per
	// minute). Default 0: connection minutes are left out.
	ConnectionMinutesPerDelivery float64
}

// Breakdown is the cost of a workload in dollars per million delivered
// messages, by service.
type Breakdown struct {
	// Messages is API Gateway's messaging charge: the delivered frames,
	// plus the publish frame and its reply shared among the deliveries.
	Messages float64
	// ConnectionMinutes is API Gateway's connection charge attributed to
	// the deliveries (0 unless ConnectionMinutesPerDelivery is set).
	ConnectionMinutes float64
	// LambdaRequests and LambdaCompute are Lambda's request and GB-second
	// charges.
	LambdaRequests, LambdaCompute float64
	// DynamoDBReads and DynamoDBWrites are DynamoDB's on-demand charges.
	DynamoDBReads, DynamoDBWrites float64
	// Total is the sum of the above.
	Total float64
	// Floor is what API Gateway charges for the delivered frames alone:
	// no design that delivers through API Gateway can cost less.
	Floor float64
	// Overhead is (Lambda + DynamoDB) / Messages: the share that the
	// backend adds on top of API Gateway's messaging charge.
	Overhead float64
}

// Messages returns the number of billed API Gateway messages for one
// message of size bytes under p's metering unit (at least 1).
func (p Prices) Messages(bytes int) float64 {
	unit := p.APIGatewayMessageUnitBytes
	if unit <= 0 {
		unit = 32 * 1024
	}
	if bytes <= 0 {
		return 1
	}
	return float64((bytes + unit - 1) / unit)
}

// BilledDuration returns the Lambda billed duration of one invocation
// that ran for d: d rounded up to the next millisecond.
func BilledDuration(d time.Duration) time.Duration {
	return time.Duration(math.Ceil(float64(d)/float64(time.Millisecond))) * time.Millisecond
}

// Estimate returns the cost of w under p per million delivered messages.
func Estimate(w Publish, p Prices) (Breakdown, error) {
	if w.Fanout < 1 {
		return Breakdown{}, fmt.Errorf("estimate cost: fan-out %d: want at least 1", w.Fanout)
	}
	if w.MessageBytes < 1 {
		return Breakdown{}, fmt.Errorf("estimate cost: message size %d: want at least 1 byte", w.MessageBytes)
	}
	if w.RequestBytes <= 0 {
		w.RequestBytes = w.MessageBytes
	}
	if w.Invocations <= 0 {
		w.Invocations = 1
	}
	if w.LambdaMemoryMB <= 0 {
		w.LambdaMemoryMB = 256
	}
	// Everything below is dollars per publish until the final scaling.
	fanout := float64(w.Fanout)
	delivered := fanout * p.Messages(w.MessageBytes)
	inbound := p.Messages(w.RequestBytes)
	var reply float64
	if w.ReplyBytes > 0 {
		reply = p.Messages(w.ReplyBytes)
	}
	perMsg := p.APIGatewayPerMillionMessages / 1e6
	var b Breakdown
	b.Messages = (delivered + inbound + reply) * perMsg
	b.Floor = delivered * perMsg
	b.ConnectionMinutes = w.ConnectionMinutesPerDelivery * fanout * p.APIGatewayPerMillionConnectionMinutes / 1e6
	b.LambdaRequests = w.Invocations * p.LambdaPerMillionRequests / 1e6
	gbSeconds := float64(w.LambdaMemoryMB) / 1024 * w.LambdaBilled.Seconds()
	b.LambdaCompute = gbSeconds * p.LambdaPerGBSecond
	b.DynamoDBReads = w.ReadUnits * p.DynamoDBPerMillionReadUnits / 1e6
	b.DynamoDBWrites = w.WriteUnits * p.DynamoDBPerMillionWriteUnits / 1e6

	// Per million delivered messages: scale by 1e6 / fan-out.
	scale := 1e6 / fanout
	for _, f := range []*float64{&b.Messages, &b.Floor, &b.ConnectionMinutes, &b.LambdaRequests,
		&b.LambdaCompute, &b.DynamoDBReads, &b.DynamoDBWrites} {
		*f *= scale
	}
	b.Total = b.Messages + b.ConnectionMinutes + b.LambdaRequests + b.LambdaCompute + b.DynamoDBReads + b.DynamoDBWrites
	if b.Messages > 0 {
		b.Overhead = (b.LambdaRequests + b.LambdaCompute + b.DynamoDBReads + b.DynamoDBWrites) / b.Messages
	}
	return b, nil
}

// Duration models the wall time of one invocation that fans a message out
// to fanout subscribers: base (the store reads and the handler's own work)
// plus one post latency per round of concurrency posts.
func Duration(fanout, concurrency int, base, post time.Duration) time.Duration {
	if concurrency < 1 {
		concurrency = 1
	}
	rounds := (fanout + concurrency - 1) / concurrency
	return base + time.Duration(rounds)*post
}
