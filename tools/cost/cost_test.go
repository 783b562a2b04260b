package cost_test

import (
	"math"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/tools/cost"
)

// near reports whether got is within 1e-9 relative of want.
func near(got, want float64) bool {
	if want == 0 {
		return math.Abs(got) < 1e-12
	}
	return math.Abs(got-want)/math.Abs(want) < 1e-9
}

// TestEstimateHandComputed checks the formula against cases worked out by
// hand from the list prices.
func TestEstimateHandComputed(t *testing.T) {
	tests := []struct {
		name string
		w    cost.Publish
		want cost.Breakdown
	}{
		{
			// Fan-out 10, 1 KB frames, 2 read units, one 256 MB invocation
			// billed 30 ms. Per publish:
			//   API Gateway: 1 request + 1 reply + 10 deliveries = 12
			//     messages = $12e-6; the 10 deliveries alone $10e-6.
			//   Lambda requests: $0.2e-6.
			//   Lambda compute: 0.25 GB * 0.030 s = 0.0075 GB-s
			//     * $0.0000133334 = $1.000005e-7.
			//   DynamoDB: 2 RRU * $0.125e-6 = $0.25e-6.
			// Per million deliveries: divide by 10 and multiply by 1e6.
			//   1.2 + 0.02 + 0.01000005 + 0.025 = 1.25500005; floor 1.0;
			//   overhead 0.05500005 / 1.2 = 0.045833375.
			name: "fanout 10, 1 KB",
			w: cost.Publish{Fanout: 10, MessageBytes: 1024, ReplyBytes: 200, ReadUnits: 2,
				Invocations: 1, LambdaMemoryMB: 256, LambdaBilled: 30 * time.Millisecond},
			want: cost.Breakdown{Messages: 1.2, LambdaRequests: 0.02, LambdaCompute: 0.01000005,
				DynamoDBReads: 0.025, Total: 1.25500005, Floor: 1.0, Overhead: 0.045833375},
		},
		{
			// Fan-out 1, a 40 KB frame (two 32 KB units each way), 1 RRU and
			// 2 WRU, 128 MB for 100 ms, two connection minutes per delivery.
			//   API Gateway: 2 in + 1 reply + 2 out = 5 messages = $5e-6;
			//     floor $2e-6.
			//   Connections: 2 min * $0.25e-6 = $0.5e-6.
			//   Lambda: $0.2e-6 + 0.125 GB * 0.1 s * $0.0000133334
			//     = $0.2e-6 + $1.666675e-7.
			//   DynamoDB: $0.125e-6 + 2 * $0.625e-6 = $1.375e-6.
			//   Total per million: 5 + 0.5 + 0.2 + 0.1666675 + 0.125 + 1.25
			//     = 7.2416675; overhead (0.3666675 + 1.375) / 5 = 0.3483335.
			name: "fanout 1, 40 KB, writes and connection minutes",
			w: cost.Publish{Fanout: 1, MessageBytes: 40 * 1024, ReplyBytes: 100, ReadUnits: 1, WriteUnits: 2,
				Invocations: 1, LambdaMemoryMB: 128, LambdaBilled: 100 * time.Millisecond, ConnectionMinutesPerDelivery: 2},
			want: cost.Breakdown{Messages: 5, ConnectionMinutes: 0.5, LambdaRequests: 0.2, LambdaCompute: 0.1666675,
				DynamoDBReads: 0.125, DynamoDBWrites: 1.25, Total: 7.2416675, Floor: 2, Overhead: 0.3483335},
		},
		{
			// Fan-out 20,000 in 10 shards (10 invocations of 1.3 s at
			// 256 MB), no reply, 100 RRU.
			//   API Gateway: 1 + 20,000 messages = $20,001e-6.
			//   Lambda: 10 * $0.2e-6 = $2e-6; 0.25 GB * 13 s = 3.25 GB-s
			//     * $0.0000133334 = $4.333355e-5.
			//   DynamoDB: 100 * $0.125e-6 = $12.5e-6.
			//   Per million deliveries (/20,000 * 1e6 = *50):
			//     messages 1.00005, floor 1, requests 0.0001,
			//     compute 0.0021666775, reads 0.000625.
			name: "fanout 20000 sharded",
			w: cost.Publish{Fanout: 20000, MessageBytes: 512, ReadUnits: 100, Invocations: 10,
				LambdaMemoryMB: 256, LambdaBilled: 13 * time.Second},
			want: cost.Breakdown{Messages: 1.00005, LambdaRequests: 0.0001, LambdaCompute: 0.0021666775,
				DynamoDBReads: 0.000625, Total: 1.00005 + 0.0001 + 0.0021666775 + 0.000625, Floor: 1,
				Overhead: (0.0001 + 0.0021666775 + 0.000625) / 1.00005},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cost.Estimate(tt.w, cost.DefaultPrices())
			if err != nil {
				t.Fatalf("Estimate: %v", err)
			}
			fields := []struct {
				name      string
				got, want float64
			}{
				{"Messages", got.Messages, tt.want.Messages},
				{"ConnectionMinutes", got.ConnectionMinutes, tt.want.ConnectionMinutes},
				{"LambdaRequests", got.LambdaRequests, tt.want.LambdaRequests},
				{"LambdaCompute", got.LambdaCompute, tt.want.LambdaCompute},
				{"DynamoDBReads", got.DynamoDBReads, tt.want.DynamoDBReads},
				{"DynamoDBWrites", got.DynamoDBWrites, tt.want.DynamoDBWrites},
				{"Total", got.Total, tt.want.Total},
				{"Floor", got.Floor, tt.want.Floor},
				{"Overhead", got.Overhead, tt.want.Overhead},
			}
			for _, f := range fields {
				if !near(f.got, f.want) {
					t.Errorf("%s = %.10g, want %.10g", f.name, f.got, f.want)
				}
			}
		})
	}
}

