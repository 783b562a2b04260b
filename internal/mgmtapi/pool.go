package mgmtapi

import (
	"net"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/omnisales/rtcollab/internal/awsrest"
)

// EndpointFromEvent returns the Management API endpoint of the WebSocket API
// that delivered an event, from the event's requestContext.domainName and
// stage: "https://<domainName>/<stage>". A local domain (localhost or a
// loopback address, with or without a port) gets the http scheme, because
// the local gateway serves plain HTTP.
//
// Behind a custom domain name this is not the Management endpoint: see
// EndpointForAPI, or configure the execute-api endpoint as the Pool's
// override.
func EndpointFromEvent(domainName, stage string) string {
	domainName = strings.TrimSpace(domainName)
	scheme := "https"
	if isLocal(domainName) {
		scheme = "http"
	}
	ep := scheme + "://" + domainName
	if stage = strings.Trim(stage, "/"); stage != "" {
		ep += "/" + stage
	}
	return ep
}

// EndpointForAPI returns the Management API endpoint of the WebSocket API
// that delivered an event, from the event's requestContext.domainName,
// apiId and stage and the API's region. API Gateway documents the
// Management API at the API's execute-api host, and a custom domain's
// mapping path need not be the stage name, so an event that arrived
// through a custom domain (any domain that is neither local nor an
// execute-api host) gets
// https://{apiId}.execute-api.{region}.{dns suffix}/{stage}; the others get
// EndpointFromEvent's. Without apiId or region it falls back to
// EndpointFromEvent; configure the endpoint instead (MANAGEMENT_ENDPOINT).
func EndpointForAPI(domainName, apiID, stage, region string) string {
	host := strings.ToLower(strings.TrimSpace(domainName))
	apiID, region = strings.TrimSpace(apiID), strings.TrimSpace(region)
	if isLocal(host) || strings.Contains(host, ".execute-api.") || apiID == "" || region == "" {
		return EndpointFromEvent(domainName, stage)
	}
	ep := awsrest.Endpoint(nil, apiID+".execute-api", region)
	if stage = strings.Trim(stage, "/"); stage != "" {
		ep += "/" + stage
	}
	return ep
}

// isLocal reports whether host (optionally with a port) names this machine.
func isLocal(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Pool hands out one Client per endpoint and reuses it, so that every
// invocation of a warm Lambda shares signing state and HTTP connections.
// Clients share one HTTP client. A Pool is safe for concurrent use; its zero
// value is not usable, call NewPool.
type Pool struct {
	cfg      aws.Config
	opts     Options
	override string

	mu      sync.RWMutex
	clients map[string]*Client
}

// PoolOptions tunes a Pool. A nil *PoolOptions means every default.
type PoolOptions struct {
	// Client tunes every Client of the pool; its HTTP client is shared by
	// them. Default: the zero Options, i.e. every Options default.
	Client Options
	// Override, when non-empty, is the endpoint of every Client the pool
	// returns, whatever endpoint is asked for: set it when the API is
	// reached through a custom domain name (whose host does not serve the
	// Management API), or to aim deployed code at another stage. Default ""
	// (each caller's endpoint, e.g. from EndpointFromEvent).
	Override string
}

// NewPool returns a Pool whose clients sign with cfg.
func NewPool(cfg aws.Config, opts *PoolOptions) *Pool {
	var o PoolOptions
	if opts != nil {
		o = *opts
	}
	return &Pool{
		cfg:      cfg,
		opts:     o.Client.Resolved(),
		override: strings.TrimRight(strings.TrimSpace(o.Override), "/"),
		clients:  make(map[string]*Client),
	}
}

// Client returns the Client for endpoint (or for the override, when set),
// creating it on first use.
func (p *Pool) Client(endpoint string) *Client {
	if p.override != "" {
		endpoint = p.override
	}
	endpoint = strings.TrimRight(strings.TrimSpace(endpoint), "/")
	p.mu.RLock()
	c, ok := p.clients[endpoint]
	p.mu.RUnlock()
	if ok {
		return c
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[endpoint]; ok {
		return c
	}
	opts := p.opts
	c = New(endpoint, p.cfg, &opts)
	p.clients[endpoint] = c
	return c
}

// ForEvent returns the Client for the API that delivered an event, given
// the event's requestContext.domainName and stage (see EndpointFromEvent).
func (p *Pool) ForEvent(domainName, stage string) *Client {
	return p.Client(EndpointFromEvent(domainName, stage))
}
