package app

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/handler"
)

type logWriter struct{}

func (logWriter) Write(p []byte) (int, error) { return os.Stderr.Write(p) }

// NoAuth refuses every handshake. Functions other than $connect never
// authenticate, so they are built with it.
type NoAuth struct{}

var _ handler.Authenticator = NoAuth{}

// Authenticate implements handler.Authenticator by refusing.
func (NoAuth) Authenticate(context.Context, events.APIGatewayWebsocketProxyRequest) (auth.Identity, error) {
	return auth.Identity{}, errNoAuth
}

var errNoAuth = errors.New("this function does not accept connections")
