// Package faultproxy is test tooling: an HTTP reverse proxy that sits
// between a client and an AWS JSON-protocol service (DynamoDB, or the moto
// server standing in for it in tests) and injects the faults the real
// service produces: throttling (ThrottlingException,
// ProvisionedThroughputExceededException, a transaction cancelled for
// throttling), server errors (500, 503), requests that time out before they
// reach the service and responses lost after the service applied the
// request.
//
// Faults are chosen per request by a script and then by probability, from a
// seeded generator, so a run with the same seed and the same sequence of
// requests injects the same faults.
//
// Entry points: New returns a Proxy, an http.Handler to serve with
// httptest.NewServer or http.Server; SetEnabled switches faults on and off;
// Inject and InjectOp script the next faults; Stats reports what was
// injected.
package faultproxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Kind is one fault, or Pass for none.
type Kind int

// The faults a Proxy injects.
const (
	// Pass forwards the request unchanged.
	Pass Kind = iota
	// Throttling answers 400 ThrottlingException without forwarding.
	Throttling
	// ProvisionedThroughput answers 400
	// ProvisionedThroughputExceededException without forwarding.
	ProvisionedThroughput
	// TransactionThrottled answers a TransactWriteItems with 400
	// TransactionCanceledException whose cancellation reasons report
	// ThrottlingError, without forwarding. Other operations get Throttling.
	TransactionThrottled
	// InternalError answers 500 InternalServerError without forwarding.
	InternalError
	// Unavailable answers 503 ServiceUnavailable without forwarding.
	Unavailable
	// Timeout holds the request for Config.Delay, or until the client
	// gives up, then drops the connection; the request is never forwarded.
	Timeout
	// LostResponse forwards the request, so the service applies it, then
	// holds the response for Config.Delay, or until the client gives up,
	// and drops the connection: the client cannot tell whether its request
	// took effect.
	LostResponse
	// Slow holds the request for Config.SlowDelay, then forwards it.
	Slow
)

var kindNames = [...]string{"Pass", "Throttling", "ProvisionedThroughput", "TransactionThrottled",
	"InternalError", "Unavailable", "Timeout", "LostResponse", "Slow"}

// String returns the kind's name.
func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// DefaultKinds are the faults drawn when Config.Kinds is empty: the
// answers a throttled or failing service gives.
var DefaultKinds = []Kind{Throttling, ProvisionedThroughput, TransactionThrottled, InternalError, Unavailable}

// DefaultDelay is how long Timeout and LostResponse hold a request when
// Config.Delay is zero.
const DefaultDelay = 2 * time.Second

// ErrConfig is wrapped by New's errors.
var ErrConfig = errors.New("faultproxy: invalid config")

// Config configures a Proxy.
type Config struct {
	// Target is the base URL of the upstream service, e.g.
	// "http://127.0.0.1:5000". Required.
	Target string
	// Seed seeds the fault choices. Default 0.
	Seed uint64
	// Rate is the probability, in [0, 1], that an eligible request past
	// the script gets a fault. Default 0: only the script injects faults.
	Rate float64
	// Kinds are the faults drawn, each equally likely, for a request that
	// Rate selects. Default DefaultKinds.
	Kinds []Kind
	// Script decides the first len(Script) eligible requests, in order of
	// arrival, before Rate applies. Default none.
	Script []Kind
	// Delay is how long Timeout and LostResponse hold a request; make it
	// longer than the client's timeout. Default DefaultDelay (2s).
	Delay time.Duration
	// SlowDelay is how long Slow holds a request before forwarding it;
	// make it shorter than the client's timeout. Default Delay / 4.
	SlowDelay time.Duration
	// Match selects the eligible requests by operation name, taken from
	// the X-Amz-Target header ("GetItem", "TransactWriteItems", ...; ""
	// when absent). Default nil: every request is eligible.
	Match func(op string) bool
	// Serial forwards one request at a time to the target, for servers
	// that do not isolate concurrent transactions (moto). Default false.
	Serial bool
	// Client sends the forwarded requests. Default: a client of its own.
	Client *http.Client
}

