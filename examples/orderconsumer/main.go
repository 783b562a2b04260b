// Command orderconsumer is a sample consumer of rtcollab's change feed:
// the Lambda target of an EventBridge rule for detail-type rtcollab.Change
// and entityType order, in the order service's own stack (docs/DEPLOY.md,
// "Changes out"). It applies each change to its own copy of the order
// (Replica); a real service would keep that copy in its database, keyed
// by order and version in the same way.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/omnisales/rtcollab/internal/changefeed"
)

func main() {
	r := NewReplica()
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	lambda.Start(func(ctx context.Context, ev events.EventBridgeEvent) error {
		return handle(r, log, ev)
	})
}

// handle applies the change an event carries.
func handle(r *Replica, log *slog.Logger, ev events.EventBridgeEvent) error {
	if ev.DetailType != changefeed.DetailType {
		return fmt.Errorf("event %s: detail-type %q, want %q", ev.ID, ev.DetailType, changefeed.DetailType)
	}
	var c changefeed.Event
	if err := json.Unmarshal(ev.Detail, &c); err != nil {
		return fmt.Errorf("event %s: %w", ev.ID, err)
	}
	if err := r.Apply(c); err != nil {
		return err
	}
	_, v := r.Order(c.Tenant, c.EntityID)
	log.Info("order change applied", "order", c.EntityID, "tenant", c.Tenant, "event", c.ID, "orderVersion", v)
	return nil
}
