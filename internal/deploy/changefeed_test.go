package deploy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/store"
)

// TestChangeFeedWiring: the table streams new images; the change-feed
// function reads the stream in order (one batch per shard at a time),
// only the outbox items an insert wrote, retries a failed batch and keeps
// a record of one it gives up on in an alarmed queue; it may only read
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
	if _, ok := fn["Events"]; ok {
		t.Error("ChangeFeedFunction has SAM events: SAM's stream event attaches a policy that reads every stream")
	}
	var mappings []map[string]any
	resources, _ := raw["Resources"].(map[string]any)
	for _, r := range resources {
		if at(r, "Type") == "AWS::Lambda::EventSourceMapping" {
			mappings = append(mappings, at(r, "Properties").(map[string]any))
		}
	}
	if len(mappings) != 1 {
		t.Fatalf("%d event source mappings, want the change feed's", len(mappings))
	}
	p := mappings[0]
	if at(p, "FunctionName") != ref("ChangeFeedFunction") || at(p, "EventSourceArn") != "${Table.StreamArn}" {
		t.Errorf("mapping %v, want the table's stream to ChangeFeedFunction", p)
	}
	if at(p, "ParallelizationFactor") != float64(1) {
		t.Errorf("ParallelizationFactor %v, want 1 (in order per shard)", at(p, "ParallelizationFactor"))
	}
	filters, _ := at(p, "FilterCriteria", "Filters").([]any)
	if len(filters) != 1 {
		t.Fatalf("filters %v, want one", filters)
	}
	var pattern struct {
		EventName []string `json:"eventName"`
		DynamoDB  struct {
			Keys struct {
				PK struct {
					S []struct {
						Prefix string `json:"prefix"`
					} `json:"S"`
				} `json:"pk"`
			} `json:"Keys"`
		} `json:"dynamodb"`
	}
	if err := json.Unmarshal([]byte(at(filters[0], "Pattern").(string)), &pattern); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pattern.EventName, []string{"INSERT"}) || len(pattern.DynamoDB.Keys.PK.S) != 1 ||
		pattern.DynamoDB.Keys.PK.S[0].Prefix != store.PrefixOutbox {
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