// Stats counts what a Proxy did.
type Stats struct {
	// Requests is every request received.
	Requests int
	// Eligible is the requests that were enabled and matched.
	Eligible int
	// Injected counts the faults injected, by kind.
	Injected map[Kind]int
	// ByOp counts the faults injected, by operation.
	ByOp map[string]int
}

// Faults is the total number of faults injected.
func (s Stats) Faults() int {
	n := 0
	for _, c := range s.Injected {
		n += c
	}
	return n
}

// Proxy forwards requests to the target and injects faults. It is safe for
// concurrent use.
type Proxy struct {
	cfg    Config
	target *url.URL
	client *http.Client

	upstream sync.Mutex // held while forwarding when cfg.Serial

	mu      sync.Mutex
	rng     *rand.Rand
	enabled bool
	queue   []Kind            // the rest of the script
	opQueue map[string][]Kind // scripted faults by operation
	stats   Stats
}

var _ http.Handler = (*Proxy)(nil)

// New returns a Proxy with faults enabled.
func New(cfg Config) (*Proxy, error) {
	u, err := url.Parse(cfg.Target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("%w: target %q is not an absolute URL", ErrConfig, cfg.Target)
	}
	if cfg.Rate < 0 || cfg.Rate > 1 {
		return nil, fmt.Errorf("%w: rate %v outside [0, 1]", ErrConfig, cfg.Rate)
	}
	if len(cfg.Kinds) == 0 {
		cfg.Kinds = DefaultKinds
	}
	if cfg.Delay <= 0 {
		cfg.Delay = DefaultDelay
	}
	if cfg.SlowDelay <= 0 {
		cfg.SlowDelay = cfg.Delay / 4
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	return &Proxy{
		cfg: cfg, target: u, client: client, enabled: true, queue: append([]Kind(nil), cfg.Script...),
		opQueue: map[string][]Kind{},
		rng:     rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		stats:   Stats{Injected: map[Kind]int{}, ByOp: map[string]int{}},
	}, nil
}

// SetEnabled switches fault injection on or off; a disabled Proxy forwards
// every request unchanged and does not advance the script.
func (p *Proxy) SetEnabled(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.enabled = on
}

// Inject appends kinds to the script: the next eligible requests, after
// any still scripted, get these faults in order.
func (p *Proxy) Inject(kinds ...Kind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.queue = append(p.queue, kinds...)
}

// InjectOp scripts faults for one operation only: the next eligible
// requests of op get these faults in order, before the general script.
func (p *Proxy) InjectOp(op string, kinds ...Kind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.opQueue[op] = append(p.opQueue[op], kinds...)
}

// Stats returns a copy of the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Injected, s.ByOp = make(map[Kind]int, len(p.stats.Injected)), make(map[string]int, len(p.stats.ByOp))
	for k, v := range p.stats.Injected {
		s.Injected[k] = v
	}
	for k, v := range p.stats.ByOp {
		s.ByOp[k] = v
	}
	return s
}

// Operation returns the operation a request calls, from its X-Amz-Target
// header ("DynamoDB_20120810.GetItem" gives "GetItem"), or "".
func Operation(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		return t[i+1:]
	}
	return t
}

