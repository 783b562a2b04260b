package auth

import (
	"strings"
	"testing"
)

func TestDefaultPolicy(t *testing.T) {
	ids := map[string]Identity{
		"none":    {UserID: "u"},
		"member":  {UserID: "u", Roles: []string{"member"}},
		"editor":  {UserID: "u", Roles: []string{"Editor"}},
		"viewer":  {UserID: "u", Roles: []string{"viewer"}},
		"pricing": {UserID: "u", Roles: []string{"viewer", "pricing"}},
		"admin":   {UserID: "u", Roles: []string{"ADMIN"}},
		"system":  {UserID: "u", Roles: []string{"system"}},
		"sales":   {UserID: "u", Roles: []string{"sales"}},
	}
	// pub lists who may publish; every identity may subscribe to every
	// valid, known channel.
	tests := []struct {
		channel string
		sub     bool
		pub     string
	}{
		{"order-updates", true, "none member editor admin system"},
		{"inventory-updates", true, "none member editor admin system"},
		{"customer-updates", true, "none member editor admin system"},
		{"pricing-updates", true, "pricing admin system"},
		{"user-presence", true, "admin system"},
		{"activity-feed", true, "admin system"},
		{"edit-locks", true, "admin system"},
		{"comments", true, "admin system"},
		{"notifications", true, "admin system"},
		{"order:123", true, "none member editor admin system"},
		{"room:dashboard", true, "none member editor admin system"},
		{"unknown-channel", false, ""},
		{"", false, ""},
		{"a:b:c", false, ""},
		{"order#1", false, ""},
		{strings.Repeat("x", 200), false, ""},
	}
	for _, p := range []struct {
		name string
		p    Policy
	}{{"zero", Policy{}}, {"DefaultPolicy", DefaultPolicy()}} {
		for _, tt := range tests {
			for name, id := range ids {
				t.Run(p.name+"/"+tt.channel+"/"+name, func(t *testing.T) {
					if got := p.p.CanSubscribe(id, tt.channel); got != tt.sub {
						t.Errorf("CanSubscribe = %v, want %v", got, tt.sub)
					}
					want := false
					for _, w := range strings.Fields(tt.pub) {
						want = want || w == name
					}
					if got := p.p.CanPublish(id, tt.channel); got != want {
						t.Errorf("CanPublish = %v, want %v", got, want)
					}
				})
			}
		}
	}
}

func TestCustomPolicy(t *testing.T) {
	p := DefaultPolicy()
	p.Kinds["room"] = Rule{Subscribe: []string{AnyRole}, Publish: []string{AnyRole}}
	p.Kinds["audit"] = Rule{Subscribe: []string{"auditor"}, Publish: []string{}}
	p.Channels["announcements"] = Rule{Subscribe: []string{AnyRole}, Publish: []string{"editor"}}
	p.DefaultRoles = []string{}
	p.SuperRoles = []string{"root"}
	tests := []struct {
		name    string
		id      Identity
		channel string
		sub     bool
		pub     bool
	}{
		{"roleless may still subscribe where anyone may", Identity{}, "order-updates", true, false},
		{"roleless holds no default role", Identity{}, "order:1", true, false},
		{"room open to everyone", Identity{}, "room:lobby", true, true},
		{"viewer in open room", Identity{Roles: []string{"viewer"}}, "room:lobby", true, true},
		{"audit needs auditor", Identity{Roles: []string{"editor"}}, "audit:1", false, false},
		{"auditor reads audit", Identity{Roles: []string{"auditor"}}, "audit:1", true, false},
		{"added channel", Identity{Roles: []string{"editor"}}, "announcements", true, true},
		{"admin no longer super", Identity{Roles: []string{"admin"}}, "notifications", true, false},
		{"new super role", Identity{Roles: []string{"root"}}, "audit:1", true, true},
		{"super role still needs a valid channel", Identity{Roles: []string{"root"}}, "nope", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := p.CanSubscribe(tt.id, tt.channel); got != tt.sub {
				t.Errorf("CanSubscribe = %v, want %v", got, tt.sub)
			}
			if got := p.CanPublish(tt.id, tt.channel); got != tt.pub {
				t.Errorf("CanPublish = %v, want %v", got, tt.pub)
			}
		})
	}
}

