package protocol

import "github.com/omnisales/rtcollab/internal/ident"

// MaxChannelLen bounds a channel name (ident.Channel).
const MaxChannelLen = ident.MaxIDLen

// Well-known channels from the seed.
const (
	ChannelOrders        = "order-updates"
	ChannelInventory     = "inventory-updates"
	ChannelCustomers     = "customer-updates"
	ChannelPricing       = "pricing-updates"
	ChannelPresence      = "user-presence"
	ChannelActivity      = "activity-feed"
	ChannelLocks         = "edit-locks"
	ChannelComments      = "comments"
	ChannelNotifications = "notifications"
)

// WellKnownChannels lists the seed's named channels.
func WellKnownChannels() []string {
	return []string{ChannelOrders, ChannelInventory, ChannelCustomers, ChannelPricing,
		ChannelPresence, ChannelActivity, ChannelLocks, ChannelComments, ChannelNotifications}
}

// ValidateChannel checks a channel name with ident.Check: 1..128
// characters of [a-zA-Z0-9._-] with at most one ':' separating a kind from
// an id (an entity or room channel such as "order:123" or
// "room:dashboard"). '#' is reserved for storage keys and never allowed.
func ValidateChannel(name string) error {
	if ident.Check(ident.Channel, name) != nil {
		return NewError(CodeInvalidChannel, "a channel name is 1..%d characters of [A-Za-z0-9._-], with at most one ':' between a kind and an id", MaxChannelLen)
	}
	return nil
}

// EntityChannel is the channel on which an entity's changes, locks and
// comments are broadcast, e.g. "order:123".
func EntityChannel(entityType, entityID string) string { return entityType + ":" + entityID }

// RoomChannel is the channel that carries presence and cursors of a room:
// "room:" and the room name. Rooms have their own namespace: callers
// refuse room names that hold ':' (which would make the channel invalid),
// so a room never stands for an entity channel.
func RoomChannel(room string) string { return "room:" + room }
