package deploy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/store"
)

// TestChangeFeedWiring: the table streams new images; the change-feed
// function reads the stream in order (one batch per shard at a time),
// only the outbox items an insert wrote, retries a failed batch from the
// record its answer names (ReportBatchItemFailures) and keeps
// a record of one it gives up on in an alarmed queue, where the function
// describes the events the bus refuses for good too; it may only read
// this table's stream, put events on the configured bus and write to its
// failure queue.
func TestChangeFeedWiring(t *testing.T) {
	_, raw := loadTemplateRaw(t, evaluated, map[string]any{"ChangeEventBusName": "orders-bus"})
	if v := at(rawResource(t, raw, "Table"), "StreamSpecification", "StreamViewType"); v != "NEW_IMAGE" {
		t.Errorf("table StreamViewType %v, want NEW_IMAGE", v)
	}
	fn := rawResource(t, raw, "ChangeFeedFunction")
	if v := at(fn, "Environment", "Variables", "CHANGE_EVENT_BUS"); v != "orders-bus" {
		t.Errorf("CHANGE_EVENT_BUS %v, want the ChangeEventBusName parameter", v)
	}
	if v := at(fn, "Environment", "Variables", "CHANGE_FEED_FAILURE_QUEUE"); v != ref("ChangeFeedFailureQueue") {
		t.Errorf("CHANGE_FEED_FAILURE_QUEUE %v, want the URL of ChangeFeedFailureQueue, where the function describes the events the bus refuses for good", v)
	}
	if _, ok := fn["Events"]; ok {
		t.Error("ChangeFeedFunction has SAM events: SAM's stream event attaches a policy that reads every stream")
	}
	resources, _ := raw["Resources"].(map[string]any)
	p := streamMapping(t, raw, "ChangeFeedFunction")
	if at(p, "ParallelizationFactor") != float64(1) {
		t.Errorf("ParallelizationFactor %v, want 1 (in order per shard)", at(p, "ParallelizationFactor"))
	}
	if types, _ := at(p, "FunctionResponseTypes").([]any); len(types) != 1 || types[0] != "ReportBatchItemFailures" {
		t.Errorf("FunctionResponseTypes %v, want [ReportBatchItemFailures]: a batch put in part would be sent again whole", at(p, "FunctionResponseTypes"))
	}
	pattern := onlyFilter(t, p)
	if !slices.Equal(pattern.EventName, []string{"INSERT"}) || !slices.Equal(pattern.prefixes(), []string{store.PrefixOutbox}) ||
		pattern.UserIdentity != nil {
		t.Errorf("filter %+v, want inserts of %s items", pattern, store.PrefixOutbox)
	}
	if at(p, "DestinationConfig", "OnFailure", "Destination") != "${ChangeFeedFailureQueue.Arn}" {
		t.Errorf("failed batches go to %v, want ChangeFeedFailureQueue", at(p, "DestinationConfig"))
	}
	alarmed := false
	for _, r := range resources {
		p := at(r, "Properties")
		if at(r, "Type") == "AWS::CloudWatch::Alarm" && at(p, "MetricName") == "ApproximateNumberOfMessagesVisible" {
			for _, d := range at(p, "Dimensions").([]any) {
				alarmed = alarmed || at(d, "Value") == "${ChangeFeedFailureQueue.QueueName}"
			}
		}
	}
	if !alarmed {
		t.Error("no alarm on ChangeFeedFailureQueue")
	}

	tpl := loadTemplate(t, thenBranch, nil)
	if !throttlesAlarmCovers(tpl, "ChangeFeedFunction") {
		t.Error("no alarm sums the Throttles of ChangeFeedFunction")
	}
	want := map[string][]string{
		"events:PutEvents":          {"arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"},
		"dynamodb:GetRecords":       {"${Table.StreamArn}"},
		"dynamodb:GetShardIterator": {"${Table.StreamArn}"},
		"dynamodb:DescribeStream":   {"${Table.StreamArn}"},
		"dynamodb:ListStreams":      {"${Table.StreamArn}"},
		"sqs:SendMessage":           {"${ChangeFeedFailureQueue.Arn}"},
	}
	n := 0
	for _, g := range collectGrants(t, tpl) {
		if !strings.HasPrefix(g.where, "ChangeFeedFunction ") {
			continue
		}
		n++
		for _, a := range g.actions {
			if r, ok := want[a]; !ok || !slices.Equal(g.resources, r) {
				t.Errorf("%s grants %q on %q, want only %v", g.where, a, g.resources, want)
			}
		}
	}
	if n != 3 {
		t.Errorf("ChangeFeedFunction has %d statements, want 3", n)
	}
}

// streamFilter is the filter pattern of a mapping of the table's stream:
// the event names, the identity that made the change, and the prefixes of
// the partition keys it passes.
type streamFilter struct {
	EventName    []string `json:"eventName"`
	UserIdentity *struct {
		Type        []string `json:"type"`
		PrincipalID []string `json:"principalId"`
	} `json:"userIdentity"`
	DynamoDB struct {
		Keys struct {
			PK struct {
				S []struct {
					Prefix string `json:"prefix"`
				} `json:"S"`
			} `json:"pk"`
			SK *struct {
				S []string `json:"S"`
			} `json:"sk"`
		} `json:"Keys"`
	} `json:"dynamodb"`
}

// sortKeys returns the sort keys f passes, sorted; nil when it passes any.
func (f streamFilter) sortKeys() []string {
	if f.DynamoDB.Keys.SK == nil {
		return nil
	}
	return slices.Sorted(slices.Values(f.DynamoDB.Keys.SK.S))
}

