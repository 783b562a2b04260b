package app

import (
	"context"
	"errors"
	"os"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/handler"
)

// DevAuthenticator trusts ?userId=&username=&tenant=&roles= on $connect and
// gives an anonymous id when userId is absent. It exists for local
// development only: anyone can claim any identity.
type DevAuthenticator struct{}

// Authenticate implements handler.Authenticator with auth.DevIdentity,
// the one reading of development query parameters (the token
// authenticator's development mode uses it too).
func (DevAuthenticator) Authenticate(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (handler.Identity, error) {
	return handlerIdentity(auth.DevIdentity(req.QueryStringParameters)), nil
}

type logWriter struct{}

func (logWriter) Write(p []byte) (int, error) { return os.Stderr.Write(p) }

// NoAuth refuses every handshake. Functions other than $connect never
// authenticate, so they are built with it.
type NoAuth struct{}

// Authenticate implements handler.Authenticator by refusing.
func (NoAuth) Authenticate(context.Context, events.APIGatewayWebsocketProxyRequest) (handler.Identity, error) {
	return handler.Identity{}, errNoAuth
}

var errNoAuth = errors.New("this function does not accept connections")
