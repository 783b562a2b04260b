package handler_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// tokenAuth is fuzzAuth whose identities carry a token that expires at
// the connect's time plus the "ttl" query parameter (a duration), when
// given.
type tokenAuth struct{ clock *storetest.FakeClock }

func (a tokenAuth) Authenticate(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (auth.Identity, error) {
	id, _ := fuzzAuth{}.Authenticate(ctx, req)
	if ttl := req.QueryStringParameters["ttl"]; ttl != "" {
		d, err := time.ParseDuration(ttl)
		if err != nil {
			return auth.Identity{}, err
		}
		id.ExpiresAt = a.clock.Now().Add(d)
	}
	return id, nil
}

// closeRecorder is sweepPoster that also records the connections closed
// through the Management API (DELETE @connections/{id}).
type closeRecorder struct {
	sweepPoster
	closed []string
}

func (p *closeRecorder) DeleteConnection(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = append(p.closed, id)
	return nil
}

// postsTo counts the posts that reached connection to.
func (p *closeRecorder) postsTo(to string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, po := range p.posts {
		if po.to == to {
			n++
		}
	}
	return n
}

// TestTTLRemovedTokenAlarmClosesTheConnection: ann connects with a token
// that expires a minute later and follows order-updates. Her token
// alarm's expiresAt, the table's TTL attribute, is the token's exp, and
// DynamoDB's TTL deletes the alarm before a sweeper pass reads it: no
// pass ever found her connection, which was refused every frame but kept
// receiving order-updates until API Gateway's 2 h limit. TTL's removal
// reaches the sweeper through the table's stream, and the connection is
// closed through the Management API and removed with its subscriptions,
// so bob's publication no longer reaches it. A record delivered twice, or
// one of a connection a pass closed already, closes nothing again; and a
// record handled before the function's clock reaches the token's exp
// (TTL removed the alarm, so it has passed) closes the connection too.
func TestTTLRemovedTokenAlarmClosesTheConnection(t *testing.T) {
	alarm := func() (string, string) { return store.ConnPK("ann"), store.SKToken }
	cases := []struct {
		name  string
		steps func(t *testing.T, tt *ttlTable, deliver func(r events.DynamoDBEventRecord), pass func())
	}{
		{"removed by TTL", func(t *testing.T, tt *ttlTable, deliver func(events.DynamoDBEventRecord), pass func()) {
			tt.clock.Advance(2 * time.Minute)
			tt.expire(alarm())
			pass()
			removal := ttlRemoval(t, store.ConnPK("ann"), store.SKToken, 3)
			deliver(removal)
			deliver(removal)
		}},
		{"closed by a pass", func(t *testing.T, tt *ttlTable, deliver func(events.DynamoDBEventRecord), pass func()) {
			tt.clock.Advance(2 * time.Minute)
			pass()
			deliver(ttlRemoval(t, store.ConnPK("ann"), store.SKToken, 3))
		}},
		{"record ahead of the clock", func(t *testing.T, tt *ttlTable, deliver func(events.DynamoDBEventRecord), pass func()) {
			tt.clock.Advance(50 * time.Second)
			removal := ttlRemoval(t, store.ConnPK("ann"), store.SKToken, 3)
			removal.Change.ApproximateCreationDateTime = events.SecondsEpochTime{Time: tt.clock.Now().Add(15 * time.Second)}
			deliver(removal)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt := newTTLTable(t)
			poster := &closeRecorder{}
			h, err := handler.New(handler.Config{ManagementEndpoint: "https://mgmt.example/prod"}, handler.Deps{Store: tt.st, Clock: tt.clock.Now,
				Posters: func(string) broadcast.Poster { return poster }, IsGone: func(error) bool { return false },
				Auth: tokenAuth{tt.clock}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			send := func(conn, body string, q map[string]string) string {
				t.Helper()
				resp, err := h.Message(ctx, fuzzEvent(conn, body, q))
				if err != nil {
					t.Fatal(err)
				}
				return resp.Body
			}
			query := map[string]string{"userId": "ann", "tenant": "t1", "role": "editor", "ttl": "1m"}
			for conn, q := range map[string]map[string]string{"ann": query, "bob": {"userId": "bob", "tenant": "t1", "role": "editor"}} {
				if resp, _ := h.Connect(ctx, fuzzEvent(conn, "", q)); resp.StatusCode != 200 {
					t.Fatalf("connect %s: %d", conn, resp.StatusCode)
				}
			}
			if b := send("ann", `{"type":"subscribe","channel":"order-updates","messageId":"s1"}`, query); !strings.Contains(b, `"ack"`) {
				t.Fatalf("subscribe: %s", b)
			}
			before := poster.postsTo("ann")
			deliver := func(r events.DynamoDBEventRecord) {
				t.Helper()
				raw, err := json.Marshal(events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{r}})
				if err != nil {
					t.Fatal(err)
				}
				resp, err := h.SweeperEvent(ctx, raw)
				if err != nil || resp == nil || len(resp.BatchItemFailures) != 0 {
					t.Fatalf("stream batch: %+v, %v", resp, err)
				}
			}
			pass := func() {
				t.Helper()
				if err := h.Sweep(ctx); err != nil {
					t.Fatalf("sweeper pass: %v", err)
				}
			}
			c.steps(t, tt, deliver, pass)

			if b := send("bob", `{"type":"publish","channel":"order-updates","messageId":"p1","payload":{"orderId":"o1"}}`, nil); !strings.Contains(b, `"ack"`) {
				t.Fatalf("publish: %s", b)
			}
			if !slices.Equal(poster.closed, []string{"ann"}) {
				t.Errorf("connections closed %q, want ann's once, whose token expired", poster.closed)
			}
			if _, err := tt.st.GetConnection(ctx, "ann"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("ann's connection record: %v, want removed", err)
			}
			if n := poster.postsTo("ann") - before; n != 0 {
				t.Errorf("ann's connection, whose token expired, received %d posts, want none", n)
			}
			if tt.stored(alarm()) {
				t.Error("ann's token alarm is still stored")
			}
		})
	}
}
