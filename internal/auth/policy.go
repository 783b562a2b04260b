package auth

import (
	"slices"
	"strings"

	"github.com/omnisales/rtcollab/internal/protocol"
)

// Well-known roles of the default Policy.
const (
	RoleAdmin   = "admin"   // may subscribe and publish everywhere
	RoleSystem  = "system"  // the backend's own service identities; as admin
	RoleEditor  = "editor"  // may publish business updates and entity/room channels
	RoleMember  = "member"  // as editor; assumed for identities with no roles
	RolePricing = "pricing" // may publish pricing-updates
	RoleViewer  = "viewer"  // may subscribe, never publish
)

// defaultModerators are the default Policy.Moderators.
var defaultModerators = []string{RoleEditor}

// AnyRole in a Rule grants the permission to every authenticated identity.
const AnyRole = "*"

// Rule lists the roles that hold each permission on a channel. Roles are
// compared without regard to case.
type Rule struct {
	Subscribe []string // roles that may subscribe; AnyRole for everyone
	Publish   []string // roles that may publish; AnyRole for everyone
	// Presence lists the roles whose presence (room membership, status,
	// location, activity text), cursors and views may reach the channel's
	// subscribers; AnyRole for everyone. nil means the same roles as
	// Publish.
	Presence []string
}

// Permission is what a frame needs on the channel it reads or reaches.
type Permission int

// The permissions of a Rule.
const (
	// Subscribe: receive the channel's frames and read its state.
	Subscribe Permission = iota + 1
	// Publish: make a frame of the client's reach the channel's
	// subscribers: a publish, a change, a comment, a lock event.
	Publish
	// Presence: make the client's presence, cursor or view reach the
	// channel's subscribers.
	Presence
)

// String returns the permission's name as POLICY.md spells it.
func (p Permission) String() string {
	switch p {
	case Subscribe:
		return "subscribe"
	case Publish:
		return "publish"
	case Presence:
		return "presence"
	}
	return "none"
}

// Policy decides which channels an identity may subscribe and publish to.
// It is read-only after construction and so safe for concurrent use. A nil
// field means its default; an empty non-nil one means none. The zero Policy
// is the default policy:
//
//	channel                            subscribe   publish          presence
//	order-updates                      anyone      member, editor   (as publish)
//	inventory-updates                  anyone      member, editor   (as publish)
//	customer-updates                   anyone      member, editor   (as publish)
//	pricing-updates                    anyone      pricing          (as publish)
//	user-presence                      anyone      (server only)    member, editor
//	activity-feed                      anyone      (server only)    member, editor
//	edit-locks                         anyone      (server only)    (as publish)
//	comments                           anyone      (server only)    (as publish)
//	notifications                      anyone      (server only)    (as publish)
//	entity and room channels "kind:id" anyone      member, editor   (as publish)
//	any other channel                  nobody      nobody           nobody
//
// "anyone" is every authenticated identity, viewers included. SuperRoles
// (admin and system) hold every permission on every valid channel, which is
// what "server only" leaves: the backend writes those channels itself, and
// only an admin or system identity may publish to them directly. An
// identity without roles is treated as a member; one whose only roles are
// unknown to the policy (e.g. "sales") holds no publish rights. A viewer
// can publish nowhere unless it also holds a publishing role. Channel names
// that protocol.ValidateChannel refuses are refused for both permissions.
type Policy struct {
	// Channels maps a well-known channel name to its rule. Default: the
	// table above.
	Channels map[string]Rule
	// Entity is the rule for entity and room channels ("kind:id") whose kind
	// has no entry in Kinds. Default: subscribe anyone, publish member and
	// editor.
	Entity *Rule
	// Kinds maps a channel kind (the part before ':', e.g. "room" or
	// "order") to a rule that replaces Entity for it. Default: none.
	Kinds map[string]Rule
	// SuperRoles hold every permission on every valid channel. Default:
	// admin, system.
	SuperRoles []string
	// DefaultRoles are assumed for an identity with no roles. Default:
	// member.
	DefaultRoles []string
	// Moderators may act on what other users created where the policy
	// otherwise limits an action to its author: resolving or reopening
	// another user's comment. SuperRoles are moderators too. Default:
	// editor.
	Moderators []string
}

// DefaultPolicy returns the default policy with every field spelled out, as
// a starting point for a custom one.
func DefaultPolicy() Policy {
	entity := defaultEntityRule()
	return Policy{
		Channels:     defaultChannelRules(),
		Entity:       &entity,
		Kinds:        map[string]Rule{},
		SuperRoles:   []string{RoleAdmin, RoleSystem},
		DefaultRoles: []string{RoleMember},
		Moderators:   slices.Clone(defaultModerators),
	}
}

func defaultEntityRule() Rule {
	return Rule{Subscribe: []string{AnyRole}, Publish: []string{RoleMember, RoleEditor}}
}