func TestIdentityHasRole(t *testing.T) {
	id := Identity{Roles: []string{"Editor", "pricing"}}
	tests := []struct {
		role string
		want bool
	}{{"editor", true}, {"PRICING", true}, {"admin", false}, {"", false}}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			if got := id.HasRole(tt.role); got != tt.want {
				t.Errorf("HasRole(%q) = %v, want %v", tt.role, got, tt.want)
			}
		})
	}
}

func TestDevIdentity(t *testing.T) {
	tests := []struct {
		name  string
		query map[string]string
		check func(t *testing.T, id Identity)
	}{
		{"full", map[string]string{"userId": "u1", "username": "Ada", "tenant": "acme", "roles": "editor, pricing,,", "avatar": "a.png"},
			func(t *testing.T, id Identity) {
				t.Helper()
				if id.UserID != "u1" || id.Username != "Ada" || id.Tenant != "acme" || id.Avatar != "a.png" ||
					strings.Join(id.Roles, ",") != "editor,pricing" || !id.ExpiresAt.IsZero() {
					t.Errorf("identity = %+v", id)
				}
			}},
		{"anonymous", map[string]string{},
			func(t *testing.T, id Identity) {
				t.Helper()
				hexPart, ok := strings.CutPrefix(id.UserID, "anon-")
				if !ok || len(hexPart) != 12 || strings.Trim(hexPart, "0123456789abcdef") != "" {
					t.Errorf("UserID = %q, want anon- and 12 hex digits", id.UserID)
				}
				if id.Username != id.UserID || id.Tenant != "default" || id.Roles != nil {
					t.Errorf("identity = %+v", id)
				}
			}},
		{"cleaned", map[string]string{"userId": "a#b\x00c", "tenant": strings.Repeat("t", 300), "roles": "ad#min"},
			func(t *testing.T, id Identity) {
				t.Helper()
				if id.UserID != "abc" || len(id.Tenant) != MaxClaimLen || strings.Join(id.Roles, ",") != "admin" {
					t.Errorf("identity = %+v", id)
				}
			}},
		// Display values are bounded as a token's are, not cut to
		// MaxClaimLen: a long avatar reaches the handler whole, which drops
		// it (protocol.MaxAvatarBytes) rather than keep a cut URL.
		{"display values as from a token", map[string]string{"userId": "u1", "username": "Ada #1\u200b",
			"avatar": "https://x/" + strings.Repeat("a", 2000)},
			func(t *testing.T, id Identity) {
				t.Helper()
				if id.Username != "Ada #1" || len(id.Avatar) != 2010 {
					t.Errorf("username %q, avatar of %d bytes; want \"Ada #1\" and the whole 2010-byte avatar", id.Username, len(id.Avatar))
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, DevIdentity(tt.query))
		})
	}
	if a, b := DevIdentity(nil), DevIdentity(nil); a.UserID == b.UserID {
		t.Errorf("two anonymous identities share id %q", a.UserID)
	}
}

