package main

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/omnisales/rtcollab/internal/changefeed"
	"github.com/omnisales/rtcollab/internal/doc"
)

// Replica is the order service's own copy of each order, kept up to date
// from rtcollab.Change events. EventBridge delivers at least once and in
// no particular order, so it applies an order's changes strictly by
// version: a version it has applied is a repeat and is dropped; a version
// ahead of the next one waits until the gap is filled. It is safe for
// concurrent use.
type Replica struct {
	mu     sync.Mutex
	orders map[string]*order
}

type order struct {
	doc     map[string]any
	version int64            // the last version applied
	waiting map[int64]doc.Op // versions that arrived ahead of a gap
}

// NewReplica returns an empty replica.
func NewReplica() *Replica { return &Replica{orders: map[string]*order{}} }

// Apply applies one change event and every waiting one it unblocks.
func (r *Replica) Apply(ev changefeed.Event) error {
	var c struct {
		Op doc.Op `json:"op"`
	}
	if err := json.Unmarshal(ev.Change, &c); err != nil {
		return fmt.Errorf("event %s: %w", ev.ID, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := ev.Tenant + "/" + ev.EntityID
	o := r.orders[key]
	if o == nil {
		o = &order{doc: map[string]any{}, waiting: map[int64]doc.Op{}}
		r.orders[key] = o
	}
	if ev.Version <= o.version {
		return nil // a repeat
	}
	o.waiting[ev.Version] = c.Op
	for {
		op, ok := o.waiting[o.version+1]
		if !ok {
			return nil
		}
		next, err := doc.Apply(o.doc, op)
		if err != nil {
			return fmt.Errorf("order %s version %d: %w", key, o.version+1, err)
		}
		delete(o.waiting, o.version+1)
		o.doc, o.version = next, o.version+1
	}
}

// Order returns a copy of the order's document and the version it is at.
func (r *Replica) Order(tenant, id string) (map[string]any, int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.orders[tenant+"/"+id]
	if o == nil {
		return map[string]any{}, 0
	}
	b, _ := json.Marshal(o.doc)
	d, _ := doc.Decode(b)
	return d, o.version
}
