package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/tools/lambdainvoke"
)

// The sample events in events/ share one connection, made by connect.json
// on the API abcdef1234, stage prod.
const (
	sampleConnectionID = "SmPLeC0nnId00Aw="
	sampleTenant       = "acme"
	sampleEndpoint     = "https://abcdef1234.execute-api.us-east-1.amazonaws.com/prod"
)

// post is one Management API post the handler made.
type post struct {
	endpoint, connectionID string
	data                   []byte
}

// postRecorder stands in for the Management API: no real API is involved
// when a sample event is fed to a handler directly.
type postRecorder struct {
	mu    sync.Mutex
	posts []post
}

func (r *postRecorder) poster(endpoint string) broadcast.Poster {
	return posterFunc(func(_ context.Context, id string, data []byte) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.posts = append(r.posts, post{endpoint, id, append([]byte(nil), data...)})
		return nil
	})
}

func (r *postRecorder) all() []post {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]post(nil), r.posts...)
}

type posterFunc func(ctx context.Context, id string, data []byte) error

func (f posterFunc) PostToConnection(ctx context.Context, id string, data []byte) error {
	return f(ctx, id, data)
}

// sampleCase is one file of events/ and what its function must do with it.
// Cases run in order on one handler: later samples rely on the connection
// the first one makes.
type sampleCase struct {
	file string
	run  func(t *testing.T, s *sampleRun, raw []byte)
}

// sampleRun is the handler under test and its fakes.
type sampleRun struct {
	built *app.Built
	posts *postRecorder
}

func sampleCases() []sampleCase {
	return []sampleCase{
		{"connect.json", func(t *testing.T, s *sampleRun, raw []byte) {
			resp, err := s.built.Handler.Connect(context.Background(), decodeWebSocketEvent(t, raw, "$connect"))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("$connect = %+v, %v; want 200", resp, err)
			}
			c, err := s.built.Store.GetConnection(context.Background(), sampleConnectionID)
			if err != nil || c.UserID != "alice" || c.Tenant != sampleTenant || c.Endpoint != sampleEndpoint {
				t.Fatalf("stored connection = %+v, %v", c, err)
			}
		}},
		{"message-ping.json", func(t *testing.T, s *sampleRun, raw []byte) {
			f := sampleReply(t, s, raw)
			if f.Type != "pong" || f.ReplyTo != "sample-ping-1" {
				t.Fatalf("ping reply = %+v, want pong to sample-ping-1", f)
			}
		}},
		{"message-publish.json", func(t *testing.T, s *sampleRun, raw []byte) {
			// Subscribed, the sender receives its own update through the
			// Management API endpoint derived from the event.
			if _, err := s.built.Store.Subscribe(context.Background(), sampleTenant, "order-updates", sampleConnectionID, 0); err != nil {
				t.Fatal(err)
			}
			f := sampleReply(t, s, raw)
			var res struct{ Channel string }
			if f.Type != "ack" || f.ReplyTo != "sample-publish-1" || json.Unmarshal(f.Payload, &res) != nil || res.Channel != "order-updates" {
				t.Fatalf("publish reply = %+v (%s), want ack to sample-publish-1", f, f.Payload)
			}
			posts := s.posts.all()
			if len(posts) != 1 || posts[0].endpoint != sampleEndpoint || posts[0].connectionID != sampleConnectionID ||
				!bytes.Contains(posts[0].data, []byte(`"shipped"`)) {
				t.Fatalf("posts = %+v, want one update to %s at %s", posts, sampleConnectionID, sampleEndpoint)
			}
		}},
		{"disconnect.json", func(t *testing.T, s *sampleRun, raw []byte) {
			resp, err := s.built.Handler.Disconnect(context.Background(), decodeWebSocketEvent(t, raw, "$disconnect"))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("$disconnect = %+v, %v; want 200", resp, err)
			}
			if _, err := s.built.Store.GetConnection(context.Background(), sampleConnectionID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("connection after $disconnect: %v, want not found", err)
			}
		}},
		{"sweeper.json", func(t *testing.T, s *sampleRun, raw []byte) {
			var ev events.EventBridgeEvent
			strictDecode(t, raw, &ev)
			if ev.DetailType != "Scheduled Event" || ev.Source != "aws.events" || ev.Time.IsZero() {
				t.Fatalf("sweeper event = %+v, want a scheduled event", ev)
			}
			// The sweeper is its own function: it gets no WebSocket event to
			// derive the Management API endpoint from, so it is configured
			// with one (MANAGEMENT_ENDPOINT), over the same table.
			sweeper, err := app.Build(context.Background(), app.Settings{DevIdentity: true, ManagementEndpoint: sampleEndpoint}, &app.Options{
				Store:   s.built.Store,
				Posters: s.posts.poster,
				Logger:  slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := sweeper.Handler.Sweep(context.Background()); err != nil {
				t.Fatalf("sweep: %v", err)
			}
		}},
		{"env.json", func(t *testing.T, s *sampleRun, raw []byte) {
			var env map[string]map[string]string
			strictDecode(t, raw, &env)
			// The functions the local server invokes (-lambda-endpoint)
			// take WebSocket events with development identities; the
			// others that post (internal/deploy
			// TestSamLocalEnvPointsEveryPosterAtTheLocalServer) need the
			// table too.
			websocket := map[string]bool{}
			for _, name := range lambdainvoke.DefaultFunctionNames() {
				websocket[name] = true
				if _, ok := env[name]; !ok {
					t.Errorf("env.json has no variables for %s, which the local server invokes", name)
				}
			}
			for name, vars := range env {
				st, err := app.SettingsFromEnv(func(k string) string { return vars[k] })
				if err != nil || st.TableName == "" || st.DynamoDBEndpoint == "" || st.DevIdentity != websocket[name] {
					t.Errorf("%s: settings %+v, %v; want a table, an endpoint, and dev identities = %v", name, st, err, websocket[name])
				}
			}
		}},
	}
}

