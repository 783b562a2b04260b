// Command localserver runs the backend on a laptop: a local stand-in for the
// API Gateway WebSocket API and Management API in front of the same handlers
// the Lambda functions run. It uses the embedded store, or DynamoDB when
// DYNAMODB_ENDPOINT is set.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/devserver"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/tools/lambdainvoke"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "localserver:", err)
		os.Exit(1)
	}
}

func run() error {
	dev := flag.Bool("dev", false, "accept ?userId=&username=&tenant= identities without a token (local development only)")
	stage := flag.String("stage", "ws", "stage name: the last path segment of the WebSocket URL and of the Management API endpoint (slashes around it are dropped)")
	sweep := flag.Duration("sweep", time.Minute, "sweeper interval; 0 turns the sweeper off")
	static := flag.String("static", "client/demo/dist", "serve the demo page from this directory at / (skipped when it does not exist)")
	lambdaEndpoint := flag.String("lambda-endpoint", "", "invoke the functions through this Lambda API endpoint, as served by sam local start-lambda (names ConnectFunction, DisconnectFunction, MessageFunction, SweeperFunction)")
	mgmtHTTP := flag.Bool("management-http", false, "post every frame through the signed HTTP Management API, as deployed code does, instead of handing frames for this server's connections to the gateway in process")
	lambdaEndpoints := flag.String("lambda-endpoints", "", "invoke each function at its own Lambda API endpoint, one Runtime Interface Emulator per bootstrap: connect=URL,disconnect=URL,message=URL,sweeper=URL")
	connectRate := flag.Float64("connect-rate", 500, "new connections a second before handshakes are refused with 429, as API Gateway's account quota (500); 0 for no bound (negative, NaN and infinite values are refused)")
	shutdownTimeout := flag.Duration("shutdown-timeout", 0, "how long a shutdown waits for $disconnect to run for every connection; 0 picks 10s on the embedded store, 30s on DynamoDB or with -lambda-endpoint(s)")
	allowOrigins := flag.String("allow-origin", os.Getenv("DEV_ALLOWED_ORIGINS"), "with -dev, comma-separated origins besides this machine's pages whose pages may connect, each scheme://host[:port], e.g. http://devbox.local:5173 (env DEV_ALLOWED_ORIGINS)")
	flag.Parse()
	if err := checkConnectRate(*connectRate); err != nil {
		return err
	}
	if err := checkDuration("-sweep", *sweep, "0 turns the sweeper off"); err != nil {
		return err
	}
	if err := checkDuration("-shutdown-timeout", *shutdownTimeout, "0 picks the default bound: 10s on the embedded store, 30s on DynamoDB or with -lambda-endpoint(s)"); err != nil {
		return err
	}
	originsFrom := "DEV_ALLOWED_ORIGINS"
	flag.Visit(func(f *flag.Flag) {
		if f.Name == "allow-origin" {
			originsFrom = "-allow-origin"
		}
	})
	origins, err := parseOrigins(*allowOrigins, originsFrom)
	if err != nil {
		return err
	}

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
	inv, functions, err := remoteInvoker(*lambdaEndpoint, *lambdaEndpoints, s)
	if err != nil {
		return err
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "3001"
	}
	log := s.Logger()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The AWS configuration in the environment, if any: the local server
	// runs without credentials on the memory store or a local DynamoDB.
	awsCfg, err := awsrest.FromEnv(os.Getenv, true)
	if err != nil {
		return err
	}
	awsCfg.Region = s.Region
	ts, err := auth.TokenSettingsFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	authn, err := auth.NewTokenAuth(ctx, ts, &auth.TokenOptions{Dev: s.DevIdentity, AWS: awsCfg})
	if err != nil {
		return err
	}
	demo := staticDir(*static)
	srv, err := devserver.Start(ctx, devserver.Options{
		Addr: "127.0.0.1:" + port, Stage: *stage, Settings: s, SweepInterval: sweepInterval(*sweep), Logger: log,
		App: &app.Options{Auth: authn, AWS: &awsCfg}, Invoker: inv, Static: demo, ManagementHTTP: *mgmtHTTP,
		Gateway: gateway.Config{Credentials: managementCredentials(os.Getenv), AllowedOrigins: origins,
			NewConnectionsPerSecond: *connectRate},
	})
	if err != nil {
		return err
	}
	if s.DevIdentity {
		log.Warn("DEV MODE: identities are taken from ?userId=&username=&tenant= without verification; only loopback Host names and pages of this machine (and -allow-origin) may connect; never expose this server")
	}
	printBanner(os.Stdout, srv, demo != nil, s, functions)
	if inv != nil {
		// Every function that posts needs MANAGEMENT_ENDPOINT: the template
		// sets it for each, to the execute-api host, which takes precedence
		// over the endpoint of the event (events/env.json does it for sam
		// local).
		fmt.Printf("  The functions need TABLE_NAME=%s, DYNAMODB_ENDPOINT and MANAGEMENT_ENDPOINT=%s (each as they reach it) in their environment, and DEV_IDENTITY=1 for -dev; events/env.json sets them for sam local\n", s.TableName, srv.Endpoint())
	}
	<-ctx.Done()
	exitOnSecondSignal(stop, os.Stderr, os.Exit)
	bound := shutdownBound(*shutdownTimeout, s, inv != nil)
	log.Info("shutting down", "connections", srv.Gateway.ConnectionCount(), "bound", bound.String())
	sctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	return shutdownError(srv.Close(sctx), bound)
}

