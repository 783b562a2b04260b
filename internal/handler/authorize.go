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

// authorizeOwner is the one ownership check: it returns nil when the
// caller is owner (the user who created the item) or a moderator
// (auth.Policy.CanModerate), and a FORBIDDEN error otherwise. The routes
// that call it, after authorize, are listed under "Ownership" in
// internal/auth/POLICY.md: comment.resolve (resolve and reopen).
func (h *Handler) authorizeOwner(c store.Connection, owner string) error {
	if c.UserID == owner || h.cfg.Policy.CanModerate(identity(c)) {
		return nil
	}
	return protocol.NewError(protocol.CodeForbidden, "only the author or a moderator may do this")
}
