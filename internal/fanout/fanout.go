// Package fanout runs sharded fan-out on AWS Lambda: the message function
// hands each shard of a large channel (see broadcast.Shard) to an
// asynchronous invocation of the fan-out function (functions/fanout),
// whose handler takes only fan-out events (Event) and delivers the shard.
//
// Entry points: ConfigFromEnv reads the settings through a getenv function
// supplied by main; New builds the Management API posters (sharded when a
// fan-out function is configured) and, for the fan-out function, the
// handler of fan-out events (Fanout.Handler); Dispatcher is the
// asynchronous invoke.
package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/encoding/httpbinding"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/backoff"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/metrics"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
)

// DefaultMaxPayloadBytes is the largest payload of an asynchronous
// (InvocationType Event) invoke that Dispatcher sends: Lambda's long-standing
// 256 KB limit for asynchronous invocations.
const DefaultMaxPayloadBytes = 256 * 1024

// Config configures sharded fan-out. The zero value disables it.
type Config struct {
	// FunctionName is the function that delivers shards
	// (FANOUT_FUNCTION_NAME), invoked asynchronously. Default "": no
	// sharding, every fan-out is delivered by the invocation that handles
	// the publish.
	FunctionName string
	// ShardSize is the most recipients one invocation posts to
	// (FANOUT_SHARD_SIZE). Default 1000 (broadcast.DefaultShardSize).
	ShardSize int
	// InlineMax is the most recipients of one broadcast the invocation
	// posts to itself (FANOUT_INLINE_MAX; broadcast.Sharding.InlineMax):
	// the rest go to the fan-out function in shards of ShardSize. Default
	// 0: ShardSize, the invocation posts the first shard. The functions
	// that announce what a removed connection leaves set it low, as they
	// make many broadcasts in one step.
	InlineMax int
	// LambdaEndpoint is the Lambda API endpoint of the invokes
	// (AWS_ENDPOINT_URL_LAMBDA or AWS_ENDPOINT_URL). Default: the regional
	// endpoint of the AWS configuration's region.
	LambdaEndpoint string
	// Endpoint is the Management API endpoint the deployment posts to
	// (MANAGEMENT_ENDPOINT, which the message function also puts in every
	// shard). When set, Handler posts only there: a shard naming another
	// endpoint is refused, so that an invocation cannot make the function
	// send its signed requests to a host of the invoker's choosing (or
	// remove connections that such a host calls gone). Default "": any.
	Endpoint string
	// Management tunes the Management API clients that post, fan-out
	// shards included: app sets the delivery-rate budget and throttling
	// attempts here (app.Settings.ManagementOptions). Default nil: every
	// mgmtapi.Options default, no pacing.
	Management *mgmtapi.Options
}

// ConfigFromEnv reads Config through getenv (os.Getenv, passed in by main).
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{FunctionName: getenv("FANOUT_FUNCTION_NAME")}
	if getenv("AWS_ENDPOINT_URL_LAMBDA") != "" || getenv("AWS_ENDPOINT_URL") != "" {
		c.LambdaEndpoint = awsrest.Endpoint(getenv, LambdaService, "")
	}
	if v := getenv("FANOUT_SHARD_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return c, fmt.Errorf("FANOUT_SHARD_SIZE %q: want a positive integer", v)
		}
		c.ShardSize = n
	}
	if v := getenv("FANOUT_INLINE_MAX"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return c, fmt.Errorf("FANOUT_INLINE_MAX %q: want a whole number, 0 or more", v)
		}
		c.InlineMax = n
	}
	return c, nil
}

// Event is the payload of a fan-out invocation.
type Event struct {
	// Shard is the shard to deliver.
	Shard *broadcast.Shard `json:"rtcollabFanout"`
}

// Delivery is the fan-out function's answer to an Event: how many
// recipients the shard had and how many got the frame. An asynchronous
// invocation's answer is discarded by Lambda; it shows in tests and in
// synchronous invocations.
type Delivery struct {
	Recipients int `json:"recipients"`
	Delivered  int `json:"delivered"`
}

// ErrNotFanout is the fan-out function's error for an event that carries
// no shard: only the message function invokes it, with Events.
var ErrNotFanout = errors.New("not a fan-out event: want {\"rtcollabFanout\": ...}")

// LambdaService is the SigV4 service name and endpoint prefix of Lambda.
const LambdaService = "lambda"

