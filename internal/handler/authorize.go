package handler

import (
	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/store"
)

// authorize is the one permission check of every route: it returns nil
// when the caller holds perm on channel, and a FORBIDDEN error otherwise.
// Which route needs which permission on which channel is the table in
// internal/auth/POLICY.md:
//
//   - auth.Subscribe to read a channel or its state: subscribe,
//     presence.snapshot, activity.list, sync, history, comment.list;
//   - auth.Publish for a frame whose content the client chose to reach the
//     channel's subscribers: publish, change, undo, conflict.resolve,
//     comment.add, comment.resolve, lock.acquire, lock.renew,
//     lock.release (on the entity channel), notify (on notifications);
//   - auth.Presence for the client's presence to reach them: room.join,
//     cursor and presence with a room (on the room channel), presence that
//     sets status, location, activity or avatar (on user-presence), and
//     activity "viewed" (on activity-feed).
func (h *Handler) authorize(c store.Connection, perm auth.Permission, channel string) error {
	if h.cfg.Policy.Allows(identity(c), perm, channel) {
		return nil
	}
	return protocol.NewError(protocol.CodeForbidden, "%s on %q is not allowed for this identity", perm, channel)
}
