// Package gateway emulates an API Gateway WebSocket API on one machine, for
// local development and tests: it accepts WebSocket connections, turns the
// handshake, every data frame and every close into the
// events.APIGatewayWebsocketProxyRequest values API Gateway sends to Lambda
// ($connect, $default, $disconnect), hands them to an Invoker, and serves
// the Management API (POST, GET and DELETE /<stage>/@connections/{id}) on
// the same port, so that the unmodified Management API client works
// against it. As API Gateway requires IAM authorization there, every
// Management API request must carry a valid Signature Version 4 made with
// Config.Credentials (default: LocalAccessKeyID, LocalSecretAccessKey);
// requests from web pages (Origin, Sec-Fetch-Site, Sec-Fetch-Dest or
// Sec-Fetch-User headers) are refused.
//
// The Sec-WebSocket-Protocol header a $connect integration returns goes
// back to the client unchanged, also when the client did not offer it
// (the client then fails the handshake). A route response over the
// message limit is not delivered: the client gets the integration-failure
// frame and the gateway logs at Error level. Config.LoopbackOnly, for
// development servers that trust unverified identities, refuses
// non-loopback Host names and foreign page origins.
//
// The service limits are enforced as API Gateway enforces them: a client
// frame of at most 32 KB and a message (possibly fragmented) of at most
// 128 KB (a larger one closes the connection with 1009), an idle
// timeout of 10 minutes and a lifetime of 2 hours (both close with 1001
// "Going away"). Each limit can be shortened in Config for tests. A post
// never waits on a client: to one whose backlog is full it is refused with
// 429 LimitExceededException (ErrLimitExceeded in process), and the
// connection stays open.
//
// Every message is invoked on its own, as it arrives, as API Gateway
// invokes the integration: a slow $default holds up neither the next
// message of its connection nor its pings or close, and $disconnect does
// not wait for it. Past 256 invocations running on one connection, a
// message is answered with a "Too Many Requests" frame instead of invoked.
//
// Entry points: New builds a Server from a Config and an Invoker; Serve or
// ListenAndServe run it; Shutdown closes every connection, firing
// $disconnect for each and waiting for the invocations still running; WebSocketURL and Endpoint name the URLs clients and
// handlers use. PostToConnection is the Management API's POST without HTTP,
// for handlers running in the same process.
package gateway