// Invoker starts asynchronous invocations.
type Invoker interface {
	// InvokeAsync queues an invocation of function with payload and
	// returns the HTTP status Lambda answered (202 when it queued it).
	InvokeAsync(ctx context.Context, function string, payload []byte) (int, error)
}

// LambdaClient is an Invoker that calls Lambda's Invoke API (POST
// /2015-03-31/functions/{name}/invocations with X-Amz-Invocation-Type
// Event), signed for LambdaService. It sends each invoke once: an
// invoke that timed out may have been queued, and a second one would
// deliver the shard twice. A non-202 answer is returned with a
// *awsrest.StatusError; Dispatcher sends again only the invokes that
// Lambda certainly did not queue.
type LambdaClient struct {
	rest     *awsrest.Client
	endpoint string
}

// NewLambdaClient returns a LambdaClient signing with cfg and calling
// endpoint ("" means the regional endpoint of cfg.Region). opts tune the
// HTTP client and timeout; MaxAttempts is always 1.
func NewLambdaClient(cfg aws.Config, endpoint string, opts *awsrest.Options) *LambdaClient {
	var o awsrest.Options
	if opts != nil {
		o = *opts
	}
	o.MaxAttempts = 1
	if endpoint == "" {
		endpoint = awsrest.Endpoint(nil, LambdaService, cfg.Region)
	}
	return &LambdaClient{rest: awsrest.New(LambdaService, cfg, &o), endpoint: endpoint}
}

// InvokeAsync implements Invoker.
func (c *LambdaClient) InvokeAsync(ctx context.Context, function string, payload []byte) (int, error) {
	_, status, err := c.rest.Do(ctx, awsrest.Request{
		Method: http.MethodPost,
		URL:    c.endpoint + "/2015-03-31/functions/" + httpbinding.EscapePath(function, true) + "/invocations",
		Header: http.Header{
			"Content-Type":          {"application/json"},
			"X-Amz-Invocation-Type": {"Event"},
		},
		Body: payload,
	})
	return status, err
}

// Defaults of a Dispatcher's retries.
const (
	// DefaultDispatchAttempts is the default of Dispatcher.MaxAttempts.
	DefaultDispatchAttempts = 4
	// DefaultDispatchBackoff is the default of Dispatcher.Backoff.
	DefaultDispatchBackoff = 100 * time.Millisecond
	// DefaultDispatchMaxBackoff is the default of Dispatcher.MaxBackoff.
	DefaultDispatchMaxBackoff = time.Second
)

// metricDispatchRetries counts the invokes a Dispatcher sent again after
// Lambda refused them for certain.
const metricDispatchRetries = "FanoutDispatchRetries"

// Dispatcher hands shards to asynchronous invocations of a function. A
// shard whose event would exceed MaxPayloadBytes is split in two until
// each part fits. It is safe for concurrent use.
//
// An invoke is sent again only when its outcome shows that Lambda did
// not queue the event, so that a second one cannot deliver the shard
// twice: a throttle (429 TooManyRequestsException, which Lambda answers
// to an invoke past its request rate without queueing it), or a
// connection to Lambda that could not be opened or whose TLS handshake
// failed (awsrest.NotSent: the invoke was never sent). It is sent up to
// MaxAttempts times in all, after a jittered backoff (backoff.Jitter of
// Backoff, doubling up to MaxBackoff), or at least the wait a throttled
// answer asks for (see Backoff), never past ctx's deadline; a retry adds
// one to the FanoutDispatchRetries metric of ctx's metrics.Set. A
// handshake that failed on what was said rather than on the connection
// (Lambda's certificate rejected, an alert, an answer that is not TLS:
// awsrest.HandshakeRejected), and a dial or handshake that ran out of
// time, were not sent either, but another attempt would most likely fail
// the same way (a timed-out one after the whole attempt timeout, taken
// from the time the coordinator needs to post the shard itself): they
// end the dispatch at once. Through
// a proxy only the connection to the proxy counts (see awsrest.NotSent).
// Any other failure leaves it unknown whether the event was queued (a
// timeout after the invoke was sent, a broken connection, a 5xx such as
// ServiceException, which Lambda does not document as unqueued) and ends
// the dispatch at once, as does a refusal that lasts through every
// attempt: the coordinator then posts those recipients itself
// (broadcast.Dispatcher).
type Dispatcher struct {
	client   Invoker
	function string
	// MaxPayloadBytes bounds one event. Default DefaultMaxPayloadBytes.
	MaxPayloadBytes int
	// MaxAttempts bounds the invokes of one event while Lambda refuses
	// them for certain, the first included. Default 4
	// (DefaultDispatchAttempts); 1 sends each event once.
	MaxAttempts int
	// Backoff and MaxBackoff bound the wait before a retry: a random
	// delay below Backoff·2^(n-1) after the nth attempt, at most
	// MaxBackoff (backoff.Jitter). A throttle whose answer asks for a
	// wait (Retry-After, TooManyRequestsException's retryAfterSeconds)
	// is retried after that wait plus the random delay, still at most
	// MaxBackoff; one that asks for longer than MaxBackoff ends the
	// dispatch. Defaults 100 ms and 1 s (DefaultDispatchBackoff,
	// DefaultDispatchMaxBackoff): four attempts wait 0.35 s in all on
	// average, at most 0.7 s, unless Lambda asks for longer waits.
	Backoff, MaxBackoff time.Duration
	// Sleep waits d before a retry, or returns ctx's error when ctx ends
	// first. Default backoff.Wait.
	Sleep func(ctx context.Context, d time.Duration) error
}

