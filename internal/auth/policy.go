package auth

import (
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

// AnyRole in a Rule grants the permission to every authenticated identity.
const AnyRole = "*"

// Rule lists the roles that hold each permission on a channel. Roles are
// compared without regard to case.
type Rule struct {
	Subscribe []string // roles that may subscribe; AnyRole for everyone
	Publish   []string // roles that may publish; AnyRole for everyone
}

// Policy decides which channels an identity may subscribe and publish to.
// It is read-only after construction and so safe for concurrent use. A nil
// field means its default; an empty non-nil one means none. The zero Policy
// is the default policy:
//
//	channel                            subscribe   publish
//	order-updates                      anyone      member, editor
//	inventory-updates                  anyone      member, editor
//	customer-updates                   anyone      member, editor
//	pricing-updates                    anyone      pricing
//	user-presence                      anyone      (server only)
//	activity-feed                      anyone      (server only)
//	edit-locks                         anyone      (server only)
//	comments                           anyone      (server only)
//	notifications                      anyone      (server only)
//	entity and room channels "kind:id" anyone      member, editor
//	any other channel                  nobody      nobody
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
		protocol.ChannelPresence:      {Subscribe: anyone, Publish: serverOnly},
		protocol.ChannelActivity:      {Subscribe: anyone, Publish: serverOnly},
		protocol.ChannelLocks:         {Subscribe: anyone, Publish: serverOnly},
		protocol.ChannelComments:      {Subscribe: anyone, Publish: serverOnly},
		protocol.ChannelNotifications: {Subscribe: anyone, Publish: serverOnly},
	}
}

// CanSubscribe reports whether id may receive messages on channel.
func (p Policy) CanSubscribe(id Identity, channel string) bool {
	rule, ok := p.rule(channel)
	return ok && p.allowed(id, rule.Subscribe)
}

// CanPublish reports whether id may send messages to channel.
func (p Policy) CanPublish(id Identity, channel string) bool {
	rule, ok := p.rule(channel)
	return ok && p.allowed(id, rule.Publish)
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
