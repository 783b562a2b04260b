// Package lambdainvoke runs the WebSocket routes and the sweeper by invoking
// the backend's Lambda functions through the Lambda Invoke API
// (POST /2015-03-31/functions/{name}/invocations), so the local gateway can
// drive the real bootstraps instead of calling the handlers in-process.
//
// Two layouts are supported:
//
//   - one endpoint serving every function under its own name, as
//     `sam local start-lambda` does (Shared, with the template's logical
//     IDs by default);
//   - one endpoint per function, as the Lambda Runtime Interface Emulator
//     runs a single bootstrap per process and serves it as "function"
//     (PerFunction).
//
// Entry point: New, whose *Invoker satisfies devserver.Invoker.
package lambdainvoke

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Function names one of the backend's four Lambda functions.
type Function string

// The backend's functions.
const (
	// Connect serves the $connect route.
	Connect Function = "connect"
	// Disconnect serves the $disconnect route.
	Disconnect Function = "disconnect"
	// Message serves the $default route.
	Message Function = "message"
	// Sweeper runs on a schedule.
	Sweeper Function = "sweeper"
)

// RIEFunctionName is the only function name the Lambda Runtime Interface
// Emulator serves.
const RIEFunctionName = "function"

// Functions returns the four functions in a fixed order.
func Functions() []Function { return []Function{Connect, Disconnect, Message, Sweeper} }

// DefaultFunctionNames returns the logical IDs of the functions in the SAM
// template, the names `sam local start-lambda` serves them under.
func DefaultFunctionNames() map[Function]string {
	return map[Function]string{
		Connect:    "ConnectFunction",
		Disconnect: "DisconnectFunction",
		Message:    "MessageFunction",
		Sweeper:    "SweeperFunction",
	}
}

// RouteFunction returns the function that serves a WebSocket route:
// $connect and $disconnect have their own, every other route key goes to
// the message function, as the $default route does.
func RouteFunction(routeKey string) Function {
	switch routeKey {
	case "$connect":
		return Connect
	case "$disconnect":
		return Disconnect
	default:
		return Message
	}
}

// Target is where one function is invoked.
type Target struct {
	// Endpoint is the base URL of the Lambda API, e.g.
	// "http://127.0.0.1:3001". Required.
	Endpoint string
	// FunctionName is the name in the invocation path. Required.
	FunctionName string
}

// Shared returns the targets of one endpoint that serves every function
// under its own name, as `sam local start-lambda` does. names overrides
// DefaultFunctionNames per function; nil keeps them all.
func Shared(endpoint string, names map[Function]string) map[Function]Target {
	ts := make(map[Function]Target, 4)
	for f, name := range DefaultFunctionNames() {
		if n := names[f]; n != "" {
			name = n
		}
		ts[f] = Target{Endpoint: endpoint, FunctionName: name}
	}
	return ts
}

// PerFunction returns the targets of one endpoint per function, each
// serving RIEFunctionName, as one Runtime Interface Emulator per bootstrap
// does.
func PerFunction(endpoints map[Function]string) map[Function]Target {
	ts := make(map[Function]Target, len(endpoints))
	for f, ep := range endpoints {
		ts[f] = Target{Endpoint: ep, FunctionName: RIEFunctionName}
	}
	return ts
}

// ParseEndpoints parses a list such as
// "connect=URL,disconnect=URL,message=URL,sweeper=URL" into one endpoint
// per function. Every function must appear exactly once.
func ParseEndpoints(s string) (map[Function]string, error) {
	const op = "parse lambda endpoints"
	eps := map[Function]string{}
	known := map[Function]bool{}
	for _, f := range Functions() {
		known[f] = true
	}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, ep, ok := strings.Cut(item, "=")
		f := Function(strings.TrimSpace(name))
		ep = strings.TrimSpace(ep)
		switch {
		case !ok || ep == "":
			return nil, fmt.Errorf("%s: %q: want function=URL", op, item)
		case !known[f]:
			return nil, fmt.Errorf("%s: unknown function %q (want connect, disconnect, message or sweeper)", op, f)
		case eps[f] != "":
			return nil, fmt.Errorf("%s: function %q given twice", op, f)
		}
		eps[f] = ep
	}
	for _, f := range Functions() {
		if eps[f] == "" {
			return nil, fmt.Errorf("%s: %q: missing %s=URL", op, s, f)
		}
	}
	return eps, nil
}