var _ broadcast.Dispatcher = (*Dispatcher)(nil)

// NewDispatcher returns a Dispatcher invoking function through client.
func NewDispatcher(client Invoker, function string) *Dispatcher {
	return &Dispatcher{client: client, function: function, MaxPayloadBytes: DefaultMaxPayloadBytes}
}

// Dispatch invokes the function asynchronously with s (or with parts of s
// when it is too large for one event). Lambda queues the event and
// answers 202; the function runs later. An invoke that Lambda refused for
// certain is sent again (see Dispatcher). Parts dispatched before a
// failing one stay dispatched: the error is a *broadcast.UndispatchedError
// listing the recipients that were not (the failed part and those after
// it), so that the coordinator posts only those.
func (d *Dispatcher) Dispatch(ctx context.Context, s broadcast.Shard) error {
	if err := d.dispatch(ctx, s); err != nil {
		return &broadcast.UndispatchedError{IDs: err.ids, Err: err.err}
	}
	return nil
}

// undispatched is a failure of dispatch: the recipients not handed over.
type undispatched struct {
	ids []string
	err error
}

func (d *Dispatcher) dispatch(ctx context.Context, s broadcast.Shard) *undispatched {
	fail := func(err error) *undispatched { return &undispatched{ids: s.IDs, err: err} }
	payload, err := json.Marshal(Event{Shard: &s})
	if err != nil {
		return fail(fmt.Errorf("dispatch shard %d of %q: %w", s.Index, s.Channel, err))
	}
	limit := d.MaxPayloadBytes
	if limit <= 0 {
		limit = DefaultMaxPayloadBytes
	}
	if len(payload) > limit {
		if len(s.IDs) < 2 {
			return fail(fmt.Errorf("dispatch shard %d of %q: event of %d bytes exceeds %d", s.Index, s.Channel, len(payload), limit))
		}
		half := len(s.IDs) / 2
		a, b := s, s
		a.IDs, b.IDs = s.IDs[:half], s.IDs[half:]
		if err := d.dispatch(ctx, a); err != nil {
			err.ids = append(slices.Clip(err.ids), b.IDs...) // b was not tried
			return err
		}
		return d.dispatch(ctx, b)
	}
	if err := d.invoke(ctx, payload); err != nil {
		return fail(fmt.Errorf("dispatch shard %d of %q (%d recipients) to %q: %w", s.Index, s.Channel, len(s.IDs), d.function, err))
	}
	return nil
}

