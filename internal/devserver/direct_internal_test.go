package devserver

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
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
