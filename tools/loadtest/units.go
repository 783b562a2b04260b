package loadtest

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/tools/cost"
)

// Units is an SDK middleware that computes, for every DynamoDB call, the
// read and write request units DynamoDB would charge, from the sizes of
// the items involved and the documented sizing rules (tools/cost):
// emulators such as moto report no or fixed capacity, so the units are
// worked out here instead.
//
// Reads are sized from the items returned (a GetItem or BatchGetItem key
// that finds nothing costs one unit; Query and Scan pages are rounded up
// as a whole). Writes need the item before and after: Units reads them
// through a second client (Oracle), which must not carry this
// middleware; those reads are not counted. It is meant for measurement
// runs that issue one request at a time. It is safe for concurrent use;
// the zero value counts nothing until Oracle is set.
type Units struct {
	// Oracle reads items before and after writes. Required.
	Oracle *dynamodb.Client

	mu  sync.Mutex
	ops map[string]UnitStats
}

// UnitStats are the computed units of one DynamoDB operation name.
type UnitStats struct {
	Calls      int64   `json:"calls"`
	ReadUnits  float64 `json:"readUnits"`
	WriteUnits float64 `json:"writeUnits"`
}

// Options returns a client option that installs the middleware.
func (u *Units) Options() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, u.install)
	}
}

// Snapshot returns the units per operation name so far.
func (u *Units) Snapshot() map[string]UnitStats {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]UnitStats, len(u.ops))
	for k, v := range u.ops {
		out[k] = v
	}
	return out
}

func (u *Units) add(op string, read, write float64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.ops == nil {
		u.ops = map[string]UnitStats{}
	}
	st := u.ops[op]
	st.Calls++
	st.ReadUnits += read
	st.WriteUnits += write
	u.ops[op] = st
}

func (u *Units) install(stack *middleware.Stack) error {
	op := stack.ID()
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("rtcollabUnits",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			before := u.sizesBefore(ctx, in.Parameters)
			out, md, err := next.HandleInitialize(ctx, in)
			// A failed conditional write is charged too; a failed read is
			// not.
			if ts, _ := targets(in.Parameters); err == nil || ts != nil {
				read, write := u.units(ctx, in.Parameters, out.Result, before)
				u.add(op, read, write)
			}
			return out, md, err
		}), middleware.After)
}

// writeTarget is one item a write touches.
type writeTarget struct {
	table string
	key   map[string]types.AttributeValue
	put   map[string]types.AttributeValue // the new item of a Put
}

// targets lists the items a write request touches, or nil for a read.
func targets(params any) (ts []writeTarget, transactional bool) {
	switch in := params.(type) {
	case *dynamodb.PutItemInput:
		return []writeTarget{{table: aws.ToString(in.TableName), key: in.Item, put: in.Item}}, false
	case *dynamodb.UpdateItemInput:
		return []writeTarget{{table: aws.ToString(in.TableName), key: in.Key}}, false
	case *dynamodb.DeleteItemInput:
		return []writeTarget{{table: aws.ToString(in.TableName), key: in.Key}}, false
	case *dynamodb.BatchWriteItemInput:
		for table, reqs := range in.RequestItems {
			for _, r := range reqs {
				switch {
				case r.PutRequest != nil:
					ts = append(ts, writeTarget{table: table, key: r.PutRequest.Item, put: r.PutRequest.Item})
				case r.DeleteRequest != nil:
					ts = append(ts, writeTarget{table: table, key: r.DeleteRequest.Key})
				}
			}
		}
		return ts, false
	case *dynamodb.TransactWriteItemsInput:
		for _, a := range in.TransactItems {
			switch {
			case a.Put != nil:
				ts = append(ts, writeTarget{table: aws.ToString(a.Put.TableName), key: a.Put.Item, put: a.Put.Item})
			case a.Update != nil:
				ts = append(ts, writeTarget{table: aws.ToString(a.Update.TableName), key: a.Update.Key})
			case a.Delete != nil:
				ts = append(ts, writeTarget{table: aws.ToString(a.Delete.TableName), key: a.Delete.Key})
			case a.ConditionCheck != nil:
				ts = append(ts, writeTarget{table: aws.ToString(a.ConditionCheck.TableName), key: a.ConditionCheck.Key})
			}
		}
		return ts, true
	}
	return nil, false
}

