// Package app builds a ready Handler from settings: the store (DynamoDB or
// the embedded memory store), the Management API client pool and the
// authenticator. The Lambda mains (functions/*) and the local server share
// it, so they are wired identically. It reads no environment itself: main
// passes os.Getenv in.
//
// Entry points: SettingsFromEnv reads settings through a getenv function
// supplied by main, and LambdaFromEnv adds what every Lambda function
// needs (TABLE_NAME, the execution role's credentials); Build constructs
// the handler; ReplyBeforeDeadline wraps the message function's handler,
// BeforeDeadline the publish functions', the sweeper's and the change
// feed's.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/omnisales/rtcollab/internal/backoff"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/handler"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/internal/ratelimit"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// Settings configure a deployment. Every field documents its environment
// variable and default.
type Settings struct {
	// TableName is the DynamoDB table (TABLE_NAME). Empty selects the
	// embedded memory store in Build, which only the local server may use:
	// LambdaFromEnv refuses it.
	TableName string
	// DynamoDBEndpoint overrides the DynamoDB endpoint (DYNAMODB_ENDPOINT),
	// for DynamoDB Local or another compatible server. Default "" (AWS).
	DynamoDBEndpoint string
	// Region is the AWS region (AWS_REGION). Default "us-east-1" when unset.
	Region string
	// ManagementEndpoint overrides the Management API endpoint
	// (MANAGEMENT_ENDPOINT). The sweeper needs it; the template sets it for
	// every function, as an event received on a custom domain name does
	// not name the endpoint. Default "": derived from each event
	// (handler.Handler.Endpoint, with Region).
	ManagementEndpoint string
	// MaxSubscriptions per connection (MAX_SUBSCRIPTIONS). Default 100.
	MaxSubscriptions int
	// MaxLocksPerConnection bounds the live edit locks one connection
	// holds (MAX_LOCKS_PER_CONNECTION). Default 20.
	MaxLocksPerConnection int
	// MaxConnectionsPerUser bounds the open connections of one user of a
	// tenant (MAX_CONNECTIONS_PER_USER, 1 to 1000); $connect past it
	// answers 429. Default 20.
	MaxConnectionsPerUser int
	// LogLevel is debug, info, warn or error (LOG_LEVEL). Default info.
	LogLevel string
	// DevIdentity accepts ?userId=&username=&tenant= on $connect without a
	// token (DEV_IDENTITY=1; auth.TokenOptions.Dev, auth.DevAuth). Only for
	// local development. Default false.
	DevIdentity bool
	// ConnectionTTL overrides the connection record lifetime
	// (CONNECTION_TTL, a Go duration). Default 2h5m.
	ConnectionTTL time.Duration
	// Presence holds the presence timeouts and the activity retention
	// (AWAY_TIMEOUT, OFFLINE_TIMEOUT, ACTIVITY_RETENTION; see
	// presenceFromEnv). Default: the handler's (5m, 90s, 30 days).
	Presence handler.PresenceConfig
	// Editing holds the conflict strategies and lock and history settings
	// (CONFLICT_STRATEGIES, LOCK_TTL, LOCK_MAX_TTL, HISTORY_LIMIT,
	// IDEMPOTENCY_TTL; see editingFromEnv). Default: the handler's.
	Editing handler.EditingConfig
	// History is the channel history retention per channel pattern
	// (HISTORY_RETENTION, e.g. "order-updates=500/10m,inventory-*=200/2m";
	// "none" keeps no history). Default nil: handler.DefaultRetention().
	History handler.Retention
	// DeliveryRate is the budget of Management API calls per second of one
	// function instance (DELIVERY_RATE_PER_SECOND): posts, retries
	// included, are paced by a token bucket of this rate with bursts of
	// DeliveryBurst, and slow down further while API Gateway answers 429.
	// API Gateway's account throttle (10,000 requests per second, burst
	// 5,000, shared by every API of the account and region) must cover
	// this budget times the instances that post at once. Default 1000
	// (DefaultDeliveryRate) when 0; a negative value turns pacing off,
	// for load tests of the local server, whose one process stands for
	// many function instances (SettingsFromEnv never sets one).
	DeliveryRate float64
	// DeliveryBurst is how many Management API calls one function
	// instance may send at once before DeliveryRate paces them
	// (DELIVERY_BURST). A publish to N subscribers reaches the last one
	// without waiting for the pacer only when N fits in the burst (or in
	// the instance's shard). API Gateway's account burst (5,000) covers
	// five instances bursting together; beyond that, 429s slow the
	// instances down without loss. Default when 0: a tenth of
	// DeliveryRate (ratelimit.PacerBurstFraction); the deployment
	// template sets 1000, which a publish to 1,000 subscribers needs to
	// reach the last one within 100 ms (docs/BENCHMARKS.md).
	DeliveryBurst int
}