// TestPresencePermission: presence, cursors and views need the presence
// permission, which a viewer lacks everywhere. On user-presence and
// activity-feed, where only the server publishes, members and editors
// hold it; elsewhere it follows publish.
func TestPresencePermission(t *testing.T) {
	ids := map[string]Identity{
		"none":   {UserID: "u"},
		"member": {UserID: "u", Roles: []string{"member"}},
		"editor": {UserID: "u", Roles: []string{"editor"}},
		"viewer": {UserID: "u", Roles: []string{"viewer"}},
		"admin":  {UserID: "u", Roles: []string{"admin"}},
		"sales":  {UserID: "u", Roles: []string{"sales"}},
	}
	tests := []struct {
		channel string
		who     string
	}{
		{"user-presence", "none member editor admin"},
		{"activity-feed", "none member editor admin"},
		{"room:lobby", "none member editor admin"},
		{"order:1001", "none member editor admin"},
		{"pricing-updates", "admin"},
		{"notifications", "admin"},
		{"unknown-channel", ""},
	}
	for _, tt := range tests {
		for name, id := range ids {
			t.Run(tt.channel+"/"+name, func(t *testing.T) {
				want := strings.Contains(" "+tt.who+" ", " "+name+" ")
				if got := DefaultPolicy().CanPresence(id, tt.channel); got != want {
					t.Errorf("CanPresence = %v, want %v", got, want)
				}
				if got := (Policy{}).Allows(id, Presence, tt.channel); got != want {
					t.Errorf("zero Policy: Allows(Presence) = %v, want %v", got, want)
				}
			})
		}
	}
	if (Policy{}).Allows(ids["admin"], Permission(0), "room:lobby") {
		t.Error("the zero Permission is allowed")
	}
	custom := DefaultPolicy()
	custom.Kinds["room"] = Rule{Subscribe: []string{AnyRole}, Publish: []string{"editor"}, Presence: []string{AnyRole}}
	if !custom.CanPresence(ids["viewer"], "room:lobby") || custom.CanPublish(ids["viewer"], "room:lobby") {
		t.Error("a custom presence rule wider than publish is not applied")
	}
}

// TestCanModerate: editors and the super roles act on other users'
// items; members, viewers and role-less identities do not.
func TestCanModerate(t *testing.T) {
	tests := []struct {
		roles []string
		want  bool
	}{
		{nil, false}, {[]string{"member"}, false}, {[]string{"viewer"}, false}, {[]string{"sales"}, false},
		{[]string{"Editor"}, true}, {[]string{"admin"}, true}, {[]string{"system"}, true}, {[]string{"viewer", "editor"}, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.roles, ","), func(t *testing.T) {
			id := Identity{UserID: "u", Roles: tt.roles}
			if got := (Policy{}).CanModerate(id); got != tt.want {
				t.Errorf("zero Policy: CanModerate = %v, want %v", got, tt.want)
			}
			if got := DefaultPolicy().CanModerate(id); got != tt.want {
				t.Errorf("DefaultPolicy: CanModerate = %v, want %v", got, tt.want)
			}
		})
	}
	p := DefaultPolicy()
	p.Moderators = []string{"manager"}
	if p.CanModerate(Identity{Roles: []string{"editor"}}) || !p.CanModerate(Identity{Roles: []string{"manager"}}) {
		t.Error("custom Moderators are not applied")
	}
}

// TestCovers: events about an entity go on a tenant-wide feed only when
// everyone who may subscribe to the feed may subscribe to the entity.
func TestCovers(t *testing.T) {
	p := DefaultPolicy()
	p.Kinds["salary"] = Rule{Subscribe: []string{RoleEditor}, Publish: []string{RoleEditor}}
	p.Kinds["memo"] = Rule{Subscribe: []string{"Member", RoleEditor, "viewer"}, Publish: []string{RoleEditor}}
	p.Channels["board-feed"] = Rule{Subscribe: []string{RoleMember}, Publish: []string{}}
	p.Channels["admins-feed"] = Rule{Subscribe: []string{RoleAdmin}, Publish: []string{}}
	for _, tc := range []struct {
		narrow, wide string
		want         bool
	}{
		{"order:1", "activity-feed", true},     // the default entity rule: anyone
		{"salary:ann", "activity-feed", false}, // editors only, the feed anyone
		{"salary:ann", "admins-feed", true},    // admins hold a super role
		{"salary:ann", "board-feed", false},    // members may not subscribe to salary
		{"memo:1", "board-feed", true},         // roles compare without case
		{"memo:1", "comments", false},
		{"salary:ann", "no-such-feed", true}, // nobody may subscribe to it
		{"bad channel", "activity-feed", false},
	} {
		if got := p.Covers(tc.narrow, tc.wide); got != tc.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tc.narrow, tc.wide, got, tc.want)
		}
	}
}
