// Package publishapi lets backend services (the order, inventory and
// pricing services) publish without a WebSocket: three operations served
// over HTTP and, for publish and notify, as EventBridge events.
//
//	POST /publish            {"tenant", "channel", "payload", "idempotencyKey"?}
//	POST /notify             {"tenant", "userId"?, "title", "body", "level"?, "data"?, "idempotencyKey"?}
//	POST /presence/snapshot  {"tenant", "room"?, "cursor"?, "limit"?}
//
// Each runs the message function's route of the same name through
// handler.Handler.Serve: the same channel policy (the caller holds
// Config.Roles, by default system), the same frame limits and the same
// broadcast. A success answers 200 with the route's reply (recipient
// counts); a failure answers with an HTTP status and a stable error code
// of package protocol: {"code", "message", "retryable"}.
//
// A publish or notify with an idempotency key is carried out once per key
// and tenant for Config.KeyTTL: a retry with the same request answers the
// first reply with "duplicate": true and broadcasts nothing; the same key
// with another request is IDEMPOTENCY_MISMATCH. Requests are compared as
// WebSocket resends are (protocol.RequestHash: object keys in any order,
// numbers as written), so a retry that serialises its payload again is
// the same request. An EventBridge event
// without a key uses its event id, which EventBridge keeps when it
// delivers an event again. A request that fails releases its key, even
// when it failed after its delivery began (a later page of subscribers
// unreadable): its retry reaches everyone, and those already reached get
// the same frame again, recognisable as a repeat (the key is the update
// event's messageId, and the notification id is derived from it and the
// request in canonical form, so a retry whose data's keys come in another
// order gets the same id).
//
// Who may call is decided before this package: by the HTTP API's AWS_IAM
// authorization in AWS, by the local gateway's SigV4 check locally.
//
// Entry points: New, then API.ServeHTTP (net/http, the local server),
// API.HTTPAPI (a Lambda behind an API Gateway HTTP API) and API.Event (a
// Lambda target of an EventBridge rule).
package publishapi