// Bounds of the graceful shutdown, by where $disconnect goes: the
// embedded store answers at once; DynamoDB (DynamoDB Local, moto, AWS)
// and functions in Lambda emulators, which run one invocation at a time,
// take a round trip or more per call. 30s is just over API Gateway's
// integration timeout (29s), the longest one $disconnect may run.
const (
	shutdownMemoryStore = 10 * time.Second
	shutdownDynamoDB    = 30 * time.Second
)

// shutdownBound is the bound of the graceful shutdown: flagged, when the
// -shutdown-timeout flag is set, else the one the store selects.
func shutdownBound(flagged time.Duration, s app.Settings, remote bool) time.Duration {
	switch {
	case flagged > 0:
		return flagged
	case s.TableName != "" || remote:
		return shutdownDynamoDB
	default:
		return shutdownMemoryStore
	}
}

// shutdownError says what a shutdown cut off by its bound left behind.
func shutdownError(err error, bound time.Duration) error {
	var inc *gateway.ShutdownIncompleteError
	if !errors.As(err, &inc) {
		return err
	}
	msg := fmt.Sprintf("shutdown bound (%s, -shutdown-timeout) reached: %d of %d $disconnect calls abandoned; their connection records stay in the store until the sweeper or a later post to them cleans them up", bound, inc.Abandoned, inc.Total)
	if inc.Running > 0 {
		msg += fmt.Sprintf("; $default invocations still running for %d closed connections were cut off", inc.Running)
	}
	return errors.New(msg)
}

// exitOnSecondSignal is called once the first SIGINT or SIGTERM has begun
// the graceful shutdown (ctx of stop ended): it makes a second one end
// the process at once with status 130, without waiting for $disconnect.
// stop() alone would hand the signals back to the disposition the process
// inherited, which is "ignore" for a server started in the background by a
// non-interactive shell (scripts/dev-rie.sh): a second Ctrl-C was ignored
// and a slow shutdown waited out its bound.
func exitOnSecondSignal(stop func(), w io.Writer, exit func(int)) {
	second := make(chan os.Signal, 1)
	signal.Notify(second, os.Interrupt, syscall.SIGTERM) // before stop: no moment without a handler
	stop()
	go func() {
		<-second
		fmt.Fprintln(w, "localserver: second signal: exiting without waiting for $disconnect")
		exit(130)
	}()
}

// remoteInvoker returns the invoker for -lambda-endpoint or
// -lambda-endpoints and a description for the banner; nil when neither is
// set, which runs the handlers in-process. Functions in other processes
// share state only through DynamoDB, so the memory store is refused.
func remoteInvoker(endpoint, endpoints string, s app.Settings) (devserver.Invoker, string, error) {
	var targets map[lambdainvoke.Function]lambdainvoke.Target
	switch {
	case endpoint != "" && endpoints != "":
		return nil, "", errors.New("-lambda-endpoint and -lambda-endpoints exclude each other")
	case endpoint != "":
		targets = lambdainvoke.Shared(endpoint, nil)
	case endpoints != "":
		eps, err := lambdainvoke.ParseEndpoints(endpoints)
		if err != nil {
			return nil, "", err
		}
		targets = lambdainvoke.PerFunction(eps)
	default:
		return nil, "in-process", nil
	}
	if s.TableName == "" {
		return nil, "", errors.New("functions invoked through the Lambda API run in other processes and share state only through DynamoDB: set DYNAMODB_ENDPOINT (and TABLE_NAME) here and in their environment")
	}
	inv, err := lambdainvoke.New(lambdainvoke.Options{Targets: targets, Region: s.Region})
	if err != nil {
		return nil, "", err
	}
	return inv, "Lambda Invoke API: " + inv.String(), nil
}