// TestSampleEvents feeds every sample event to its handler, so the samples
// used with `sam local invoke -e` stay valid.
func TestSampleEvents(t *testing.T) {
	dir := eventsDir(t)
	rec := &postRecorder{}
	built, err := app.Build(context.Background(), app.Settings{DevIdentity: true}, &app.Options{
		Posters: rec.poster,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &sampleRun{built: built, posts: rec}
	for _, c := range sampleCases() {
		ok := t.Run(c.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			c.run(t, s, raw)
		})
		if !ok {
			break // later samples rely on earlier ones
		}
	}
}

// TestEverySampleEventTested fails on a file in events/ that no case
// covers.
func TestEverySampleEventTested(t *testing.T) {
	covered := map[string]bool{}
	for _, c := range sampleCases() {
		covered[c.file] = true
	}
	entries, err := os.ReadDir(eventsDir(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !covered[e.Name()] {
			t.Errorf("events/%s has no case in sampleCases", e.Name())
		}
		delete(covered, e.Name())
	}
	for name := range covered {
		t.Errorf("sampleCases covers events/%s, which does not exist", name)
	}
}

func eventsDir(t *testing.T) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "events")
}

// decodeWebSocketEvent decodes a sample as the Lambda runtime would,
// refusing fields the event type does not have, and checks its route.
func decodeWebSocketEvent(t *testing.T, raw []byte, route string) events.APIGatewayWebsocketProxyRequest {
	t.Helper()
	var req events.APIGatewayWebsocketProxyRequest
	strictDecode(t, raw, &req)
	rc := req.RequestContext
	if rc.RouteKey != route || rc.ConnectionID != sampleConnectionID {
		t.Fatalf("sample routeKey %q, connectionId %q; want %q, %q", rc.RouteKey, rc.ConnectionID, route, sampleConnectionID)
	}
	return req
}

// sampleFrame is the part of a reply frame the samples check.
type sampleFrame struct {
	Type    string          `json:"type"`
	ReplyTo string          `json:"replyTo"`
	Payload json.RawMessage `json:"payload"`
}

// sampleReply runs a $default sample and decodes the reply frame.
func sampleReply(t *testing.T, s *sampleRun, raw []byte) sampleFrame {
	t.Helper()
	resp, err := s.built.Handler.Message(context.Background(), decodeWebSocketEvent(t, raw, "$default"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("$default = %+v, %v; want 200", resp, err)
	}
	var f sampleFrame
	if err := json.Unmarshal([]byte(resp.Body), &f); err != nil {
		t.Fatalf("reply %q: %v", resp.Body, err)
	}
	return f
}

func strictDecode(t *testing.T, raw []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode sample: %v", err)
	}
}
