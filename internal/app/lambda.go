package app

import (
	"context"
	"fmt"
	"io"

	"github.com/omnisales/rtcollab/internal/handler"
)

// Function names one of the Lambda functions.
type Function int

// The four functions of the template.
const (
	Connect Function = iota
	Disconnect
	Message
	Sweeper
)

// ForLambda is the cold start shared by the four Lambda mains: it reads the
// settings through getenv, builds the authenticator (only $connect
// authenticates; the others refuse handshakes they never receive) and
// wires the handler with EMF metrics written to metrics.
func ForLambda(ctx context.Context, fn Function, getenv func(string) string, metrics io.Writer) (*Built, error) {
	s, err := SettingsFromEnv(getenv)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	var authn handler.Authenticator = NoAuth{}
	if fn == Connect {
		if authn, err = TokenAuthFromEnv(ctx, s, getenv); err != nil {
			return nil, fmt.Errorf("authenticator: %w", err)
		}
	}
	return Build(ctx, s, &Options{Auth: authn, Metrics: metrics})
}