// keyOnly keeps the table's key attributes of an item.
func keyOnly(it map[string]types.AttributeValue) map[string]types.AttributeValue {
	k := map[string]types.AttributeValue{}
	for _, name := range []string{store.AttrPK, store.AttrSK} {
		if v, ok := it[name]; ok {
			k[name] = v
		}
	}
	return k
}

// size reads one item through the oracle and returns its size (0 when
// absent or unreadable).
func (u *Units) size(ctx context.Context, table string, key map[string]types.AttributeValue) int {
	if u.Oracle == nil {
		return 0
	}
	out, err := u.Oracle.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: keyOnly(key), ConsistentRead: aws.Bool(true)})
	if err != nil || out.Item == nil {
		return 0
	}
	return cost.ItemSize(out.Item)
}

func (u *Units) sizesBefore(ctx context.Context, params any) []int {
	ts, _ := targets(params)
	sizes := make([]int, len(ts))
	for i, t := range ts {
		sizes[i] = u.size(ctx, t.table, t.key)
	}
	return sizes
}

func consistency(consistent *bool) cost.Consistency {
	if aws.ToBool(consistent) {
		return cost.Strong
	}
	return cost.Eventual
}

// units computes the read and write units of one successful call.
func (u *Units) units(ctx context.Context, params, result any, before []int) (read, write float64) {
	if ts, transactional := targets(params); ts != nil {
		for i, t := range ts {
			n := before[i]
			if t.put != nil {
				n = max(n, cost.ItemSize(t.put))
			} else {
				n = max(n, u.size(ctx, t.table, t.key))
			}
			write += cost.WriteUnits(n, transactional)
		}
		return 0, write
	}
	switch in := params.(type) {
	case *dynamodb.GetItemInput:
		out, _ := result.(*dynamodb.GetItemOutput)
		n := 0
		if out != nil {
			n = cost.ItemSize(out.Item)
		}
		return cost.ReadUnits(n, consistency(in.ConsistentRead)), 0
	case *dynamodb.BatchGetItemInput:
		out, _ := result.(*dynamodb.BatchGetItemOutput)
		for table, ka := range in.RequestItems {
			found := map[string]int{}
			if out != nil {
				for _, it := range out.Responses[table] {
					found[keyString(it)] = cost.ItemSize(it)
				}
			}
			for _, k := range ka.Keys {
				read += cost.ReadUnits(found[keyString(k)], consistency(ka.ConsistentRead))
			}
		}
		return read, 0
	case *dynamodb.QueryInput:
		out, _ := result.(*dynamodb.QueryOutput)
		var items []map[string]types.AttributeValue
		if out != nil {
			items = out.Items
		}
		if in.ProjectionExpression != nil && out != nil {
			items = u.wholeItems(ctx, in, items)
		}
		n := 0
		for _, it := range items {
			n += cost.ItemSize(it)
		}
		return cost.ReadUnits(n, consistency(in.ConsistentRead)), 0
	case *dynamodb.ScanInput:
		out, _ := result.(*dynamodb.ScanOutput)
		n := 0
		if out != nil {
			for _, it := range out.Items {
				n += cost.ItemSize(it)
			}
		}
		return cost.ReadUnits(n, consistency(in.ConsistentRead)), 0
	}
	return 0, 0
}

// wholeItems returns the whole items a Query with a projection read:
// DynamoDB charges it by the size of the items it reads, not of the
// attributes it returns. It sends the same Query without the projection
// through the oracle; when that fails it returns the projected items.
func (u *Units) wholeItems(ctx context.Context, in *dynamodb.QueryInput, projected []map[string]types.AttributeValue) []map[string]types.AttributeValue {
	if u.Oracle == nil {
		return projected
	}
	q := *in
	q.ProjectionExpression, q.Select, q.ReturnConsumedCapacity = nil, "", ""
	out, err := u.Oracle.Query(ctx, &q)
	if err != nil || len(out.Items) != len(projected) {
		return projected
	}
	return out.Items
}

// keyString identifies an item by its pk and sk strings.
func keyString(it map[string]types.AttributeValue) string {
	s := func(name string) string {
		if v, ok := it[name].(*types.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	return s(store.AttrPK) + "\x00" + s(store.AttrSK)
}
