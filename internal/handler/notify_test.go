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

// TestNotificationIDOfTheSameRequest: the id derives from the request,
// not from how its payload is serialised: a retry whose keys come in
// another order, with other white space or a character escaped (the same
// request to protocol.RequestHash and to the publish API's idempotency
// record) gets the same id, so that recipients the first attempt reached
// can drop the repeat. A number written otherwise is another request.
// A payload already in canonical form (as the publish API builds one
// whose data's keys are sorted) keeps the id it had when ids were
// hashed from the payload's bytes.
func TestNotificationIDOfTheSameRequest(t *testing.T) {
	const payload = `{"body":"","data":{"carrier":"ups","orderId":"SO-1"},"level":"","title":"Q&A <b>","userId":""}`
	id := notificationID("acme", "service", "so-1-shipped", []byte(payload))
	for _, same := range []string{
		`{"title":"Q&A <b>","userId":"","level":"","data":{"orderId":"SO-1","carrier":"ups"},"body":""}`,
		"{ \"body\" : \"\",\n \"data\" : { \"carrier\" : \"\\u0075ps\", \"orderId\" : \"SO-1\" }, \"level\":\"\", \"title\":\"Q\\u0026A \\u003cb>\", \"userId\":\"\" }",
	} {
		if got := notificationID("acme", "service", "so-1-shipped", []byte(same)); got != id {
			t.Errorf("notificationID of %s = %q, want %q (the same request)", same, got, id)
		}
	}
	if got := notificationID("acme", "service", "so-1-shipped", []byte(`{"title":"x","data":{"n":1.0}}`)); got == notificationID("acme", "service", "so-1-shipped", []byte(`{"title":"x","data":{"n":1}}`)) {
		t.Errorf("1.0 and 1 give one id %q; numbers are compared as written", got)
	}
	for p, want := range map[string]string{
		`{"title":"Order SO-1 shipped"}`: "ntf-c5948fe6bfcb9008521d45ce",
		payload:                          "ntf-2c6dbf2f1e7a6976d57db98b",
	} {
		if got := notificationID("acme", "service", "so-1-shipped", []byte(p)); got != want {
			t.Errorf("notificationID of %s = %q, want %q, as before", p, got, want)
		}
	}
}
