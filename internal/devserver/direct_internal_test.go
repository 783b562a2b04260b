package devserver

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/coder/websocket"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/store"
)

func startForPosters(t *testing.T, o Options) *Server {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	o.Addr = "127.0.0.1:0"
	o.Settings.DevIdentity = true
	o.SweepInterval = -1
	srv, err := Start(context.Background(), o)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Close(ctx)
	})
	return srv
}

// TestDirectPosters: the server's own endpoint gets the in-process poster,
// any other endpoint the HTTP client; the in-process poster's errors are
// the HTTP client's, and it can still probe connections (the sweeper's
// GetConnection).
func TestDirectPosters(t *testing.T) {
	srv := startForPosters(t, Options{})
	if srv.direct == nil {
		t.Fatal("the default server has no in-process posters")
	}
	for _, ep := range []string{srv.Endpoint(), srv.Endpoint() + "/"} {
		if _, ok := srv.direct.poster(ep).(directPoster); !ok {
			t.Errorf("poster(%q) = %T, want directPoster", ep, srv.direct.poster(ep))
		}
	}
	if p, ok := srv.direct.poster("http://127.0.0.1:1/ws").(*mgmtapi.Client); !ok {
		t.Errorf("poster for another endpoint = %T, want *mgmtapi.Client", p)
	}

	p := srv.direct.poster(srv.Endpoint()).(directPoster)
	ctx := context.Background()
	var apiErr *mgmtapi.APIError
	err := p.PostToConnection(ctx, "R1kmxc2VNjMCFIA=", []byte("x"))
	if !mgmtapi.IsGone(err) || !errors.As(err, &apiErr) || apiErr.Status != http.StatusGone || apiErr.Type != "GoneException" || apiErr.Op != mgmtapi.OpPostToConnection {
		t.Errorf("post to an unknown id = %#v, want a 410 GoneException APIError", err)
	}
	if err := p.PostToConnection(ctx, "R1kmxc2VNjMCFIA=", make([]byte, gateway.DefaultMaxMessageBytes+1)); !errors.Is(err, mgmtapi.ErrPayloadTooLarge) {
		t.Errorf("oversized post = %v, want ErrPayloadTooLarge", err)
	}
	if err := p.PostToConnection(ctx, "", []byte("x")); err == nil || mgmtapi.IsGone(err) {
		t.Errorf("post to an empty id = %v, want an error that is not Gone", err)
	}
	prober, ok := srv.direct.poster(srv.Endpoint()).(interface {
		GetConnection(ctx context.Context, id string) (*mgmtapi.Connection, error)
	})
	if !ok {
		t.Fatal("the in-process poster cannot probe connections")
	}
	if _, err := prober.GetConnection(ctx, "R1kmxc2VNjMCFIA="); !mgmtapi.IsGone(err) {
		t.Errorf("GetConnection of an unknown id = %v, want Gone", err)
	}
}

// TestDirectPosterBufferFull: posts in process to a client that does not
// read are refused, once its backlog is full, with the 429
// LimitExceededException the HTTP client reports for the same connection
// (mgmtapi.ErrThrottled, not Gone, so that a fan-out keeps the
// connection), and the connection stays open.
func TestDirectPosterBufferFull(t *testing.T) {
	srv := startForPosters(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, srv.WebSocketURL()+"?userId=slow", nil) // never reads
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	conns, err := srv.Built.Store.UserConnections(ctx, auth.DefaultTenantName, "slow")
	if err != nil || len(conns) != 1 {
		t.Fatalf("connections of the slow client = %v, %v", conns, err)
	}
	id := conns[0].ID

	p := srv.direct.poster(srv.Endpoint()).(directPoster)
	frame := bytes.Repeat([]byte("x"), 16<<10)
	for n := 0; ; n++ {
		if err = p.PostToConnection(ctx, id, frame); err != nil {
			break
		}
		if n > 100000 {
			t.Fatal("1.6 GB posted to a client that does not read")
		}
	}
	var got *mgmtapi.APIError
	if !errors.As(err, &got) || !errors.Is(err, mgmtapi.ErrThrottled) || mgmtapi.IsGone(err) {
		t.Fatalf("post past the backlog = %#v, want a 429 APIError (ErrThrottled, not Gone)", err)
	}
	overHTTP := mgmtapi.New(srv.Endpoint(), aws.Config{Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(gateway.LocalAccessKeyID, gateway.LocalSecretAccessKey, "")},
		&mgmtapi.Options{MaxAttempts: 1})
	for n := 0; ; n++ { // the writer may have taken the backlog meanwhile
		if err = overHTTP.PostToConnection(ctx, id, frame); err != nil {
			break
		}
		if n > 100000 {
			t.Fatal("1.6 GB posted to a client that does not read")
		}
	}
	var want *mgmtapi.APIError
	if !errors.As(err, &want) {
		t.Fatalf("POST over HTTP past the backlog = %v, want an APIError", err)
	}
	if *got != *want {
		t.Errorf("in-process error = %+v, want the HTTP client's %+v", *got, *want)
	}
	if _, err := p.GetConnection(ctx, id); err != nil {
		t.Errorf("GetConnection with the backlog full = %v, want the connection open", err)
	}
}

