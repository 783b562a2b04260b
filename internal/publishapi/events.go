package publishapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/omnisales/rtcollab/internal/protocol"
)

// The detail-types of the EventBridge events the API accepts. The
// detail is the body of the HTTP operation of the same name.
const (
	DetailTypePublish = "rtcollab.Publish"
	DetailTypeNotify  = "rtcollab.Notify"
)

// ErrEvent is wrapped by the errors of Event.
var ErrEvent = errors.New("publish event failed")

// Event is the Lambda handler of an EventBridge rule that matches the
// detail-types DetailTypePublish and DetailTypeNotify. A detail without
// an idempotencyKey uses the event's id, so that an event EventBridge
// delivers twice broadcasts once. A refused or failed event is an error
// (which names the code, never internal text), so that Lambda retries it
// and then sends it to the function's dead-letter queue.
//
// A delivery that finds the event's key claimed by an attempt that has not
// completed is an error too: that attempt may have died (at its function's
// timeout) without releasing the claim, which lapses after
// Config.ClaimLease; Lambda's later retries (1 and 2 minutes apart) then
// run the event, where a success here would have lost it.
func (a *API) Event(ctx context.Context, ev events.EventBridgeEvent) error {
	status, body := a.event(ctx, ev)
	if status == http.StatusOK {
		var dup struct {
			Pending bool `json:"pending"`
		}
		if json.Unmarshal(body, &dup) == nil && dup.Pending {
			return fmt.Errorf("event %q: an earlier attempt has not completed; retry later: %w", ev.ID, ErrEvent)
		}
		return nil
	}
	var e struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &e)
	return fmt.Errorf("event %q: %s (%d): %w", ev.ID, e.Code, status, ErrEvent)
}

// event runs one event and returns the status and answer of the HTTP
// operation it stands for.
func (a *API) event(ctx context.Context, ev events.EventBridgeEvent) (int, []byte) {
	var op string
	switch ev.DetailType {
	case DetailTypePublish:
		op = OpPublish
	case DetailTypeNotify:
		op = OpNotify
	default:
		return errorAnswer(protocol.NewError(protocol.CodeBadRequest, "detail-type must be %s or %s", DetailTypePublish, DetailTypeNotify))
	}
	key := ""
	if ev.ID != "" {
		key = "evt-" + ev.ID
	}
	status, body := a.Do(ctx, op, ev.Detail, key)
	log := a.log.With("eventId", ev.ID, "detailType", ev.DetailType, "source", ev.Source)
	if status != http.StatusOK {
		log.WarnContext(ctx, "publish event refused", "status", status, "answer", json.RawMessage(body))
	} else {
		log.InfoContext(ctx, "publish event handled", "answer", json.RawMessage(body))
	}
	return status, body
}

// serveEvent serves POST /events: one EventBridge event, as a rule
// delivers it to its target, for local development. As in AWS (Event),
// the request is the event's detail, bounded as a body is (Do): the rest
// of the event counts only against MaxBodyBytes, which keeps parsing
// bounded.
func (a *API) serveEvent(ctx context.Context, body []byte) (int, []byte) {
	var ev events.EventBridgeEvent
	if len(body) > MaxBodyBytes {
		return errorAnswer(protocol.NewError(protocol.CodeFrameTooLarge, "the event exceeds %d bytes, the most the API reads", MaxBodyBytes))
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		return errorAnswer(protocol.NewError(protocol.CodeBadFrame, "the body must be an EventBridge event"))
	}
	return a.event(ctx, ev)
}
