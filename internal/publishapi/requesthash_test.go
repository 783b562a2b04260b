package publishapi_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/publishapi"
	"github.com/omnisales/rtcollab/internal/store"
)

// TestRetryReserialised: a retry that sends the same request serialised
// another way (its payload's keys in another order, other white space,
// a character escaped) is the same request: it answers the first reply
// as a duplicate and publishes nothing, as a WebSocket resend under the
// same messageId does (protocol.RequestHash). Another value is still
// IDEMPOTENCY_MISMATCH, and so is the same number written otherwise
// (numbers are compared as written).
func TestRetryReserialised(t *testing.T) {
	api, c, _ := newAPI(t)
	first := post(t, api, "/publish", `{"tenant":"acme","channel":"order-updates","idempotencyKey":"order-1-v2","payload":{"orderId":"1","status":"shipped","lines":[{"sku":"A","qty":2}]}}`)
	if first.status != 200 || first.body["duplicate"] == true {
		t.Fatalf("first = %v", first)
	}
	for _, body := range []string{
		`{"idempotencyKey":"order-1-v2","payload":{"status":"shipped","orderId":"1","lines":[{"qty":2,"sku":"A"}]},"channel":"order-updates","tenant":"acme"}`,
		"{\"tenant\":\"acme\",\"channel\":\"order-updates\",\"idempotencyKey\":\"order-1-v2\",\"payload\":{ \"lines\" : [ { \"sku\" : \"\\u0041\" , \"qty\" : 2 } ],\n \"status\":\"shipped\", \"orderId\":\"1\" }}",
	} {
		if a := post(t, api, "/publish", body); a.status != 200 || a.body["duplicate"] != true || a.body["channel"] != "order-updates" {
			t.Fatalf("retry %s = %v, want the first reply as a duplicate", body, a)
		}
	}
	if n := c.calls.Load(); n != 1 {
		t.Fatalf("published %d times under one idempotencyKey, want once", n)
	}
	for _, body := range []string{
		`{"tenant":"acme","channel":"order-updates","idempotencyKey":"order-1-v2","payload":{"orderId":"1","status":"packed","lines":[{"sku":"A","qty":2}]}}`,
		`{"tenant":"acme","channel":"order-updates","idempotencyKey":"order-1-v2","payload":{"orderId":"1","status":"shipped","lines":[{"sku":"A","qty":2.0}]}}`,
	} {
		if a := post(t, api, "/publish", body); a.status != 409 || a.body["code"] != "IDEMPOTENCY_MISMATCH" {
			t.Fatalf("same key, other request %s = %v, want 409 IDEMPOTENCY_MISMATCH", body, a)
		}
	}

	// A notify's data too.
	n1 := post(t, api, "/notify", `{"tenant":"acme","title":"Shipped","data":{"orderId":"1","carrier":"ups"},"idempotencyKey":"ntf-1"}`)
	n2 := post(t, api, "/notify", `{"idempotencyKey":"ntf-1","data":{"carrier":"ups","orderId":"1"},"title":"Shipped","tenant":"acme"}`)
	if n1.status != 200 || n2.status != 200 || n2.body["duplicate"] != true || n2.body["id"] != n1.body["id"] {
		t.Fatalf("notify %v, retry %v; want the first reply as a duplicate", n1, n2)
	}
}

// TestRetryOfARecordHashedTheOldWay: a key whose record was written
// before requests were hashed canonically (a hash of the operation and
// the frame's bytes), which a retry within the key's 24 hours finds after
// an upgrade, is still recognised as the same request.
func TestRetryOfARecordHashedTheOldWay(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	st, b := buildAt(t, clock)
	c := &counting{h: b.Handler}
	api := publishapi.New(publishapi.Config{}, c, st, clock, quiet)
	// The frame the request below became, and the hash of that time.
	frame := `{"type":"publish","messageId":"order-7-v1","channel":"order-updates","payload":{"status":"shipped","orderId":"7"}}`
	sum := sha256.Sum256([]byte("publish\x00" + frame))
	reply := `{"channel":"order-updates","delivered":3,"recipients":3}`
	if _, err := st.ClaimPublishKey(t.Context(), store.PublishKey{Tenant: "acme", Key: "order-7-v1", RequestHash: hex.EncodeToString(sum[:]),
		LeaseUntil: now.Add(2 * time.Minute), ExpiresAt: now.Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := st.CompletePublishKey(t.Context(), "acme", "order-7-v1", hex.EncodeToString(sum[:]), []byte(reply)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	a := post(t, api, "/publish", `{"tenant":"acme","channel":"order-updates","payload":{"status":"shipped","orderId":"7"},"idempotencyKey":"order-7-v1"}`)
	if a.status != 200 || a.body["duplicate"] != true || a.body["recipients"] != 3.0 {
		t.Fatalf("retry of a record hashed the old way = %v, want its reply as a duplicate", a)
	}
	if other := post(t, api, "/publish", `{"tenant":"acme","channel":"order-updates","payload":{"status":"packed","orderId":"7"},"idempotencyKey":"order-7-v1"}`); other.status != 409 {
		t.Fatalf("another request under that key = %v, want 409 IDEMPOTENCY_MISMATCH", other)
	}
	if n := c.calls.Load(); n != 0 {
		t.Fatalf("published %d times, want none", n)
	}
}
