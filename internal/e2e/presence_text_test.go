package e2e_test

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestPresenceTextsMustBeVisible: the activity and the location's page
// and section that a presence or room.join frame sets reach every user in
// the room and on user-presence, so they are held to the rule of a
// presence avatar (ident.Clean): one holding a character of a class the
// identifier rules refuse (identifierAttacks: controls, bidirectional and
// zero-width characters, NUL-like C0, a variation selector after a Latin
// letter, ...) is refused with BAD_REQUEST naming the field, without
// quoting it, and reaches neither the subscribers nor the snapshot. Text
// of any script with spaces, U+00A0 and an emoji with its variation
// selector is taken and shown as sent.
func TestPresenceTextsMustBeVisible(t *testing.T) {
	for _, b := range presBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			srv := b.start(t)
			watcher := presDial(t, srv, "bob", nil)
			watcher.ok("subscribe", "user-presence", nil)
			watcher.ok("room.join", "", map[string]any{"room": "lobby"})
			sender := sizedDial(t, srv, "alice", nil)
			sender.ok("room.join", "", map[string]any{"room": "lobby"})
			watcher.await(isPresence("room:lobby", "alice", "join", "online"), "alice's join")
			watcher.forget()

			for class, c := range identifierAttacks {
				text := "refused" + c // after a Latin letter: a variation selector varies nothing there
				for _, typ := range []string{"presence", "room.join"} {
					for _, tc := range []struct {
						field   string
						payload map[string]any
					}{
						{"activity", map[string]any{"activity": text}},
						{"page", map[string]any{"location": map[string]any{"page": text}}},
						{"section", map[string]any{"location": map[string]any{"page": "orders", "section": text}}},
					} {
						tc.payload["room"] = "lobby"
						f := sender.bad().call(typ, "", tc.payload)
						if f.Type != "error" || f.code() != "BAD_REQUEST" || !strings.Contains(string(f.Payload), tc.field) {
							t.Errorf("%s: %s with %s: got %s %.300s, want BAD_REQUEST naming %s", typ, tc.field, class, f.Type, f.Payload, tc.field)
						} else if strings.Contains(string(f.Payload), "refused") {
							t.Errorf("%s: %s with %s: the refusal quotes the text: %.300s", typ, tc.field, class, f.Payload)
						}
					}
				}
			}
			watcher.none(func(f frame) bool { return strings.Contains(string(f.Payload), "refused") }, "frame with a refused text")
			if s := watcher.snapshot("lobby"); strings.Contains(strings.Join(snapshotTexts(s), " "), "refused") {
				t.Errorf("a refused text is in the snapshot: %+v", s)
			}

			const activity, page, section = "Édition de la commande n°\u00a0123 ❤️ 编辑", "Commandes", "Détail 1️⃣"
			sender.ok("presence", "", map[string]any{"activity": activity, "location": map[string]any{"page": page, "section": section}})
			f := watcher.await(isPresence("room:lobby", "alice", "update", "online"), "alice's update")
			var e presEvent
			if err := json.Unmarshal(f.Payload, &e); err != nil || e.User.Activity != activity || e.User.CurrentLocation.Page != page || e.User.CurrentLocation.Section != section {
				t.Errorf("update = %s, want activity %q, page %q, section %q", f.Payload, activity, page, section)
			}
		})
	}
}

// snapshotTexts returns the activities of a snapshot's users.
func snapshotTexts(s snapshotOf) []string {
	var out []string
	for _, u := range s.UsersInRoom {
		out = append(out, u.Activity)
	}
	return out
}