// Options configure an Invoker.
type Options struct {
	// Targets say where each function is invoked; all four are required.
	// Build them with Shared or PerFunction.
	Targets map[Function]Target
	// Region signs the requests. Default "us-east-1".
	Region string
	// Credentials sign the requests. Default static dummy credentials: the
	// emulator and `sam local` do not check signatures.
	Credentials aws.CredentialsProvider
	// HTTPClient sends the requests. Default nil: the SDK's client, with
	// each invocation bounded by its context only.
	HTTPClient *http.Client
	// MaxConcurrent bounds the invocations in flight per function. Default
	// 1: one execution environment, which is all the emulator runs (it
	// refuses an invocation while another is in progress). Negative means
	// no bound.
	MaxConcurrent int
	// Clock stamps the sweeper's scheduled events. Default time.Now.
	Clock func() time.Time
}

// Invoker invokes the backend's functions through the Lambda Invoke API.
// It satisfies devserver.Invoker and is safe for concurrent use.
// Invocations are never retried, as API Gateway does not retry a Lambda
// integration.
type Invoker struct {
	client  *lambda.Client
	targets map[Function]Target
	slots   map[Function]chan struct{} // nil map entry: unbounded
	region  string
	clock   func() time.Time
}

// New returns an Invoker for o.
func New(o Options) (*Invoker, error) {
	const op = "lambdainvoke.New"
	for _, f := range Functions() {
		t, ok := o.Targets[f]
		if !ok {
			return nil, fmt.Errorf("%s: no target for function %q", op, f)
		}
		if t.Endpoint == "" || t.FunctionName == "" {
			return nil, fmt.Errorf("%s: function %q: target needs an endpoint and a function name", op, f)
		}
		if !strings.HasPrefix(t.Endpoint, "http://") && !strings.HasPrefix(t.Endpoint, "https://") {
			return nil, fmt.Errorf("%s: function %q: endpoint %q is not an http(s) URL", op, f, t.Endpoint)
		}
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Credentials == nil {
		o.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
	}
	if o.MaxConcurrent == 0 {
		o.MaxConcurrent = 1
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	cfg := aws.Config{Region: o.Region, Credentials: o.Credentials, Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
	if o.HTTPClient != nil {
		cfg.HTTPClient = o.HTTPClient
	}
	inv := &Invoker{
		client:  lambda.NewFromConfig(cfg),
		targets: make(map[Function]Target, 4),
		slots:   make(map[Function]chan struct{}, 4),
		region:  o.Region,
		clock:   o.Clock,
	}
	for _, f := range Functions() {
		inv.targets[f] = o.Targets[f]
		if o.MaxConcurrent > 0 {
			inv.slots[f] = make(chan struct{}, o.MaxConcurrent)
		}
	}
	return inv, nil
}

// Target returns where f is invoked.
func (i *Invoker) Target(f Function) Target { return i.targets[f] }

// Invoke runs a WebSocket route: it invokes the route's function with req
// and decodes the proxy response it returns.
func (i *Invoker) Invoke(ctx context.Context, routeKey string, req events.APIGatewayWebsocketProxyRequest) (events.APIGatewayProxyResponse, error) {
	f := RouteFunction(routeKey)
	payload, err := json.Marshal(req)
	if err != nil {
		return events.APIGatewayProxyResponse{}, fmt.Errorf("invoke %q for route %q: encode event: %w", f, routeKey, err)
	}
	out, err := i.InvokeFunction(ctx, f, payload)
	if err != nil {
		return events.APIGatewayProxyResponse{}, err
	}
	var resp events.APIGatewayProxyResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return events.APIGatewayProxyResponse{}, fmt.Errorf("invoke %q for route %q: decode response %.200q: %w", f, routeKey, out, err)
	}
	return resp, nil
}

// Sweep invokes the sweeper with a scheduled event, as the deployed
// EventBridge schedule does.
func (i *Invoker) Sweep(ctx context.Context) error {
	payload, err := json.Marshal(ScheduledEvent(i.clock(), i.region))
	if err != nil {
		return fmt.Errorf("invoke %q: encode event: %w", Sweeper, err)
	}
	_, err = i.InvokeFunction(ctx, Sweeper, payload)
	return err
}

// InvokeFunction invokes f synchronously with payload and returns the
// function's response payload. A function that failed (an error returned
// or a panic) yields a *FunctionError.
func (i *Invoker) InvokeFunction(ctx context.Context, f Function, payload []byte) ([]byte, error) {
	t, ok := i.targets[f]
	if !ok {
		return nil, fmt.Errorf("invoke %q: unknown function", f)
	}
	if slot := i.slots[f]; slot != nil {
		select {
		case slot <- struct{}{}:
			defer func() { <-slot }()
		case <-ctx.Done():
			return nil, fmt.Errorf("invoke %q: waiting for the function to be free: %w", f, ctx.Err())
		}
	}
	out, err := i.client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName:   aws.String(t.FunctionName),
		InvocationType: types.InvocationTypeRequestResponse,
		Payload:        payload,
	}, func(o *lambda.Options) { o.BaseEndpoint = aws.String(t.Endpoint) })
	if err != nil {
		return nil, fmt.Errorf("invoke %q as %q at %q: %w", f, t.FunctionName, t.Endpoint, err)
	}
	if fe := functionError(f, aws.ToString(out.FunctionError), out.Payload); fe != nil {
		return nil, fe
	}
	return out.Payload, nil
}