func defaultChannelRules() map[string]Rule {
	anyone := []string{AnyRole}
	writers := []string{RoleMember, RoleEditor}
	serverOnly := []string{}
	return map[string]Rule{
		protocol.ChannelOrders:        {Subscribe: anyone, Publish: writers},
		protocol.ChannelInventory:     {Subscribe: anyone, Publish: writers},
		protocol.ChannelCustomers:     {Subscribe: anyone, Publish: writers},
		protocol.ChannelPricing:       {Subscribe: anyone, Publish: []string{RolePricing}},
		protocol.ChannelPresence:      {Subscribe: anyone, Publish: serverOnly, Presence: writers},
		protocol.ChannelActivity:      {Subscribe: anyone, Publish: serverOnly, Presence: writers},
		protocol.ChannelLocks:         {Subscribe: anyone, Publish: serverOnly},
		protocol.ChannelComments:      {Subscribe: anyone, Publish: serverOnly},
		protocol.ChannelNotifications: {Subscribe: anyone, Publish: serverOnly},
	}
}

// Allows reports whether id holds perm on channel. It is the one place
// where every route's permission is decided (see POLICY.md for which
// route needs which permission on which channel).
func (p Policy) Allows(id Identity, perm Permission, channel string) bool {
	rule, ok := p.rule(channel)
	if !ok {
		return false
	}
	switch perm {
	case Subscribe:
		return p.allowed(id, rule.Subscribe)
	case Publish:
		return p.allowed(id, rule.Publish)
	case Presence:
		if rule.Presence == nil {
			return p.allowed(id, rule.Publish)
		}
		return p.allowed(id, rule.Presence)
	}
	return false
}

// Covers reports whether every identity that may subscribe to wide may
// also subscribe to narrow, by their rules' roles (super roles pass both).
// Events about the entity of narrow go on a tenant-wide channel (wide:
// activity-feed, comments, edit-locks) only when it does, so that a
// Kinds rule narrower than the feed's is not read around through the
// feed.
func (p Policy) Covers(narrow, wide string) bool {
	rn, ok := p.rule(narrow)
	if !ok {
		return false
	}
	rw, ok := p.rule(wide)
	if !ok {
		return true // nobody may subscribe to wide
	}
	if slices.Contains(rn.Subscribe, AnyRole) {
		return true
	}
	if slices.Contains(rw.Subscribe, AnyRole) {
		return false
	}
	super := p.SuperRoles
	if super == nil {
		super = []string{RoleAdmin, RoleSystem}
	}
	has := func(list []string, r string) bool {
		return slices.ContainsFunc(list, func(g string) bool { return strings.EqualFold(g, r) })
	}
	for _, r := range rw.Subscribe {
		if !has(rn.Subscribe, r) && !has(super, r) {
			return false
		}
	}
	return true
}

// CanSubscribe reports whether id may receive messages on channel.
func (p Policy) CanSubscribe(id Identity, channel string) bool {
	return p.Allows(id, Subscribe, channel)
}

// CanPublish reports whether id may send messages to channel.
func (p Policy) CanPublish(id Identity, channel string) bool {
	return p.Allows(id, Publish, channel)
}

// CanPresence reports whether id's presence, cursors and views may reach
// the subscribers of channel.
func (p Policy) CanPresence(id Identity, channel string) bool {
	return p.Allows(id, Presence, channel)
}

// CanModerate reports whether id may act on what another user created
// (see Policy.Moderators). Authors act on their own items without it.
func (p Policy) CanModerate(id Identity) bool {
	mods := p.Moderators
	if mods == nil {
		mods = defaultModerators
	}
	return p.allowed(id, mods)
}

// rule finds the rule for channel; ok is false for invalid or unknown
// channels.
func (p Policy) rule(channel string) (Rule, bool) {
	if protocol.ValidateChannel(channel) != nil {
		return Rule{}, false
	}
	kind, _, isEntity := strings.Cut(channel, ":")
	if !isEntity {
		channels := p.Channels
		if channels == nil {
			channels = defaultChannelRules()
		}
		r, ok := channels[channel]
		return r, ok
	}
	if r, ok := p.Kinds[kind]; ok {
		return r, true
	}
	if p.Entity != nil {
		return *p.Entity, true
	}
	return defaultEntityRule(), true
}

// allowed reports whether id holds a super role or one of granted.
func (p Policy) allowed(id Identity, granted []string) bool {
	super := p.SuperRoles
	if super == nil {
		super = []string{RoleAdmin, RoleSystem}
	}
	held := id.Roles
	if len(held) == 0 {
		held = p.DefaultRoles
		if held == nil {
			held = []string{RoleMember}
		}
	}
	for _, h := range held {
		for _, g := range super {
			if strings.EqualFold(h, g) {
				return true
			}
		}
		for _, g := range granted {
			if g == AnyRole || strings.EqualFold(h, g) {
				return true
			}
		}
	}
	return len(held) == 0 && containsAny(granted)
}

// containsAny reports whether granted includes AnyRole.
func containsAny(granted []string) bool {
	for _, g := range granted {
		if g == AnyRole {
			return true
		}
	}
	return false
}
