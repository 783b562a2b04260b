package fanout_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/fanout"
)

// fakeLambda records asynchronous invocations and answers with status.
type fakeLambda struct {
	status int32
	err    error
	mu     sync.Mutex
	events []fanout.Event
	sizes  []int
}

func (f *fakeLambda) Invoke(ctx context.Context, in *lambda.InvokeInput, _ ...func(*lambda.Options)) (*lambda.InvokeOutput, error) {
	if in.InvocationType != types.InvocationTypeEvent {
		return nil, errors.New("not an asynchronous invoke")
	}
	if aws.ToString(in.FunctionName) != "fanout-fn" {
		return nil, errors.New("wrong function")
	}
	if f.err != nil {
		return nil, f.err
	}
	var ev fanout.Event
	if err := json.Unmarshal(in.Payload, &ev); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.events = append(f.events, ev)
	f.sizes = append(f.sizes, len(in.Payload))
	f.mu.Unlock()
	return &lambda.InvokeOutput{StatusCode: f.status}, nil
}

func ids(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "R1kmxc2VNjMCFIA" + string(rune('a'+i%26))
	}
	return out
}

func TestDispatch(t *testing.T) {
	tests := []struct {
		name       string
		recipients int
		maxPayload int
		status     int32
		invokeErr  error
		wantEvents int
		wantErr    bool
	}{
		{"one event", 100, 0, http.StatusAccepted, nil, 1, false},
		{"split in two", 100, 2000, http.StatusAccepted, nil, 2, false},
		{"split in four", 100, 1000, http.StatusAccepted, nil, 4, false},
		{"frame alone too large", 1, 10, http.StatusAccepted, nil, 0, true},
		{"not accepted", 10, 0, http.StatusOK, nil, 1, true},
		{"invoke fails", 10, 0, 0, errors.New("throttled"), 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeLambda{status: tt.status, err: tt.invokeErr}
			d := fanout.NewDispatcher(fake, "fanout-fn")
			if tt.maxPayload > 0 {
				d.MaxPayloadBytes = tt.maxPayload
			}
			s := broadcast.Shard{Endpoint: "https://x/prod", Tenant: "t", Channel: "c", Index: 1, Frame: []byte(`{"type":"update"}`), IDs: ids(tt.recipients)}
			err := d.Dispatch(context.Background(), s)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Dispatch error = %v, want error %v", err, tt.wantErr)
			}
			if len(fake.events) != tt.wantEvents {
				t.Fatalf("events = %d, want %d", len(fake.events), tt.wantEvents)
			}
			if tt.wantErr {
				return
			}
			var got []string
			for i, ev := range fake.events {
				if string(ev.Shard.Frame) != string(s.Frame) || ev.Shard.Endpoint != s.Endpoint {
					t.Errorf("event %d = %+v, want the shard's frame and endpoint", i, ev.Shard)
				}
				if tt.maxPayload > 0 && fake.sizes[i] > tt.maxPayload {
					t.Errorf("event %d has %d bytes, limit %d", i, fake.sizes[i], tt.maxPayload)
				}
				got = append(got, ev.Shard.IDs...)
			}
			if len(got) != len(s.IDs) {
				t.Errorf("recipients dispatched = %d, want %d", len(got), len(s.IDs))
			}
		})
	}
}

func TestHandler(t *testing.T) {
	tests := []struct {
		name        string
		fixture     string
		wantShard   bool
		wantMessage bool
		wantErr     bool
	}{
		{"fan-out event", "testdata/fanout-event.json", true, false, false},
		{"API Gateway event", "../gateway/testdata/apigw-websocket-request-send-message.json", false, true, false},
		{"other event", "", false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(`{"source":"aws.events"}`)
			if tt.fixture != "" {
				b, err := os.ReadFile(tt.fixture)
				if err != nil {
					t.Fatal(err)
				}
				raw = b
			}
			var gotShard *broadcast.Shard
			var gotMessage *events.APIGatewayWebsocketProxyRequest
			h := fanout.Handler(
				func(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
					gotMessage = &req
					return events.APIGatewayProxyResponse{StatusCode: 200}, nil
				},
				func(ctx context.Context, s broadcast.Shard) (broadcast.Result, error) {
					gotShard = &s
					return broadcast.Result{Recipients: len(s.IDs), Delivered: len(s.IDs)}, nil
				}, nil)
			_, err := h(context.Background(), raw)
			if (err != nil) != tt.wantErr {
				t.Fatalf("handler error = %v, want error %v", err, tt.wantErr)
			}
			if (gotShard != nil) != tt.wantShard || (gotMessage != nil) != tt.wantMessage {
				t.Fatalf("shard %v, message %v; want shard %v, message %v", gotShard != nil, gotMessage != nil, tt.wantShard, tt.wantMessage)
			}
			if gotShard != nil && (string(gotShard.Frame) != `{"type":"update"}` || len(gotShard.IDs) != 2 || gotShard.Index != 3) {
				t.Errorf("shard = %+v", gotShard)
			}
			if gotMessage != nil && gotMessage.RequestContext.ConnectionID != "R1kmxc2VNjMCFIA=" {
				t.Errorf("connection id = %q", gotMessage.RequestContext.ConnectionID)
			}
		})
	}
}

func TestConfigFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    fanout.Config
		wantErr bool
	}{
		{"unset", nil, fanout.Config{}, false},
		{"set", map[string]string{"FANOUT_FUNCTION_NAME": "f", "FANOUT_SHARD_SIZE": "500", "AWS_REGION": "eu-west-1"},
			fanout.Config{FunctionName: "f", ShardSize: 500, Region: "eu-west-1"}, false},
		{"bad size", map[string]string{"FANOUT_SHARD_SIZE": "-1"}, fanout.Config{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := fanout.ConfigFromEnv(func(k string) string { return tt.env[k] })
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