// checkConnectRate refuses a -connect-rate that names no rate: a
// negative one, NaN or an infinity (flag.Float64 takes them all).
func checkConnectRate(rate float64) error {
	if rate < 0 || math.IsNaN(rate) || math.IsInf(rate, 0) {
		return fmt.Errorf("-connect-rate %v: want new connections a second, a finite number, 0 or more (0 for no bound)", rate)
	}
	return nil
}

// checkDuration refuses a negative duration flag; zero names what 0
// means for it.
func checkDuration(name string, d time.Duration, zero string) error {
	if d < 0 {
		return fmt.Errorf("%s %v: want a duration of 0 or more (%s)", name, d, zero)
	}
	return nil
}

// sweepInterval is the devserver's sweeper interval for the -sweep flag:
// 0 turns the sweeper off, as a negative interval does there.
func sweepInterval(flagged time.Duration) time.Duration {
	if flagged == 0 {
		return -1
	}
	return flagged
}

// parseOrigins splits a comma-separated list of origins (source names
// where it came from) and refuses an item that is not scheme://host[:port],
// the form of a browser's Origin header: one without a scheme, such as
// devbox.local:5173, could never match. A trailing slash is taken, as the
// gateway drops it.
func parseOrigins(list, source string) ([]string, error) {
	origins := splitList(list)
	for _, o := range origins {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Opaque != "" || u.User != nil || u.Hostname() == "" ||
			(u.Path != "" && u.Path != "/") || strings.ContainsAny(o, "?#") {
			return nil, fmt.Errorf("%s: %q is not an origin: want scheme://host[:port], e.g. http://devbox.local:5173", source, o)
		}
	}
	return origins, nil
}

// managementCredentials are the key pairs the local Management API accepts
// signatures from: the fixed local pair, which this server's own client
// uses, and the pair in this process's environment (AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY), which functions started with the same
// environment sign with.
func managementCredentials(getenv func(string) string) map[string]string {
	creds := map[string]string{gateway.LocalAccessKeyID: gateway.LocalSecretAccessKey}
	if id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"); id != "" && secret != "" {
		creds[id] = secret
	}
	return creds
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// staticDir serves dir as the demo page, or returns nil when dir is not a
// directory (the demo is not built).
func staticDir(dir string) http.Handler {
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil
	}
	return http.FileServer(http.Dir(dir))
}

// printBanner prints what the server serves: its URLs (with the port of
// the socket it opened, which PORT=0 picks), the demo page only when one
// is served, and the store.
func printBanner(w io.Writer, srv *devserver.Server, demo bool, s app.Settings, functions string) {
	page := "not built (make demo, or -static DIR)"
	if demo {
		page = "http://localhost:" + portOf(srv.Addr()) + "/"
	}
	delivery := "signed HTTP Management API"
	if srv.DirectDelivery() {
		delivery = "in process to the gateway (-management-http for the signed HTTP Management API)"
	}
	fmt.Fprintf(w, "rtcollab local server\n  WebSocket:      %s\n  Management API: %s/@connections/{id}\n  Publish API:    %s/publish, /notify, /presence/snapshot, /events (SigV4, access key %q, region %s)\n  Demo page:      %s\n  Store:          %s\n  Functions:      %s\n  Delivery:       %s\n",
		srv.WebSocketURL(), srv.Endpoint(), srv.APIURL(), gateway.LocalAccessKeyID, srv.Gateway.Region(), page, storeDescription(s), functions, delivery)
}

// portOf is the port of a host:port address.
func portOf(addr string) string {
	if _, port, err := net.SplitHostPort(addr); err == nil {
		return port
	}
	return addr
}

// storeDescription names the store the settings select: the embedded
// memory store, or the DynamoDB table at its endpoint (AWS's when
// DYNAMODB_ENDPOINT is empty).
func storeDescription(s app.Settings) string {
	switch {
	case s.TableName == "":
		return "embedded memory store"
	case s.DynamoDBEndpoint == "":
		return fmt.Sprintf("DynamoDB table %q in AWS (region %s)", s.TableName, s.Region)
	default:
		return fmt.Sprintf("DynamoDB table %q at %s", s.TableName, s.DynamoDBEndpoint)
	}
}
