package dynamo

import (
	"context"
	"maps"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"
)

// OpStats is what a Counter recorded for one DynamoDB operation.
type OpStats struct {
	// Requests counts calls of the operation (one per API call, however
	// many attempts the retryer made).
	Requests int64
	// Attempts counts HTTP requests sent, retries included.
	Attempts int64
	// Errors counts calls that returned an error.
	Errors int64
	// CapacityUnits, ReadCapacityUnits and WriteCapacityUnits add up the
	// ConsumedCapacity that the responses reported (requests ask for it
	// with ReturnConsumedCapacity TOTAL; emulators may report none).
	CapacityUnits      float64
	ReadCapacityUnits  float64
	WriteCapacityUnits float64
}

// Counter is an SDK middleware that counts DynamoDB requests and consumed
// capacity per operation name ("Query", "PutItem", ...). It is safe for
// concurrent use; the zero value is ready to use.
type Counter struct {
	mu  sync.Mutex
	ops map[string]OpStats
}

// writeOp reports whether operation name writes items.
func writeOp(name string) bool {
	switch name {
	case "PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems", "ExecuteStatement",
		"BatchExecuteStatement", "ExecuteTransaction":
		return true
	}
	return false
}

// Options returns a client option that installs the counter on every
// operation, for dynamodb.NewFromConfig, NewClient or a single call.
func (c *Counter) Options() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, c.install)
	}
}

// Snapshot returns a copy of the statistics per operation name.
func (c *Counter) Snapshot() map[string]OpStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return maps.Clone(c.ops)
}

// Reset forgets everything counted so far.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ops = nil
}

// Writes returns the number of calls of operations that may write items
// (PutItem, UpdateItem, DeleteItem, BatchWriteItem, TransactWriteItems and
// the PartiQL statements).
func (c *Counter) Writes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n int64
	for name, st := range c.ops {
		if writeOp(name) {
			n += st.Requests
		}
	}
	return n
}

// install adds the counting middlewares to one operation's stack: one at
// the end of the initialize step (once per call, sees the typed output)
// and one at the end of the finalize step (inside the retry loop, once per
// attempt).
func (c *Counter) install(stack *middleware.Stack) error {
	name := stack.ID()
	err := stack.Initialize.Add(middleware.InitializeMiddlewareFunc("rtcollabCounter",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleInitialize(ctx, in)
			c.record(name, out.Result, err)
			return out, md, err
		}), middleware.After)
	if err != nil {
		return err
	}
	return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("rtcollabCounterAttempts",
		func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			c.update(name, func(st *OpStats) { st.Attempts++ })
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
}

// record counts one call of operation name with its result.
func (c *Counter) record(name string, result any, err error) {
	consumed := consumedCapacity(result)
	c.update(name, func(st *OpStats) {
		st.Requests++
		if err != nil {
			st.Errors++
		}
		for _, cc := range consumed {
			st.CapacityUnits += deref(cc.CapacityUnits)
			st.ReadCapacityUnits += deref(cc.ReadCapacityUnits)
			st.WriteCapacityUnits += deref(cc.WriteCapacityUnits)
		}
	})
}

func (c *Counter) update(name string, fn func(*OpStats)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ops == nil {
		c.ops = make(map[string]OpStats)
	}
	st := c.ops[name]
	fn(&st)
	c.ops[name] = st
}

// consumedCapacity returns the ConsumedCapacity entries of an operation
// output, if it has any.
func consumedCapacity(result any) []types.ConsumedCapacity {
	one := func(cc *types.ConsumedCapacity) []types.ConsumedCapacity {
		if cc == nil {
			return nil
		}
		return []types.ConsumedCapacity{*cc}
	}
	switch out := result.(type) {
	case *dynamodb.GetItemOutput:
		return one(out.ConsumedCapacity)
	case *dynamodb.PutItemOutput:
		return one(out.ConsumedCapacity)
	case *dynamodb.UpdateItemOutput:
		return one(out.ConsumedCapacity)
	case *dynamodb.DeleteItemOutput:
		return one(out.ConsumedCapacity)
	case *dynamodb.QueryOutput:
		return one(out.ConsumedCapacity)
	case *dynamodb.ScanOutput:
		return one(out.ConsumedCapacity)
	case *dynamodb.BatchGetItemOutput:
		return out.ConsumedCapacity
	case *dynamodb.BatchWriteItemOutput:
		return out.ConsumedCapacity
	case *dynamodb.TransactGetItemsOutput:
		return out.ConsumedCapacity
	case *dynamodb.TransactWriteItemsOutput:
		return out.ConsumedCapacity
	case *dynamodb.ExecuteStatementOutput:
		return one(out.ConsumedCapacity)
	}
	return nil
}

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}
