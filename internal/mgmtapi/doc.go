// Package mgmtapi is a small client for the API Gateway Management API, the
// HTTP API through which backend code talks to WebSocket connections: it
// sends a frame to a connection (PostToConnection), reads a connection's
// metadata (GetConnection) and closes a connection (DeleteConnection).
//
// Requests are signed with Signature Version 4 for the "execute-api"
// service, retried with capped, jittered exponential backoff on throttling,
// server errors, timeouts and connection failures (no sooner than an
// answer's Retry-After asks: see awsrest.Client.Do), and never retried on
// 403, 410 or 413. A POST retried after a timeout or a lost answer may have
// been delivered already, so a frame can reach a connection more than once
// (at most Options.MaxAttempts times; a 429 was not delivered, so its
// retries cannot): frames carry their messageId, and on channels with
// history their offset, by which clients drop repeats (docs/DEPLOY.md,
// "No duplicates from 429"). Failed calls return an *APIError that wraps one of the
// sentinel errors (ErrGone, ErrForbidden, ErrPayloadTooLarge, ErrThrottled,
// ErrServer), so callers test outcomes with errors.Is:
//
//	err := client.PostToConnection(ctx, connID, frame)
//	if errors.Is(err, mgmtapi.ErrGone) {
//		// the connection is gone: delete it and its subscriptions
//	}
//
// Entry points: New builds a Client for one endpoint; a Pool caches one
// Client per endpoint, and EndpointFromEvent derives the endpoint of the API
// that delivered a WebSocket event.
package mgmtapi
