// Package rtpublish publishes to rtcollab from a backend service, without a
// WebSocket: a client of the publish API (POST /publish, /notify and
// /presence/snapshot of the stack's HTTP API, which requires AWS_IAM
// authorization, or of the local server's /api). Every request is signed
// with Signature Version 4 (service execute-api) by the AWS SDK's signer
// and retried by the SDK's standard retryer; failures are *Error values
// with a stable code.
//
//	client, err := rtpublish.New(apiURL, &rtpublish.Options{Credentials: cfg.Credentials, Region: cfg.Region})
//	if err != nil { return err }
//	res, err := client.Publish(ctx, rtpublish.Message{Tenant: "acme", Channel: "order-updates", Payload: order})
//	if rtpublish.CodeOf(err) == rtpublish.CodeForbidden { return fmt.Errorf("the policy refuses this channel: %w", err) }
//	log.Printf("published to %d subscribers", res.Recipients)
//
// cfg is an aws.Config (config.LoadDefaultConfig in a service; for the
// local server, credentials.NewStaticCredentialsProvider("local", "local",
// "")). The signature must be scoped to the API's region: without Region,
// the client takes the region of an execute-api.<region>. endpoint, else
// us-east-1 (the local server's default; it takes AWS_REGION). A Publish or Notify without an IdempotencyKey gets a fresh one,
// so that the client's own retries broadcast once; set your own key to
// make your retries (or a replayed job) broadcast once too.
//
// A call whose key is held by an earlier attempt that has not completed
// (the API's {"duplicate": true, "pending": true}: that attempt may still
// be running, or may have died, and nothing is known to be sent) is not a
// success: the client retries it as a 503, then returns an *Error with
// CodeUnavailable, Retryable true. Call again later with the same key: the
// answer is the first call's, or the publish runs once the earlier
// attempt's claim has lapsed (two minutes).
//
// Bodies are JSON without HTML escaping: '<', '>' and '&' in a payload
// are sent as they are, one byte each, so a payload counts against the
// API's size limit (FRAME_TOO_LARGE past a 32 KB frame, docs/DEPLOY.md)
// as it does in a raw request. A Publish or Notify whose frame would be
// over that limit (MaxFrameBytes) is not sent: it returns an *Error with
// CodeFrameTooLarge, Status 0 and Retryable false. Sent, a body past what
// a Lambda function can be invoked with (6 MB of event) would never reach
// the API in AWS, and API Gateway's 5xx would be retried as UNAVAILABLE.
//
// Entry points: New, then Client.Publish, Client.Notify and
// Client.PresenceSnapshot; CodeOf and *Error for failures.
package rtpublish