// FunctionError is a failed invocation: the function returned an error or
// panicked.
type FunctionError struct {
	// Function is the function that failed.
	Function Function
	// Kind is the X-Amz-Function-Error value ("Unhandled"), or "" when the
	// endpoint did not send one (the emulator does not).
	Kind string
	// Type and Message are the errorType and errorMessage of the payload.
	Type, Message string
	// Payload is the raw error payload.
	Payload []byte
}

// Error implements error.
func (e *FunctionError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = string(e.Payload)
	}
	return fmt.Sprintf("function %q failed: %s: %s", e.Function, e.Type, msg)
}

// IsFunctionError reports whether err is, or wraps, a *FunctionError.
func IsFunctionError(err error) bool {
	var fe *FunctionError
	return errors.As(err, &fe)
}

// functionError returns the failure an invocation response stands for, or
// nil. Lambda flags it with X-Amz-Function-Error; the emulator only sends
// the error document, {"errorMessage":...,"errorType":...}, so that shape
// counts as a failure too. No successful response of these functions has
// it: the routes return proxy responses and the sweeper null.
func functionError(f Function, kind string, payload []byte) *FunctionError {
	var doc struct {
		ErrorMessage *string `json:"errorMessage"`
		ErrorType    *string `json:"errorType"`
	}
	isDoc := json.Unmarshal(payload, &doc) == nil && doc.ErrorMessage != nil && doc.ErrorType != nil
	if kind == "" && !isDoc {
		return nil
	}
	return &FunctionError{Function: f, Kind: kind, Type: aws.ToString(doc.ErrorType), Message: aws.ToString(doc.ErrorMessage), Payload: payload}
}

// ScheduledEvent returns the event an EventBridge schedule delivers at now.
func ScheduledEvent(now time.Time, region string) events.EventBridgeEvent {
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	now = now.UTC().Truncate(time.Second)
	return events.EventBridgeEvent{
		Version:    "0",
		ID:         hex.EncodeToString(id[:]),
		DetailType: "Scheduled Event",
		Source:     "aws.events",
		AccountID:  "123456789012",
		Time:       now,
		Region:     region,
		Resources:  []string{"arn:aws:events:" + region + ":123456789012:rule/rtcollab-sweeper"},
		Detail:     json.RawMessage(`{}`),
	}
}

// String lists the targets, for start-up banners.
func (i *Invoker) String() string {
	lines := make([]string, 0, len(i.targets))
	for f, t := range i.targets {
		lines = append(lines, fmt.Sprintf("%s=%s (%s)", f, t.Endpoint, t.FunctionName))
	}
	sort.Strings(lines)
	return strings.Join(lines, ", ")
}
