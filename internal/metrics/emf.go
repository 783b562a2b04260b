// Package metrics records per-invocation metrics and writes them as
// CloudWatch Embedded Metric Format (EMF) documents: one JSON line per
// invocation that CloudWatch Logs turns into metrics, with no API call and
// no agent.
//
// Entry points: New starts a Set for one invocation, With/From carry it in
// a context, Set.Add records values and Set.Flush writes the document.
package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every metric; the dashboard in
// template.yaml reads it.
const Namespace = "RTCollab"

// Unit is a CloudWatch metric unit.
type Unit string

// Units used by the backend.
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	Bytes        Unit = "Bytes"
)

// Metric names. The dashboard and alarms in template.yaml use them.
const (
	FramesIn        = "FramesIn"        // client frames handled
	FramesOut       = "FramesOut"       // frames posted through the Management API
	FanoutSize      = "FanoutSize"      // recipients of the invocation's broadcasts, summed
	GoneConnections = "GoneConnections" // recipients removed after a 410
	Conflicts       = "Conflicts"       // changes that met a concurrent change
	LockContention  = "LockContention"  // lock requests refused with LOCK_HELD
	Errors          = "Errors"          // requests answered with an error code
	SweepRemoved    = "SweepRemoved"    // items the sweeper removed, and TTL's removals it announced
	HandlerLatency  = "HandlerLatency"  // time spent in the handler
	// FanoutDeliveryErrors counts the recipients a broadcast did not
	// reach: failed posts (not gone connections) of the function that
	// posted them (message, publish, connect, disconnect, sweeper,
	// fan-out), and
	// every recipient of a fan-out shard that was refused whole. No
	// function fails its invocation for them (a retry would post twice),
	// so this metric and its alarm are where they show.
	FanoutDeliveryErrors = "FanoutDeliveryErrors"
)

// FunctionFanout is the Function dimension of the fan-out function's
// metrics.
const FunctionFanout = "fanout"

// FunctionPublish is the Function dimension of the metrics of backend
// services' publishes (the publish API and publish events).
const FunctionPublish = "publish"

// FunctionDisconnect is the Function dimension of $disconnect's metrics.
const FunctionDisconnect = "disconnect"

// FunctionConnect is the Function dimension of $connect's metrics.
const FunctionConnect = "connect"

// Set accumulates one invocation's metrics. It is safe for concurrent use
// (a broadcast adds from many goroutines). The zero value is not usable;
// a nil *Set ignores every call, so code may record without checking.
type Set struct {
	function string
	mu       sync.Mutex
	values   map[string]float64
	units    map[string]Unit
	props    map[string]any
}

// New starts a Set for one invocation of function (the Function dimension).
func New(function string) *Set {
	return &Set{function: function, values: map[string]float64{}, units: map[string]Unit{}, props: map[string]any{}}
}

// Add adds v to metric name, with unit.
func (s *Set) Add(name string, v float64, unit Unit) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.values[name] += v
	s.units[name] = unit
	s.mu.Unlock()
}

// Property attaches a searchable, non-metric field (request id, route).
func (s *Set) Property(key string, v any) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.props[key] = v
	s.mu.Unlock()
}

// Document builds the EMF document at time at. Only metrics that were added
// appear in it.
func (s *Set) Document(at time.Time) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.values))
	for n := range s.values {
		names = append(names, n)
	}
	sort.Strings(names)
	defs := make([]map[string]string, 0, len(names))
	doc := map[string]any{}
	for k, v := range s.props {
		doc[k] = v
	}
	for _, n := range names {
		defs = append(defs, map[string]string{"Name": n, "Unit": string(s.units[n])})
		doc[n] = s.values[n]
	}
	doc["Function"] = s.function
	doc["_aws"] = map[string]any{
		"Timestamp": at.UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace":  Namespace,
			"Dimensions": [][]string{{"Function"}},
			"Metrics":    defs,
		}},
	}
	return doc
}

// Flush writes the document as one JSON line to w. A Set with no metrics
// writes nothing.
func (s *Set) Flush(w io.Writer, at time.Time) error {
	if s == nil || w == nil {
		return nil
	}
	s.mu.Lock()
	empty := len(s.values) == 0
	s.mu.Unlock()
	if empty {
		return nil
	}
	b, err := json.Marshal(s.Document(at))
	if err != nil {
		return fmt.Errorf("encode EMF document: %w", err)
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

type ctxKey struct{}

// With returns ctx carrying s.
func With(ctx context.Context, s *Set) context.Context { return context.WithValue(ctx, ctxKey{}, s) }

// From returns the Set in ctx, or nil (which ignores every call).
func From(ctx context.Context) *Set {
	s, _ := ctx.Value(ctxKey{}).(*Set)
	return s
}