// invoke sends one event, again while Lambda refuses it for certain, up
// to MaxAttempts times.
func (d *Dispatcher) invoke(ctx context.Context, payload []byte) error {
	attempts := d.MaxAttempts
	if attempts < 1 {
		attempts = DefaultDispatchAttempts
	}
	base, limit := d.Backoff, d.MaxBackoff
	if base <= 0 {
		base = DefaultDispatchBackoff
	}
	if limit <= 0 {
		limit = DefaultDispatchMaxBackoff
	}
	sleep := d.Sleep
	if sleep == nil {
		sleep = backoff.Wait
	}
	for attempt := 1; ; attempt++ {
		status, err := d.client.InvokeAsync(ctx, d.function, payload)
		if err == nil && status == http.StatusAccepted {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("status %d, want 202", status)
		}
		if !notQueued(status, err) {
			return err // it may have been queued: never sent twice
		}
		if awsrest.HandshakeRejected(err) {
			// Not sent, but the next handshake would be rejected the
			// same way (Lambda's certificate, an alert, not TLS).
			return fmt.Errorf("not queued, and not worth another attempt: %w", err)
		}
		if awsrest.NotSent(err) && timedOut(err) {
			// Not sent, but a dial or handshake that ran out of time
			// (an endpoint that does not answer) would most likely do so
			// again, and each attempt takes the attempt timeout from the
			// time the coordinator needs to post the shard itself.
			return fmt.Errorf("not queued, and the connection timed out: %w", err)
		}
		if attempt >= attempts {
			return fmt.Errorf("not queued (attempt %d of %d): %w", attempt, attempts, err)
		}
		delay := backoff.Jitter(attempt, base, limit)
		if wait := retryAfter(err); wait > limit {
			return fmt.Errorf("not queued (attempt %d of %d), and Lambda asks for a wait of %v, over %v: %w", attempt, attempts, wait, limit, err)
		} else if wait > 0 {
			delay = min(wait+delay, limit) // at least wait, spread by the jitter within the cap
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= delay {
			return fmt.Errorf("not queued (attempt %d of %d), no time left for another: %w", attempt, attempts, err)
		}
		if werr := sleep(ctx, delay); werr != nil {
			return fmt.Errorf("%w before another attempt; not queued (attempt %d of %d): %w", werr, attempt, attempts, err)
		}
		metrics.From(ctx).Add(metricDispatchRetries, 1, metrics.Count)
	}
}

// retryAfter returns how long Lambda asked the caller of a throttled
// invoke to wait before the next (TooManyRequestsException's
// retryAfterSeconds, sent as the Retry-After header); 0 when it did not.
func retryAfter(err error) time.Duration {
	var se *awsrest.StatusError
	if errors.As(err, &se) {
		return se.RetryAfter
	}
	return 0
}

// timedOut reports whether err ran out of time.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// notQueued reports whether an invoke's outcome shows for certain that
// Lambda did not queue its event: a throttle (429, or a throttling error
// type), or an invoke that was never sent (a failed dial or TLS
// handshake).
func notQueued(status int, err error) bool {
	return status == http.StatusTooManyRequests || awsrest.Throttling(err) || awsrest.NotSent(err)
}

// Fanout holds the Management API pool of the message function (whose
// posters shard large fan-outs) and of the fan-out function (whose Handler
// delivers the shards).
type Fanout struct {
	cfg     Config
	pool    *mgmtapi.Pool
	posters func(endpoint string) broadcast.Poster
	log     *slog.Logger
	metrics io.Writer // EMF documents of delivered shards; nil: none
}

// New builds the Management API pool signing with awsCfg and, when cfg
// names a fan-out function, the dispatcher. It makes no network call. A
// nil logger means slog.Default().
func New(awsCfg aws.Config, cfg Config, logger *slog.Logger) *Fanout {
	if logger == nil {
		logger = slog.Default()
	}
	var po mgmtapi.PoolOptions
	if cfg.Management != nil {
		po.Client = *cfg.Management
	}
	f := &Fanout{cfg: cfg, pool: mgmtapi.NewPool(awsCfg, &po), log: logger}
	raw := func(endpoint string) broadcast.Poster { return f.pool.Client(endpoint) }
	f.posters = raw
	if cfg.FunctionName != "" {
		d := NewDispatcher(NewLambdaClient(awsCfg, cfg.LambdaEndpoint, nil), cfg.FunctionName)
		f.posters = broadcast.ShardedPosters(raw, broadcast.Sharding{ShardSize: cfg.ShardSize, InlineMax: cfg.InlineMax, Dispatcher: d})
	}
	return f
}

// SetMetrics makes the handler of Handler write one EMF document per
// fan-out event to w (os.Stdout in Lambda): FanoutSize, GoneConnections
// and FanoutDeliveryErrors, with Function "fanout". Call it before
// Handler; nil writes nothing.
func (f *Fanout) SetMetrics(w io.Writer) { f.metrics = w }

// Posters returns the Poster of a Management API endpoint, for
// app.Options.Posters: sharded when a fan-out function is configured.
func (f *Fanout) Posters(endpoint string) broadcast.Poster { return f.posters(endpoint) }

// Handler returns the fan-out function's Lambda handler: each Event's
// shard is delivered through a Deliverer on st and the Management API
// pool (never sharded again); gone recipients are removed from st, their
// presence and locks are left to the sweeper.
func (f *Fanout) Handler(st broadcast.Store) func(context.Context, Event) (Delivery, error) {
	d := broadcast.NewDeliverer(st, func(endpoint string) broadcast.Poster { return f.pool.Client(endpoint) },
		broadcast.Config{IsGone: mgmtapi.IsGone, Logger: f.log})
	deliver := d.Deliver
	if want := trimEndpoint(f.cfg.Endpoint); want != "" {
		deliver = func(ctx context.Context, s broadcast.Shard) (broadcast.Result, error) {
			if trimEndpoint(s.Endpoint) != want {
				return broadcast.Result{}, fmt.Errorf("%w: the shard names %q", ErrForeignEndpoint, s.Endpoint)
			}
			return d.Deliver(ctx, s)
		}
	}
	return Handler(Measured(deliver, f.metrics, f.log), f.log)
}

// ErrForeignEndpoint refuses a shard whose endpoint is not the configured
// one (Config.Endpoint).
var ErrForeignEndpoint = errors.New("fanout: the shard's Management API endpoint is not this deployment's")

func trimEndpoint(ep string) string { return strings.TrimRight(strings.TrimSpace(ep), "/") }

// Measured returns deliver writing one EMF document per shard to w:
// FanoutSize (recipients), GoneConnections, and FanoutDeliveryErrors, the
// recipients not reached (failed posts, or the whole shard when deliver
// refuses it). Handler swallows both kinds of failure, as a retried shard
// would post twice, so the metric is what makes them visible. A nil w
// returns deliver as it is.
func Measured(deliver func(context.Context, broadcast.Shard) (broadcast.Result, error), w io.Writer, log *slog.Logger) func(context.Context, broadcast.Shard) (broadcast.Result, error) {
	if w == nil {
		return deliver
	}
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, s broadcast.Shard) (broadcast.Result, error) {
		m := metrics.New(metrics.FunctionFanout)
		m.Property("channel", s.Channel)
		m.Property("shard", s.Index)
		// DeliverShard adds FramesOut and GoneConnections to m.
		res, err := deliver(metrics.With(ctx, m), s)
		failed := res.Failed
		if err != nil {
			failed = len(s.IDs)
		}
		m.Add(metrics.FanoutSize, float64(len(s.IDs)), metrics.Count)
		m.Add(metrics.FanoutDeliveryErrors, float64(failed), metrics.Count)
		if ferr := m.Flush(w, time.Now()); ferr != nil {
			log.WarnContext(ctx, "write metrics", "error", ferr)
		}
		return res, err
	}
}

