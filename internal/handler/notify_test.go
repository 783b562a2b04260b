package handler

import (
	"regexp"
	"testing"
)

// TestNotificationID: a notify's notification id is the same for the
// same tenant, sender, messageId and payload (a retried request), and
// another for any other; it has the form of a random one, ntf- and 24 hex
// digits.
func TestNotificationID(t *testing.T) {
	const payload = `{"title":"Order SO-1 shipped"}`
	id := notificationID("acme", "service", "so-1-shipped", []byte(payload))
	if !regexp.MustCompile(`^ntf-[0-9a-f]{24}$`).MatchString(id) {
		t.Fatalf("id %q, want ntf- and 24 hex digits", id)
	}
	if again := notificationID("acme", "service", "so-1-shipped", []byte(payload)); again != id {
		t.Fatalf("the same request: id %q, then %q", id, again)
	}
	for _, other := range [][4]string{
		{"globex", "service", "so-1-shipped", payload},
		{"acme", "admin", "so-1-shipped", payload},
		{"acme", "service", "so-2-shipped", payload},
		{"acmeservice", "", "so-1-shipped", payload},
		{"acme", "service", "so-1-shipped", `{"title":"Order SO-2 shipped"}`},
	} {
		if got := notificationID(other[0], other[1], other[2], []byte(other[3])); got == id {
			t.Errorf("notificationID%q = %q, the id of another request", other, got)
		}
	}
}