func TestEstimateRejects(t *testing.T) {
	tests := []struct {
		name string
		w    cost.Publish
	}{
		{"no fan-out", cost.Publish{Fanout: 0, MessageBytes: 10}},
		{"no size", cost.Publish{Fanout: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := cost.Estimate(tt.w, cost.DefaultPrices()); err == nil {
				t.Errorf("Estimate(%+v): no error", tt.w)
			}
		})
	}
}

func TestUnits(t *testing.T) {
	tests := []struct {
		name      string
		got, want float64
	}{
		{"read of nothing", cost.ReadUnits(0, cost.Strong), 1},
		{"read 4 KB", cost.ReadUnits(4096, cost.Strong), 1},
		{"read 4 KB + 1", cost.ReadUnits(4097, cost.Strong), 2},
		{"eventual read 8 KB", cost.ReadUnits(8192, cost.Eventual), 1},
		{"transactional read 3.5 KB", cost.ReadUnits(3500, cost.Transactional), 2},
		{"write 1 KB", cost.WriteUnits(1024, false), 1},
		{"write 1 KB + 1", cost.WriteUnits(1025, false), 2},
		{"transactional write 300 B", cost.WriteUnits(300, true), 2},
		{"publish to 10 of 100 B", cost.PublishReadUnits(10, 500, 300, 100), 2},
		{"publish to 100 of 100 B", cost.PublishReadUnits(100, 500, 300, 100), 4},
		// 1000 subscribers: pages read 501 and 500 items: 12.2 + 12.2 KB.
		{"publish to 1000 of 100 B", cost.PublishReadUnits(1000, 500, 300, 100), 1 + 13 + 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

func TestItemSize(t *testing.T) {
	tests := []struct {
		name string
		item map[string]types.AttributeValue
		want int
	}{
		{"string", map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "CONN#abc"}}, 2 + 8},
		{"number", map[string]types.AttributeValue{"n": &types.AttributeValueMemberN{Value: "1735689600"}}, 1 + 5},
		{"number with zeros", map[string]types.AttributeValue{"n": &types.AttributeValueMemberN{Value: "-0012300"}}, 1 + 3},
		{"zero", map[string]types.AttributeValue{"n": &types.AttributeValueMemberN{Value: "0"}}, 1 + 2},
		{"bool and null", map[string]types.AttributeValue{
			"b": &types.AttributeValueMemberBOOL{Value: true}, "z": &types.AttributeValueMemberNULL{Value: true}}, 4},
		{"list", map[string]types.AttributeValue{"roles": &types.AttributeValueMemberL{Value: []types.AttributeValue{
			&types.AttributeValueMemberS{Value: "member"}, &types.AttributeValueMemberS{Value: "admin"}}}}, 5 + 3 + 7 + 6},
		{"map", map[string]types.AttributeValue{"m": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
			"k": &types.AttributeValueMemberS{Value: "vv"}}}}, 1 + 3 + 1 + 1 + 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cost.ItemSize(tt.item); got != tt.want {
				t.Errorf("ItemSize = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestEstimatePublishModel(t *testing.T) {
	tests := []struct {
		name            string
		p               cost.PublishParams
		wantInvocations float64
		wantBilled      time.Duration
		wantRRU         float64
		wantTotal       float64
	}{
		{
			// The hand-computed case of TestEstimateHandComputed, derived
			// from the model: 2 RRU (one connection GetItem, one Query of
			// 10 x 123 B), one invocation of 10 ms + one round of 20 ms.
			name: "fanout 10", p: cost.PublishParams{Fanout: 10, MessageBytes: 1024, ModelLambda: true},
			wantInvocations: 1, wantBilled: 30 * time.Millisecond, wantRRU: 2, wantTotal: 1.25500005,
		},
		{
			// 5,000 in shards of 2,000: invocations of 2,000, 2,000 and
			// 1,000 recipients, 512 posts in flight: 2 x (10 + 4 x 20) +
			// (10 + 2 x 20) ms.
			// RRU: 1 + 10 Query pages (501 or 500 items of 123 B, 61.6 KB:
			// 16 units each).
			name: "fanout 5000 sharded", p: cost.PublishParams{Fanout: 5000, MessageBytes: 1024, ShardSize: 2000, ModelLambda: true},
			wantInvocations: 3, wantBilled: 230 * time.Millisecond, wantRRU: 1 + 10*16, wantTotal: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := cost.EstimatePublish(tt.p, cost.DefaultPrices())
			if err != nil {
				t.Fatalf("EstimatePublish: %v", err)
			}
			if e.Publish.Invocations != tt.wantInvocations || e.Publish.LambdaBilled != tt.wantBilled || e.Publish.ReadUnits != tt.wantRRU {
				t.Errorf("invocations %v, billed %v, RRU %v; want %v, %v, %v", e.Publish.Invocations,
					e.Publish.LambdaBilled, e.Publish.ReadUnits, tt.wantInvocations, tt.wantBilled, tt.wantRRU)
			}
			if tt.wantTotal >= 0 && !near(e.Cost.Total, tt.wantTotal) {
				t.Errorf("total = %.10g, want %.10g", e.Cost.Total, tt.wantTotal)
			}
		})
	}
}
