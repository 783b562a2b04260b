package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/handler"
)

// DevAuthenticator trusts ?userId=&username=&tenant=&roles= on $connect and
// gives an anonymous id when userId is absent. It exists for local
// development only: anyone can claim any identity.
type DevAuthenticator struct{}

// Authenticate implements handler.Authenticator.
func (DevAuthenticator) Authenticate(ctx context.Context, req events.APIGatewayWebsocketProxyRequest) (handler.Identity, error) {
	q := req.QueryStringParameters
	id := handler.Identity{UserID: clean(q["userId"]), Username: clean(q["username"]), Tenant: clean(q["tenant"]), Avatar: q["avatar"]}
	if id.UserID == "" {
		var b [6]byte
		_, _ = rand.Read(b[:])
		id.UserID = "anon-" + hex.EncodeToString(b[:])
	}
	if id.Username == "" {
		id.Username = id.UserID
	}
	if id.Tenant == "" {
		id.Tenant = "default"
	}
	if r := q["roles"]; r != "" {
		id.Roles = strings.Split(r, ",")
	}
	return id, nil
}

// clean keeps identity strings short and free of key separators.
func clean(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '#' || r < 0x20 {
			return -1
		}
		return r
	}, s)
	if len(s) > 128 {
		s = s[:128]
	}
	return s
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
