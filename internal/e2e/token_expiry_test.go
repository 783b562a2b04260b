package e2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/internal/store/memory"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// tokenServer is a local server that only accepts HS256 tokens, on a
// clock the test moves (the verifier's and the handlers').
type tokenServer struct {
	*devserver.Server
	clock *storetest.FakeClock
}

// tokenBackends starts token servers on the memory store and, when
// DYNAMODB_TEST_ENDPOINT is set, on DynamoDB.
func tokenBackends(t *testing.T) []struct {
	name  string
	start func(t *testing.T) *tokenServer
} {
	t.Helper()
	type backend = struct {
		name  string
		start func(t *testing.T) *tokenServer
	}
	bs := []backend{{"memory", func(t *testing.T) *tokenServer { return startTokenExpiryServer(t, "") }}}
	if ep := os.Getenv("DYNAMODB_TEST_ENDPOINT"); ep != "" {
		bs = append(bs, backend{"dynamo", func(t *testing.T) *tokenServer { return startTokenExpiryServer(t, ep) }})
	}
	return bs
}

func startTokenExpiryServer(t *testing.T, dynamoEndpoint string) *tokenServer {
	t.Helper()
	clock := storetest.NewFakeClock(time.Now().UTC().Truncate(time.Second))
	authn, err := auth.NewTokenAuth(context.Background(), auth.TokenSettings{Secret: string(testSecret), Issuer: testIssuer, Audience: testAudience},
		&auth.TokenOptions{Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	ao := &app.Options{Auth: authn, Clock: clock.Now, Logger: quiet}
	s := app.Settings{}
	if dynamoEndpoint != "" {
		s = app.Settings{TableName: fmt.Sprintf("tok-%d-%d", time.Now().UnixNano(), tableSeq.Add(1)), DynamoDBEndpoint: dynamoEndpoint, Region: "us-east-1"}
		ao.DynamoOptions = []func(*dynamodb.Options){dynamo.SerialHTTP()}
	} else {
		ao.Store = memory.New(clock.Now)
	}
	srv := startOptions(t, devserver.Options{Settings: s, App: ao, Logger: quiet})
	return &tokenServer{Server: srv, clock: clock}
}

// token signs a member token for user that expires ttl from the server's
// clock.
func (s *tokenServer) token(t *testing.T, user string, ttl time.Duration) string {
	t.Helper()
	return s.tokenUntil(t, user, s.clock.Now().Add(ttl).Unix())
}

// tokenUntil signs a member token for user whose exp claim is exp (a
// NumericDate: an integer or a fractional number of seconds).
func (s *tokenServer) tokenUntil(t *testing.T, user string, exp any) string {
	t.Helper()
	tok, err := auth.SignHS256(testSecret, map[string]any{
		"sub": user, "name": user, "tenant": "default", "roles": []string{"member"}, "iss": testIssuer, "aud": testAudience,
		"iat": s.clock.Now().Unix(), "exp": exp,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// tokenExpiredReply reports whether f refuses a frame because the
// connection's token expired.
func tokenExpiredReply(f frame) bool {
	var e struct {
		Code    string `json:"code"`
		Details struct {
			Reason string `json:"reason"`
		} `json:"details"`
	}
	return json.Unmarshal(f.Payload, &e) == nil && f.Type == "error" && e.Code == "UNAUTHORIZED" && e.Details.Reason == "TOKEN_EXPIRED"
}

// TestFractionalExp: a JWT's exp may be fractional, and the connection
// record keeps it in whole seconds, against which every frame is checked.
// $connect checks the same whole second, so that a token it accepts is not
// refused by a frame sent before that second: a token whose exp lies
// within the current second is refused at the handshake (401), and one
// accepted stays usable until its whole-second exp, on every store.
func TestFractionalExp(t *testing.T) {
	for _, b := range tokenBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			base := srv.clock.Now() // a whole second
			srv.clock.Advance(200 * time.Millisecond)
			if c, status := dialQuery(t, srv.Server, "early", tokenQuery(srv.tokenUntil(t, "alice", float64(base.Unix())+0.7))); c != nil {
				f := c.request("ping", "", nil)
				t.Fatalf("exp 0.5 s ahead, within the current second: handshake accepted, then ping = %s %s; want the handshake refused", f.Type, f.Payload)
			} else if status != http.StatusUnauthorized {
				t.Fatalf("exp within the current second: handshake %d, want 401", status)
			}

			alice := mustDialQuery(t, srv.Server, "alice", tokenQuery(srv.tokenUntil(t, "alice", float64(base.Unix())+1.5)))
			id := alice.hello().ConnectionID
			c, err := srv.Built.Store.GetConnection(context.Background(), id)
			if want := base.Add(time.Second); err != nil || !c.TokenExpiresAt.Equal(want) {
				t.Fatalf("stored token exp = %v (%v), want %v", c.TokenExpiresAt, err, want)
			}
			srv.clock.Advance(799 * time.Millisecond) // 1 ms before the stored exp
			if f := alice.request("ping", "", nil); f.Type != "pong" {
				t.Fatalf("ping before the stored exp: %s %s", f.Type, f.Payload)
			}
			srv.clock.Advance(time.Millisecond)
			if f := alice.request("ping", "", nil); !tokenExpiredReply(f) {
				t.Fatalf("ping at the stored exp: %s %s, want UNAUTHORIZED TOKEN_EXPIRED", f.Type, f.Payload)
			}
		})
	}
}

// TestTokenExpiryEnforced: a connection outlives its token by nothing.
// Frames after the token's exp are refused with UNAUTHORIZED and reason
// TOKEN_EXPIRED and change nothing; the sweeper closes the connection
// through the Management API and removes its record and subscriptions;
// other connections carry on, and the user reconnects with a fresh token.
func TestTokenExpiryEnforced(t *testing.T) {
	for _, b := range tokenBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			alice := mustDialQuery(t, srv.Server, "alice", tokenQuery(srv.token(t, "alice", time.Minute)))
			bob := mustDialQuery(t, srv.Server, "bob", tokenQuery(srv.token(t, "bob", time.Hour)))
			aliceID := alice.hello().ConnectionID
			alice.mustAck("subscribe", "order-updates", nil)
			alice.mustAck("change", "", change("note", "n1", 0, "update", "title", after("one")))
			bob.mustAck("subscribe", "note:n1", nil)

			srv.clock.Advance(time.Minute) // exp is reached
			for _, typ := range []string{"change", "ping", "subscribe"} {
				var payload any
				channel := ""
				switch typ {
				case "change":
					payload = change("note", "n1", 1, "update", "title", after("two"))
				case "subscribe":
					channel = "note:n2"
				}
				if f := alice.request(typ, channel, payload); !tokenExpiredReply(f) {
					t.Fatalf("%s after exp: %s %s", typ, f.Type, f.Payload)
				}
			}
			st := srv.Built.Store
			if d, v := serverDoc(t, st, "note", "n1"); v != 1 || d["title"] != "one" {
				t.Fatalf("note after the refused change: %v version %d", d, v)
			}
			if chans, err := st.ChannelsOf(context.Background(), aliceID); err != nil || slices.Contains(chans, "note:n2") {
				t.Fatalf("alice's channels after the refused subscribe: %v %v", chans, err)
			}

			if err := srv.Built.Handler.Sweep(context.Background()); err != nil {
				t.Fatalf("sweep: %v", err)
			}
			select {
			case <-alice.closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the sweeper did not close the connection whose token expired")
			}
			waitFor(t, func() bool {
				_, err := st.GetConnection(context.Background(), aliceID)
				return errors.Is(err, store.ErrNotFound)
			}, "alice's connection record removed")
			ids, _, err := st.Subscribers(context.Background(), "default", "order-updates", store.Page{})
			if err != nil || len(ids) != 0 {
				t.Fatalf("subscribers of order-updates after the sweep: %v %v", ids, err)
			}
			if as, err := st.ExpiredTokens(context.Background(), srv.clock.Now(), 0); err != nil || len(as) != 0 {
				t.Fatalf("token alarms left after the sweep: %+v %v", as, err)
			}
			bob.quiet() // bob's token is valid: untouched

			// A fresh token carries on where the old one stopped.
			again := mustDialQuery(t, srv.Server, "alice2", tokenQuery(srv.token(t, "alice", time.Minute)))
			again.mustAck("change", "", change("note", "n1", 1, "update", "title", after("two")))
			if _, v := serverDoc(t, st, "note", "n1"); v != 2 {
				t.Fatalf("version after the fresh token's change: %d", v)
			}
			// Closing normally ($disconnect) removes a connection's alarm.
			later := srv.clock.Now().Add(2 * time.Hour)
			if as, err := st.ExpiredTokens(context.Background(), later, 0); err != nil || len(as) != 2 {
				t.Fatalf("alarms of bob and alice's new connection: %+v %v", as, err)
			}
			again.conn.Close(websocket.StatusNormalClosure, "")
			bob.conn.Close(websocket.StatusNormalClosure, "")
			waitFor(t, func() bool {
				as, err := st.ExpiredTokens(context.Background(), later, 0)
				return err == nil && len(as) == 0
			}, "the alarms of closed connections removed")
		})
	}
}