// MaxConnectionsPerUserLimit is the largest MAX_CONNECTIONS_PER_USER: every
// $connect rewrites the user's count, which holds one entry per counted
// connection.
const MaxConnectionsPerUserLimit = 1000

// DefaultDeliveryRate is the default of Settings.DeliveryRate.
const DefaultDeliveryRate = 1000

// DeliveryThrottleAttempts is how many times a Management API call is sent
// while API Gateway answers it with 429 (LimitExceededException) before it
// counts as failed. A throttled post was not delivered, so sending it again
// cannot deliver it twice.
const DeliveryThrottleAttempts = 8

// ManagementOptions returns the options of a Management API client pool:
// a new Pacer of DeliveryRate calls per second with bursts of
// DeliveryBurst, shared by every client of the pool,
// DeliveryThrottleAttempts attempts while throttled, and a short
// jittered backoff between attempts (below 100 ms doubling up to 2 s: the
// Pacer slows the whole function down, so one post need not wait long).
// Build one pool per process with them, so that one budget covers every
// post of the function instance.
func (s Settings) ManagementOptions() mgmtapi.Options {
	o := mgmtapi.Options{
		MaxThrottleAttempts: DeliveryThrottleAttempts,
		Backoff:             backoff.Delayer(100*time.Millisecond, 2*time.Second),
	}
	switch {
	case s.DeliveryRate == 0:
		o.Pacer = ratelimit.NewPacerBurst(DefaultDeliveryRate, s.DeliveryBurst, nil)
	case s.DeliveryRate > 0:
		o.Pacer = ratelimit.NewPacerBurst(s.DeliveryRate, s.DeliveryBurst, nil)
	}
	return o
}

// SettingsFromEnv reads Settings through getenv (os.Getenv, passed in by
// main). A value that does not parse is an error naming the variable.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{
		TableName:          getenv("TABLE_NAME"),
		DynamoDBEndpoint:   getenv("DYNAMODB_ENDPOINT"),
		Region:             getenv("AWS_REGION"),
		ManagementEndpoint: getenv("MANAGEMENT_ENDPOINT"),
		LogLevel:           getenv("LOG_LEVEL"),
	}
	if s.Region == "" {
		s.Region = "us-east-1"
	}
	if v := getenv("MAX_SUBSCRIPTIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return s, fmt.Errorf("MAX_SUBSCRIPTIONS %q: want a positive integer", v)
		}
		s.MaxSubscriptions = n
	}
	if v := getenv("MAX_LOCKS_PER_CONNECTION"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return s, fmt.Errorf("MAX_LOCKS_PER_CONNECTION %q: want a positive integer", v)
		}
		s.MaxLocksPerConnection = n
	}
	if v := getenv("MAX_CONNECTIONS_PER_USER"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 || n > MaxConnectionsPerUserLimit {
			return s, fmt.Errorf("MAX_CONNECTIONS_PER_USER %q: want an integer from 1 to %d", v, MaxConnectionsPerUserLimit)
		}
		s.MaxConnectionsPerUser = n
	}
	if v := getenv("CONNECTION_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("CONNECTION_TTL %q: want a positive duration", v)
		}
		s.ConnectionTTL = d
	}
	if v := getenv("DELIVERY_RATE_PER_SECOND"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || !(r > 0) || r > ratelimit.MaxPacerBudget {
			return s, fmt.Errorf("DELIVERY_RATE_PER_SECOND %q: want a positive number of at most %g", v, ratelimit.MaxPacerBudget)
		}
		s.DeliveryRate = r
	}
	if v := getenv("DELIVERY_BURST"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return s, fmt.Errorf("DELIVERY_BURST %q: want a positive integer", v)
		}
		s.DeliveryBurst = n
	}
	switch strings.ToLower(s.LogLevel) {
	case "", "debug", "info", "warn", "error":
	default:
		return s, fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error", s.LogLevel)
	}
	switch v := strings.ToLower(strings.TrimSpace(getenv("DEV_IDENTITY"))); v {
	case "", "0", "false", "no":
	case "1", "true", "yes":
		s.DevIdentity = true
	default:
		return s, fmt.Errorf("DEV_IDENTITY %q: want 1, true or yes (0, false, no or unset for off)", v)
	}
	p, err := presenceFromEnv(getenv)
	if err != nil {
		return s, err
	}
	s.Presence = p
	if s.Editing, err = editingFromEnv(getenv); err != nil {
		return s, err
	}
	if v := getenv("HISTORY_RETENTION"); v != "" {
		if s.History, err = handler.ParseRetention(v); err != nil {
			return s, fmt.Errorf("HISTORY_RETENTION: %w", err)
		}
	}
	return s, nil
}

