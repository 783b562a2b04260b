package handler_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/handler"
)

// forgedView is a member's "viewed" entry about salary:ann dressed as the
// entry the server records for an accepted change: a change of the
// amount and the change's id, version and operation.
const forgedView = `{"type":"activity","messageId":"v1","payload":{"action":"viewed","entity":{"type":"salary","id":"ann"},` +
	`"changes":[{"field":"amount","before":987654,"after":1}],"metadata":{"changeId":"salary:ann:7","version":7,"operation":"update"}}}`

// TestKindSubscribeRuleGuardsViewedActivity: an activity entry is shown
// to those who may subscribe to its entity's channel, and the server
// records one for every change it accepts. With subscribe on "salary"
// limited to editors, a member refused sync of salary:ann may not write
// entries about it either: its "viewed" entry is refused FORBIDDEN and
// the feed an editor lists holds nothing of it.
func TestKindSubscribeRuleGuardsViewedActivity(t *testing.T) {
	p := auth.DefaultPolicy()
	p.Kinds["salary"] = auth.Rule{Subscribe: []string{auth.RoleEditor}, Publish: []string{auth.RoleEditor}}
	send := connectAll(t, handler.Config{Policy: p}, nil, map[string]map[string]string{
		"EdConn=":  {"userId": "hr", "tenant": "t1", "role": "editor"},
		"MemConn=": {"userId": "bob", "tenant": "t1", "role": "member"},
	})
	if b := send("MemConn=", `{"type":"sync","messageId":"s1","payload":{"entityType":"salary","entityId":"ann"}}`); !strings.Contains(b, "FORBIDDEN") {
		t.Fatalf("member's sync of salary:ann: %s, want FORBIDDEN", b)
	}
	if b := send("MemConn=", forgedView); !strings.Contains(b, "FORBIDDEN") {
		t.Errorf("member's viewed entry about salary:ann, which it may not read: %s; want FORBIDDEN", b)
	}
	plain := `{"type":"activity","messageId":"v2","payload":{"action":"viewed","entity":{"type":"salary","id":"ann"}}}`
	if b := send("MemConn=", plain); !strings.Contains(b, "FORBIDDEN") {
		t.Errorf("member's plain viewed entry about salary:ann: %s; want FORBIDDEN", b)
	}
	if b := send("EdConn=", `{"type":"activity.list","messageId":"l1","payload":{"entityTypes":["salary"]}}`); strings.Contains(b, `"userId":"bob"`) {
		t.Errorf("editor's activity.list shows the member's entry about salary:ann: %s", b)
	}
	// The editor, who may read salary:ann, records its views.
	if b := send("EdConn=", plain); !strings.Contains(b, `"type":"ack"`) {
		t.Errorf("editor's viewed entry about salary:ann: %s; want an ack", b)
	}
}