// countingInline counts the posts of an in-process poster per connection.
type countingInline struct {
	directPoster
	mu    sync.Mutex
	posts map[string]int
}

func (p *countingInline) PostToConnection(ctx context.Context, id string, data []byte) error {
	p.mu.Lock()
	p.posts[id]++
	p.mu.Unlock()
	return p.directPoster.PostToConnection(ctx, id, data)
}

func (p *countingInline) PrepareFrame(data []byte) func(ctx context.Context, id string) error {
	return func(ctx context.Context, id string) error { return p.PostToConnection(ctx, id, data) }
}

// TestFanoutKeepsSlowSubscriber: a fan-out through the in-process poster
// to a subscriber whose buffer is full counts the post as failed after one
// attempt, delivers to the others, and keeps the slow subscriber's
// connection and subscription (a 429 is not a 410).
func TestFanoutKeepsSlowSubscriber(t *testing.T) {
	srv := startForPosters(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := srv.Built.Store
	ids := map[string]string{}
	var fast *websocket.Conn
	for _, user := range []string{"slow", "fast"} {
		conn, _, err := websocket.Dial(ctx, srv.WebSocketURL()+"?userId="+user, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.CloseNow() })
		conns, err := st.UserConnections(ctx, auth.DefaultTenantName, user)
		if err != nil || len(conns) != 1 {
			t.Fatalf("connections of %s = %v, %v", user, conns, err)
		}
		ids[user] = conns[0].ID
		if _, err := st.Subscribe(ctx, auth.DefaultTenantName, "room:slow", conns[0].ID, 0); err != nil {
			t.Fatal(err)
		}
		if user == "fast" {
			fast = conn
		}
	}
	got := make(chan error) // nil for each frame the fast subscriber reads
	go func() {
		for {
			_, _, err := fast.Read(ctx)
			got <- err
			if err != nil {
				return
			}
		}
	}()

	p := &countingInline{directPoster: srv.direct.poster(srv.Endpoint()).(directPoster), posts: map[string]int{}}
	b := broadcast.New(st, p, broadcast.Config{IsGone: mgmtapi.IsGone})
	frame := bytes.Repeat([]byte("x"), 16<<10) // under the client's 32 KiB read limit
	fanouts := 0
	for res := (broadcast.Result{}); res.Failed == 0; fanouts++ {
		if fanouts > 100000 {
			t.Fatal("1.6 GB posted to a client that does not read")
		}
		var err error
		if res, err = b.Fanout(ctx, auth.DefaultTenantName, "room:slow", frame, nil); err != nil {
			t.Fatal(err)
		}
		if res.Recipients != 2 || res.Gone != 0 || res.Delivered < 1 || res.Delivered+res.Failed != 2 {
			t.Fatalf("fan-out %d = %+v, want 2 recipients, none gone, the fast one delivered", fanouts, res)
		}
		// The fast subscriber reads each frame before the next fan-out:
		// its backlog stays empty, the slow one's grows.
		if err := <-got; err != nil {
			t.Fatalf("fast subscriber, frame %d: %v", fanouts, err)
		}
	}
	if n := p.posts[ids["slow"]]; n != fanouts {
		t.Errorf("%d posts to the slow subscriber in %d fan-outs, want one each", n, fanouts)
	}
	if _, err := st.GetConnection(ctx, ids["slow"]); err != nil {
		t.Errorf("slow subscriber's connection: %v, want it kept", err)
	}
	if subs, _, err := st.Subscribers(ctx, auth.DefaultTenantName, "room:slow", store.Page{Limit: 10}); err != nil || len(subs) != 2 {
		t.Errorf("subscribers after the full buffer = %v, %v, want both", subs, err)
	}
}

// TestDirectPostersDisabled: the HTTP path is kept where tests rely on it.
func TestDirectPostersDisabled(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"ManagementHTTP", Options{ManagementHTTP: true}},
		{"ManagementFault", Options{Gateway: gateway.Config{ManagementFault: func(*http.Request) (int, time.Duration) { return 0, 0 }}}},
		{"App.Posters", Options{App: &app.Options{Posters: func(string) broadcast.Poster { return nil }}}},
		{"Invoker", Options{Invoker: remoteFunctions{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startForPosters(t, tt.o)
			if srv.DirectDelivery() {
				t.Error("DirectDelivery() = true, want the HTTP path")
			}
		})
	}
}

// TestWrapPosters: the wrapper receives the server's posters, in-process
// ones included, and its result is what the handlers use.
func TestWrapPosters(t *testing.T) {
	var wrapped func(string) broadcast.Poster
	srv := startForPosters(t, Options{WrapPosters: func(p func(string) broadcast.Poster) func(string) broadcast.Poster {
		wrapped = p
		return p
	}})
	if wrapped == nil {
		t.Fatal("WrapPosters was not called")
	}
	if _, ok := wrapped(srv.Endpoint()).(directPoster); !ok {
		t.Errorf("wrapped poster = %T, want directPoster", wrapped(srv.Endpoint()))
	}
}

// remoteFunctions stands in for functions in other processes; the test
// makes no invocation.
type remoteFunctions struct{}

func (remoteFunctions) Invoke(context.Context, string, events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return events.APIGatewayProxyResponse{StatusCode: http.StatusOK}, nil
}

func (remoteFunctions) Sweep(context.Context) error { return nil }