// choose decides the fault for one request.
func (p *Proxy) choose(op string) Kind {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests++
	if !p.enabled || (p.cfg.Match != nil && !p.cfg.Match(op)) {
		return Pass
	}
	p.stats.Eligible++
	k := Pass
	switch q := p.opQueue[op]; {
	case len(q) > 0:
		k, p.opQueue[op] = q[0], q[1:]
	case len(p.queue) > 0:
		k, p.queue = p.queue[0], p.queue[1:]
	case p.cfg.Rate > 0 && p.rng.Float64() < p.cfg.Rate:
		k = p.cfg.Kinds[p.rng.IntN(len(p.cfg.Kinds))]
	}
	if k != Pass {
		p.stats.Injected[k]++
		p.stats.ByOp[op]++
	}
	return k
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read request body", http.StatusBadRequest)
		return
	}
	op := Operation(r)
	switch k := p.choose(op); k {
	case Throttling:
		writeError(w, http.StatusBadRequest, "ThrottlingException", "Rate of requests exceeds the allowed throughput.", nil)
	case ProvisionedThroughput:
		writeError(w, http.StatusBadRequest, "ProvisionedThroughputExceededException",
			"The level of configured provisioned throughput for the table was exceeded. Consider increasing your provisioning level with the UpdateTable API.", nil)
	case TransactionThrottled:
		if op != "TransactWriteItems" {
			writeError(w, http.StatusBadRequest, "ThrottlingException", "Rate of requests exceeds the allowed throughput.", nil)
			return
		}
		writeError(w, http.StatusBadRequest, "TransactionCanceledException",
			"Transaction cancelled, please refer cancellation reasons for specific reasons [ThrottlingError]",
			map[string]any{"CancellationReasons": throttledReasons(body)})
	case InternalError:
		writeError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error", nil)
	case Unavailable:
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", "Service unavailable", nil)
	case Timeout:
		p.hold(r, p.cfg.Delay)
		panic(http.ErrAbortHandler) // drop the connection without an answer
	case LostResponse:
		if _, _, _, err := p.forward(r, body); err != nil {
			http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
			return
		}
		p.hold(r, p.cfg.Delay)
		panic(http.ErrAbortHandler)
	case Slow:
		p.hold(r, p.cfg.SlowDelay)
		p.relay(w, r, body)
	default:
		p.relay(w, r, body)
	}
}

// hold waits for d or until the client gives up.
func (p *Proxy) hold(r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

// relay forwards the request and copies the answer back.
func (p *Proxy) relay(w http.ResponseWriter, r *http.Request, body []byte) {
	status, hdr, respBody, err := p.forward(r, body)
	if err != nil {
		http.Error(w, "upstream: "+err.Error(), http.StatusBadGateway)
		return
	}
	for k, vs := range hdr {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(status)
	_, _ = w.Write(respBody)
}

// forward sends the request to the target and reads the whole answer.
func (p *Proxy) forward(r *http.Request, body []byte) (int, http.Header, []byte, error) {
	u := *p.target
	u.Path = strings.TrimRight(p.target.Path, "/") + r.URL.Path
	u.RawQuery = r.URL.RawQuery
	out, err := http.NewRequestWithContext(r.Context(), r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	out.Header = r.Header.Clone()
	out.Host = r.Host // keep the host the client signed
	if p.cfg.Serial {
		p.upstream.Lock()
		defer p.upstream.Unlock()
	}
	resp, err := p.client.Do(out)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, err
	}
	hdr := resp.Header.Clone()
	hdr.Del("Content-Length")
	return resp.StatusCode, hdr, b, nil
}

// writeError writes an error in the AWS JSON 1.0 protocol, as DynamoDB
// does.
func writeError(w http.ResponseWriter, status int, typ, msg string, extra map[string]any) {
	body := map[string]any{"__type": "com.amazonaws.dynamodb.v20120810#" + typ, "message": msg}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("FAULT%d", time.Now().UnixNano()))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// throttledReasons returns one cancellation reason per item of a
// TransactWriteItems body: ThrottlingError for the first, None for the
// rest, as DynamoDB reports a transaction throttled on one item.
func throttledReasons(body []byte) []map[string]string {
	var in struct {
		TransactItems []json.RawMessage `json:"TransactItems"`
	}
	_ = json.Unmarshal(body, &in)
	n := max(len(in.TransactItems), 1)
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = map[string]string{"Code": "None"}
	}
	out[0] = map[string]string{"Code": "ThrottlingError", "Message": "Throughput exceeds the current capacity of your table or index."}
	return out
}
