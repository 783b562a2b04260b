package gateway

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
)

// Route keys the gateway invokes.
const (
	RouteConnect    = "$connect"
	RouteDisconnect = "$disconnect"
	RouteDefault    = "$default"
)

// Event types, as in requestContext.eventType.
const (
	EventConnect    = "CONNECT"
	EventMessage    = "MESSAGE"
	EventDisconnect = "DISCONNECT"
)

// Invoker runs the integration of a route, as API Gateway invokes a Lambda
// function. routeKey is RouteConnect, RouteDefault or RouteDisconnect (also
// in req.RequestContext.RouteKey).
//
// As API Gateway invokes the integration for every message on its own,
// the gateway calls Invoke for each message as it arrives, concurrently
// with the other messages of its connection (up to 256 at once per
// connection) and with other connections, so implementations must be
// safe for concurrent use and must not rely on the order of a
// connection's messages. $disconnect does not wait for the $default
// invocations of its connection still running. ctx ends at the
// integration timeout; an Invoke still running then is abandoned, as API
// Gateway abandons a slow integration. An error stands for a failed invocation (a function error):
// on $connect the handshake is refused with 500, on $default the client is
// sent API Gateway's "Internal server error" frame, on $disconnect it is
// logged.
type Invoker interface {
	Invoke(ctx context.Context, routeKey string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)
}

// InvokerFunc adapts a function to the Invoker interface.
type InvokerFunc func(ctx context.Context, routeKey string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error)

// Invoke calls f.
func (f InvokerFunc) Invoke(ctx context.Context, routeKey string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	return f(ctx, routeKey, req)
}

var _ Invoker = InvokerFunc(nil)