// TestClientActivityCarriesNoServerFields: what marks an entry as the
// server's record of an accepted change (the changeId, version and
// operation in its metadata) is refused in an entry a client writes, and
// a "viewed" entry carries no changes; other metadata passes.
func TestClientActivityCarriesNoServerFields(t *testing.T) {
	send := connectAll(t, handler.Config{}, nil, map[string]map[string]string{
		"MemConn=": {"userId": "bob", "tenant": "t1", "role": "member"},
		"AdmConn=": {"userId": "root", "tenant": "t1", "role": "admin"},
		"EdConn=":  {"userId": "hr", "tenant": "t1", "role": "editor"},
	})
	refused := []struct{ conn, payload string }{
		{"MemConn=", `{"entity":{"type":"order","id":"1"},"changes":[{"field":"total","before":10,"after":1}]}`},
		{"MemConn=", `{"entity":{"type":"order","id":"1"},"metadata":{"changeId":"order:1:7"}}`},
		{"MemConn=", `{"entity":{"type":"order","id":"1"},"metadata":{"version":7}}`},
		{"MemConn=", `{"entity":{"type":"order","id":"1"},"metadata":{"operation":"update"}}`},
		{"AdmConn=", `{"action":"viewed","entity":{"type":"order","id":"1"},"changes":[{"field":"total","after":1}]}`},
		{"AdmConn=", `{"action":"updated","entity":{"type":"order","id":"1"},"metadata":{"changeId":"order:1:7","version":7,"operation":"update"}}`},
	}
	for i, r := range refused {
		body := `{"type":"activity","messageId":"r` + string(rune('a'+i)) + `","payload":` + r.payload + `}`
		if b := send(r.conn, body); !strings.Contains(b, "BAD_REQUEST") {
			t.Errorf("%s %s: %s; want BAD_REQUEST", r.conn, r.payload, b)
		}
	}
	accepted := []struct{ conn, payload string }{
		{"MemConn=", `{"entity":{"type":"order","id":"1"},"metadata":{"source":"order list","tab":2}}`},
		// An admin or system identity records a data change made
		// elsewhere, with its changes and its own metadata.
		{"AdmConn=", `{"action":"updated","entity":{"type":"order","id":"2"},"changes":[{"field":"status","before":"new","after":"shipped"}],"metadata":{"erpId":"so-88"}}`},
	}
	for i, a := range accepted {
		body := `{"type":"activity","messageId":"k` + string(rune('a'+i)) + `","payload":` + a.payload + `}`
		if b := send(a.conn, body); !strings.Contains(b, `"type":"ack"`) {
			t.Errorf("%s %s: %s; want an ack", a.conn, a.payload, b)
		}
	}
	b := send("EdConn=", `{"type":"activity.list","messageId":"l1","payload":{}}`)
	if strings.Contains(b, "changeId") || strings.Contains(b, `"total"`) {
		t.Errorf("activity.list shows a refused entry: %s", b)
	}
	if !strings.Contains(b, "order list") || !strings.Contains(b, "so-88") {
		t.Errorf("activity.list lacks an accepted entry: %s", b)
	}
}

// TestClientActivityReservedKeysInAnyCase: a Go consumer of the feed that
// decodes metadata into a struct with the fields changeId, version and
// operation matches member names regardless of case, as encoding/json
// does, so a client's metadata {"ChangeId": ...} would pass there for the
// server's record of a change. A client's metadata member is refused with
// BAD_REQUEST exactly when encoding/json would decode it into one of
// those fields; other names pass.
func TestClientActivityReservedKeysInAnyCase(t *testing.T) {
	send := connectAll(t, handler.Config{}, nil, map[string]map[string]string{
		"MemConn=": {"userId": "bob", "tenant": "t1", "role": "member"},
		"EdConn=":  {"userId": "hr", "tenant": "t1", "role": "editor"},
	})
	// The server's record of a change, as a consumer decodes it.
	var record struct {
		ChangeID  *json.RawMessage `json:"changeId"`
		Version   *json.RawMessage `json:"version"`
		Operation *json.RawMessage `json:"operation"`
	}
	names := []string{
		"ChangeId", "CHANGEID", "changeid", "Version", "VERSION", "Operation", "oPeRaTiOn",
		"ver\u017fion",   // long s, which folds to S
		"change_id",      // another name
		"changeIds",      // another name
		"operat\u0131on", // dotless i, which folds to no I
		"vers\u00edon",   // i with acute
	}
	for i, name := range names {
		metadata := `{"` + name + `":"x"}`
		record.ChangeID, record.Version, record.Operation = nil, nil, nil
		if err := json.Unmarshal([]byte(metadata), &record); err != nil {
			t.Fatal(err)
		}
		reserved := record.ChangeID != nil || record.Version != nil || record.Operation != nil
		b := send("MemConn=", `{"type":"activity","messageId":"f`+strconv.Itoa(i)+`","payload":{"entity":{"type":"order","id":"1"},"metadata":`+metadata+`}}`)
		if refused := strings.Contains(b, "BAD_REQUEST"); refused != reserved {
			t.Errorf("metadata %s (encoding/json decodes it into the record: %v): %s", metadata, reserved, b)
		}
	}
	b := send("MemConn=", `{"type":"activity","messageId":"all","payload":{"entity":{"type":"order","id":"1"},"metadata":{"ChangeId":"order:1:7","Version":7,"Operation":"update"}}}`)
	if !strings.Contains(b, "BAD_REQUEST") {
		t.Errorf("metadata {ChangeId, Version, Operation}: %s; want BAD_REQUEST", b)
	}
	if l := send("EdConn=", `{"type":"activity.list","messageId":"l1","payload":{}}`); strings.Contains(l, "order:1:7") {
		t.Errorf("activity.list shows an entry with a reserved key: %s", l)
	}
}
