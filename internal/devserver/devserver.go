// Package devserver runs the whole backend on one machine with no AWS
// account: the local API Gateway emulation (package gateway) in front of the
// same handlers the Lambda functions run, the sweeper on a timer, and the
// embedded store or a DynamoDB endpoint.
//
// Entry point: Start. cmd/localserver is a thin main around it; the
// end-to-end tests start it in-process on a free port.
package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
)

// Options configure a local server. The zero value serves on
// 127.0.0.1:3001 with the memory store and dev identities.
type Options struct {
	// Addr is the listen address. Default "127.0.0.1:3001"; use
	// "127.0.0.1:0" for a free port.
	Addr string
	// Stage is the stage name, the last path segment of the WebSocket URL.
	// Default "ws".
	Stage string
	// Settings configure the handlers, as in the Lambda functions. A
	// non-empty TableName selects the DynamoDB store (created if missing).
	Settings app.Settings
	// App supplies collaborators (clock, store, authenticator). Default nil.
	App *app.Options
	// Gateway tunes the gateway's limits (message size, idle timeout,
	// lifetime) and hooks; Addr, Stage and Logger are filled in. Default
	// zero value: API Gateway's limits.
	Gateway gateway.Config
	// Invoker replaces the in-process handlers, e.g. to invoke the built
	// bootstraps through the Lambda Invoke API. Default nil (in-process).
	Invoker Invoker
	// SweepInterval is the sweeper timer. Default 1 min, as the deployed
	// schedule; negative disables it.
	SweepInterval time.Duration
	// Static serves the demo page at /. Default nil (no page).
	Static http.Handler
	// Logger receives server logs. Default the settings' logger.
	Logger *slog.Logger
}

// Server is a running local server.
type Server struct {
	Gateway *gateway.Server
	Built   *app.Built
	ln      net.Listener
	stop    context.CancelFunc
	wg      sync.WaitGroup
	log     *slog.Logger
}

// Start listens, builds the handlers and serves until Close.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:3001"
	}
	if o.Stage == "" {
		o.Stage = "ws"
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = time.Minute
	}
	log := o.Logger
	if log == nil {
		log = o.Settings.Logger()
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", o.Addr, err)
	}
	endpoint := fmt.Sprintf("http://%s/%s", ln.Addr().String(), o.Stage)
	if o.Settings.ManagementEndpoint == "" {
		o.Settings.ManagementEndpoint = endpoint
	}
	ao := app.Options{}
	if o.App != nil {
		ao = *o.App
	}
	if ao.Logger == nil {
		ao.Logger = log
	}
	if ao.Posters == nil {
		// The local gateway does not check signatures, but the client still
		// signs every request as it would in AWS; fixed local credentials
		// make that work on a machine with no AWS credentials at all.
		pool := mgmtapi.NewPool(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}, nil)
		ao.Posters = func(endpoint string) broadcast.Poster { return pool.Client(endpoint) }
	}
	ao.CreateTable = true
	built, err := app.Build(ctx, o.Settings, &ao)
	if err != nil {
		ln.Close()
		return nil, err
	}
	inv := o.Invoker
	if inv == nil {
		inv = InProcess(built.Handler)
	}
	gc := o.Gateway
	gc.Addr = ln.Addr().String()
	gc.Stage = o.Stage
	if gc.Logger == nil {
		gc.Logger = log
	}
	if o.Static != nil {
		gc.Static = o.Static
	}
	gw := gateway.New(gc, inv)
	runCtx, stop := context.WithCancel(context.Background())
	s := &Server{Gateway: gw, Built: built, ln: ln, stop: stop, log: log}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := gw.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			log.Error("gateway stopped", "error", err)
		}
	}()
	if o.SweepInterval > 0 {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			t := time.NewTicker(o.SweepInterval)
			defer t.Stop()
			for {
				select {
				case <-runCtx.Done():
					return
				case <-t.C:
					if err := inv.Sweep(runCtx); err != nil {
						log.Warn("sweep failed", "error", err)
					}
				}
			}
		}()
	}
	return s, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// WebSocketURL is the ws:// URL clients connect to.
func (s *Server) WebSocketURL() string { return s.Gateway.WebSocketURL() }

// Endpoint is the Management API endpoint.
func (s *Server) Endpoint() string { return s.Gateway.Endpoint() }

// Close shuts the gateway down gracefully, firing $disconnect for every open
// connection, and stops the sweeper.
func (s *Server) Close(ctx context.Context) error {
	err := s.Gateway.Shutdown(ctx)
	s.stop()
	s.wg.Wait()
	return err
}

// Invoker runs routes and the sweeper.
type Invoker interface {
	gateway.Invoker
	Sweep(ctx context.Context) error
}

// InProcess returns an Invoker that calls h directly.
func InProcess(h *handler.Handler) Invoker { return inProcess{h} }

type inProcess struct{ h *handler.Handler }

func (p inProcess) Invoke(ctx context.Context, routeKey string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	switch routeKey {
	case "$connect":
		return p.h.Connect(ctx, req)
	case "$disconnect":
		return p.h.Disconnect(ctx, req)
	default:
		return p.h.Message(ctx, req)
	}
}

func (p inProcess) Sweep(ctx context.Context) error { return p.h.Sweep(ctx) }
