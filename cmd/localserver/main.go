// Command localserver runs the backend on a laptop: a local stand-in for the
// API Gateway WebSocket API and Management API in front of the same handlers
// the Lambda functions run. It uses the embedded store, or DynamoDB when
// DYNAMODB_ENDPOINT is set.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/devserver"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "localserver:", err)
		os.Exit(1)
	}
}

func run() error {
	dev := flag.Bool("dev", false, "accept ?userId=&username=&tenant= identities without a token (local development only)")
	stage := flag.String("stage", "ws", "stage name: the last path segment of the WebSocket URL")
	sweep := flag.Duration("sweep", time.Minute, "sweeper interval")
	flag.Parse()

	s, err := app.SettingsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	if *dev {
		s.DevIdentity = true
	}
	if s.DynamoDBEndpoint != "" && s.TableName == "" {
		s.TableName = "rtcollab-local"
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "3001"
	}
	log := s.Logger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	srv, err := devserver.Start(ctx, devserver.Options{
		Addr: "127.0.0.1:" + port, Stage: *stage, Settings: s, SweepInterval: *sweep, Logger: log,
		App: &app.Options{Auth: app.TokenAuthFromEnv(ctx, os.Getenv)},
	})
	if err != nil {
		return err
	}
	store := "embedded memory store"
	if s.TableName != "" {
		store = fmt.Sprintf("DynamoDB table %q at %s", s.TableName, s.DynamoDBEndpoint)
	}
	if s.DevIdentity {
		log.Warn("DEV MODE: identities are taken from ?userId=&username=&tenant= without verification; never expose this server")
	}
	fmt.Printf("rtcollab local server\n  WebSocket:      %s\n  Management API: %s/@connections/{id}\n  Demo page:      http://localhost:%s/\n  Store:          %s\n", srv.WebSocketURL(), srv.Endpoint(), port, store)
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Close(sctx)
}
