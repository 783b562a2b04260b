package protocol

// MaxChannelLen bounds a channel name.
const MaxChannelLen = 128

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

// ValidateChannel checks a channel name: 1..128 characters of [a-zA-Z0-9._-]
// with at most one ':' separating a kind from an id (an entity or room
// channel such as "order:123" or "room:dashboard"). '#' is reserved for
// storage keys and never allowed.
func ValidateChannel(name string) error {
	if name == "" || len(name) > MaxChannelLen {
		return NewError(CodeInvalidChannel, "channel name must be 1..%d characters", MaxChannelLen)
	}
	colons := 0
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		case c == ':':
			colons++
			if colons > 1 || i == 0 || i == len(name)-1 {
				return NewError(CodeInvalidChannel, "channel %q: ':' separates a kind from an id", name)
			}
		default:
			return NewError(CodeInvalidChannel, "channel %q has a character outside [A-Za-z0-9._:-]", name)
		}
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