// Handler returns a Lambda handler that sends the shard of each Event to
// deliver. An event without a shard is refused with ErrNotFanout. A shard
// that deliver refuses, or that it could not deliver to every recipient,
// is logged and answered without an error: Lambda would retry a failed
// invocation, and a retry would post twice to the recipients reached.
func Handler(
	deliver func(context.Context, broadcast.Shard) (broadcast.Result, error),
	log *slog.Logger,
) func(context.Context, Event) (Delivery, error) {
	if log == nil {
		log = slog.Default()
	}
	return func(ctx context.Context, ev Event) (Delivery, error) {
		if ev.Shard == nil {
			return Delivery{}, ErrNotFanout
		}
		res, err := deliver(ctx, *ev.Shard)
		if err != nil {
			// Not retried: a retry would post twice to those reached.
			log.ErrorContext(ctx, "fan-out shard refused", "channel", ev.Shard.Channel, "shard", ev.Shard.Index, "error", err)
			return Delivery{}, nil
		}
		log.InfoContext(ctx, "fan-out shard delivered", "route", "fanout", "channel", ev.Shard.Channel,
			"shard", ev.Shard.Index, "recipients", res.Recipients, "delivered", res.Delivered, "gone", res.Gone, "failed", res.Failed)
		return Delivery{Recipients: res.Recipients, Delivered: res.Delivered}, nil
	}
}