// Logger returns a JSON slog logger at the settings' level.
func (s Settings) Logger() *slog.Logger {
	var lvl slog.Level
	switch strings.ToLower(s.LogLevel) {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	return slog.New(slog.NewJSONHandler(logWriter{}, &slog.HandlerOptions{Level: lvl}))
}

// Built is what Build returns: the handler and the parts a caller may need.
type Built struct {
	Handler *handler.Handler
	Store   store.Store
	AWS     aws.Config
}

// Options are collaborators a caller may supply instead of the defaults.
type Options struct {
	// Store replaces the store chosen from Settings. Default nil.
	Store store.Store
	// AWS is the AWS configuration (region, credentials) of the DynamoDB
	// client and the Management API pool: Lambda.AWS in a function.
	// Default nil: no credentials (enough for the memory store and a local
	// DynamoDB endpoint, which get dummy ones). Settings.Region, when set,
	// overrides the region either way.
	AWS *aws.Config
	// Posters replaces the Management API client pool. Default nil.
	Posters func(endpoint string) broadcast.Poster
	// Auth is the $connect authenticator. Default nil: auth.DevAuth when
	// Settings.DevIdentity is set, else Build fails.
	Auth handler.Authenticator
	// Clock replaces time.Now. Default nil.
	Clock store.Clock
	// Logger replaces the settings' logger. Default nil.
	Logger *slog.Logger
	// DynamoOptions are applied to the DynamoDB client, e.g. a request
	// counter's middleware. Default none.
	DynamoOptions []func(*dynamodb.Options)
	// Metrics receives CloudWatch EMF documents (os.Stdout in Lambda).
	// Default nil: no metrics.
	Metrics io.Writer
	// CreateTable creates the DynamoDB table when it is missing (local
	// development and tests only). Default false.
	CreateTable bool
	// RequireTable, without CreateTable, makes Build check that the table
	// exists (DescribeTable only) and fail naming it otherwise
	// (dynamo.ErrTableMissing), instead of failing at the first request: the
	// local server against a table in AWS. Default false.
	RequireTable bool
}

// Build wires a Handler. It is called once per cold start.
func Build(ctx context.Context, s Settings, o *Options) (*Built, error) {
	if o == nil {
		o = &Options{}
	}
	log := o.Logger
	if log == nil {
		log = s.Logger()
	}
	var awsCfg aws.Config
	if o.AWS != nil {
		awsCfg = *o.AWS
	}
	if s.Region != "" {
		awsCfg.Region = s.Region
	}
	st := o.Store
	if st == nil {
		if s.TableName == "" {
			st = memory.New(o.Clock)
		} else {
			client := dynamo.ClientFromConfig(awsCfg, s.DynamoDBEndpoint, o.DynamoOptions...)
			switch {
			case o.CreateTable:
				if err := dynamo.CreateTable(ctx, client, s.TableName); err != nil {
					return nil, fmt.Errorf("create table %q: %w", s.TableName, err)
				}
			case o.RequireTable:
				if err := dynamo.CheckTable(ctx, client, s.TableName); err != nil {
					return nil, err
				}
			}
			st = dynamo.New(client, s.TableName, o.Clock)
		}
	}
	posters := o.Posters
	if posters == nil {
		pool := mgmtapi.NewPool(awsCfg, &mgmtapi.PoolOptions{Client: s.ManagementOptions()})
		posters = func(endpoint string) broadcast.Poster { return pool.Client(endpoint) }
	}
	authn := o.Auth
	if authn == nil {
		if !s.DevIdentity {
			return nil, fmt.Errorf("no authenticator configured: set DEV_IDENTITY=1 for local development")
		}
		authn = auth.DevAuth()
	}
	h, err := handler.New(handler.Config{
		ConnectionTTL:         s.ConnectionTTL,
		MaxSubscriptions:      s.MaxSubscriptions,
		MaxLocksPerConnection: s.MaxLocksPerConnection,
		MaxConnectionsPerUser: s.MaxConnectionsPerUser,
		ManagementEndpoint:    s.ManagementEndpoint,
		Region:                s.Region,
		Presence:              s.Presence,
		Editing:               s.Editing,
		History:               s.History,
	}, handler.Deps{
		Store:   st,
		Posters: posters,
		IsGone:  mgmtapi.IsGone,
		Auth:    authn,
		Clock:   o.Clock,
		Logger:  log,
		Metrics: o.Metrics,
	})
	if err != nil {
		return nil, err
	}
	return &Built{Handler: h, Store: st, AWS: awsCfg}, nil
}