// prefixes returns the partition-key prefixes f passes, sorted.
func (f streamFilter) prefixes() []string {
	var out []string
	for _, s := range f.DynamoDB.Keys.PK.S {
		out = append(out, s.Prefix)
	}
	slices.Sort(out)
	return out
}

// onlyFilter returns the one filter pattern of mapping p.
func onlyFilter(t *testing.T, p map[string]any) streamFilter {
	t.Helper()
	filters := streamFilters(t, p)
	if len(filters) != 1 {
		t.Fatalf("filters %+v, want one", filters)
	}
	return filters[0]
}

// streamFilters returns the filter patterns of mapping p: a record that
// passes any of them is delivered.
func streamFilters(t *testing.T, p map[string]any) []streamFilter {
	t.Helper()
	filters, _ := at(p, "FilterCriteria", "Filters").([]any)
	out := make([]streamFilter, len(filters))
	for i, f := range filters {
		if err := json.Unmarshal([]byte(at(f, "Pattern").(string)), &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// streamMapping returns the properties of the one event source mapping
// that invokes function fn, which must read the table's stream.
func streamMapping(t *testing.T, raw map[string]any, fn string) map[string]any {
	t.Helper()
	var mappings []map[string]any
	resources, _ := raw["Resources"].(map[string]any)
	for _, r := range resources {
		if p, _ := at(r, "Properties").(map[string]any); at(r, "Type") == "AWS::Lambda::EventSourceMapping" && at(p, "FunctionName") == ref(fn) {
			mappings = append(mappings, p)
		}
	}
	if len(mappings) != 1 {
		t.Fatalf("%d event source mappings invoke %s, want one", len(mappings), fn)
	}
	if at(mappings[0], "EventSourceArn") != "${Table.StreamArn}" {
		t.Errorf("%s reads %v, want the table's stream", fn, at(mappings[0], "EventSourceArn"))
	}
	return mappings[0]
}

// TestSweeperReadsTTLRemovals: the sweeper function gets the records of
// the sessions, room entries, away and token alarms (not the connections'
// other items) and lock items (not the fencing counters or the reverse lock
// items) that DynamoDB's TTL removed, and only those
// (the sweeper's own claims are removals by its role), names in its
// answer the record to send again from, and may read this table's stream
// only.
func TestSweeperReadsTTLRemovals(t *testing.T) {
	_, raw := loadTemplateRaw(t, evaluated, nil)
	p := streamMapping(t, raw, "SweeperFunction")
	if types, _ := at(p, "FunctionResponseTypes").([]any); len(types) != 1 || types[0] != "ReportBatchItemFailures" {
		t.Errorf("FunctionResponseTypes %v, want [ReportBatchItemFailures]", at(p, "FunctionResponseTypes"))
	}
	if at(p, "StartingPosition") != "LATEST" {
		t.Errorf("StartingPosition %v, want LATEST (a new mapping does not replay a day of removals)", at(p, "StartingPosition"))
	}
	// Retried until the record is an hour old: a count of retries would
	// run out within minutes of an outage and skip the rest of the batch.
	if fmt.Sprint(at(p, "MaximumRetryAttempts")) != "-1" || fmt.Sprint(at(p, "MaximumRecordAgeInSeconds")) != "3600" {
		t.Errorf("MaximumRetryAttempts %v, MaximumRecordAgeInSeconds %v; want -1 and 3600",
			at(p, "MaximumRetryAttempts"), at(p, "MaximumRecordAgeInSeconds"))
	}
	// The partition-key prefixes and the sort keys (nil: any) of the
	// items each filter passes.
	want := map[string][]string{
		fmt.Sprint([]string{store.PrefixPresence, store.PrefixRoom}): nil,
		fmt.Sprint([]string{store.PrefixConn}):                       {store.SKAway, store.SKToken},
		fmt.Sprint([]string{store.PrefixLock}):                       {store.SKLock},
	}
	filters := streamFilters(t, p)
	if len(filters) != len(want) {
		t.Errorf("%d filters, want %d", len(filters), len(want))
	}
	for _, pattern := range filters {
		sks, ok := want[fmt.Sprint(pattern.prefixes())]
		if !slices.Equal(pattern.EventName, []string{"REMOVE"}) || pattern.UserIdentity == nil ||
			!slices.Equal(pattern.UserIdentity.Type, []string{"Service"}) ||
			!slices.Equal(pattern.UserIdentity.PrincipalID, []string{"dynamodb.amazonaws.com"}) ||
			!ok || !slices.Equal(pattern.sortKeys(), sks) {
			t.Errorf("filter %+v, want TTL's removals of the items of one of %v", pattern, want)
		}
		delete(want, fmt.Sprint(pattern.prefixes()))
	}

	stream := map[string]bool{"dynamodb:GetRecords": true, "dynamodb:GetShardIterator": true, "dynamodb:DescribeStream": true, "dynamodb:ListStreams": true}
	granted := map[string]bool{}
	for _, g := range collectGrants(t, loadTemplate(t, thenBranch, nil)) {
		if !strings.HasPrefix(g.where, "SweeperFunction ") || !slices.Contains(g.resources, "${Table.StreamArn}") {
			continue
		}
		for _, a := range g.actions {
			if !stream[a] || !slices.Equal(g.resources, []string{"${Table.StreamArn}"}) {
				t.Errorf("%s grants %q on %q, want only the stream's reads on the table's stream", g.where, a, g.resources)
			}
			granted[a] = true
		}
	}
	for a := range stream {
		if !granted[a] {
			t.Errorf("SweeperFunction may not %s the table's stream", a)
		}
	}
}
