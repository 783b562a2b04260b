package dynamo

import (
	"bytes"
	"hash/crc32"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/store"
)

// replyLost forwards every request. Once armed, the first write request
// (PutItem, UpdateItem, DeleteItem or TransactWriteItems) is applied by
// the server and its answer then replaced by a 500 InternalServerError,
// as DynamoDB may answer a write that it applied; the SDK's retryer sends
// the request again.
type replyLost struct {
	armed  atomic.Bool  // set by the test
	fired  atomic.Bool  // a reply was replaced
	writes atomic.Int32 // write requests sent since armed
	client *http.Client
}

var writeTargets = []string{"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}

func (c *replyLost) Do(r *http.Request) (*http.Response, error) {
	_, op, _ := strings.Cut(r.Header.Get("X-Amz-Target"), ".")
	write := slices.Contains(writeTargets, op) && c.armed.Load()
	if write {
		c.writes.Add(1)
	}
	resp, err := c.client.Do(r)
	if err != nil || !write || !c.fired.CompareAndSwap(false, true) {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	body := []byte(`{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error"}`)
	h := http.Header{}
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	return &http.Response{StatusCode: http.StatusInternalServerError, Status: "500 Internal Server Error", Header: h,
		Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body)), Request: r}, nil
}

// replyLostSession returns a store on a new moto table behind an unarmed
// replyLost, and its clock's time, with a live session of connection c1
// (tenant acme, user u1) in rooms and its away alarm due a minute later.
func replyLostSession(t *testing.T, prefix string, rooms []string) (*replyLost, *Store, time.Time) {
	t.Helper()
	hc := &replyLost{client: &http.Client{}}
	client, table := motoTable(t, prefix, hc)
	now := time.Unix(time.Now().Unix(), 0).UTC()
	s := New(client, table, func() time.Time { return now })
	ctx := t.Context()
	if err := s.PutConnection(ctx, store.Connection{ID: "c1", Tenant: "acme", UserID: "u1", ExpiresAt: now.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	ses := store.Session{Presence: store.Presence{Tenant: "acme", UserID: "u1", ConnID: "c1", Status: store.StatusOnline,
		LastSeen: now, LastActive: now, ExpiresAt: now.Add(time.Hour)}, Rooms: rooms}
	if _, err := s.PutSession(ctx, store.SessionWrite{Session: ses, AwayAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	return hc, s, now
}

// TestClearAwayReplyLost: the sweeper's claim of a due away alarm is
// applied, DynamoDB answers 500 and the SDK sends the request again,
// which finds the alarm already claimed. ClearAway must still report the
// claim as this call's (true): the sweeper skips the away announcement
// on false, and no later pass finds the alarm. Another ClearAway of the
// same alarm, as an overlapping sweep runs it, reports false.
func TestClearAwayReplyLost(t *testing.T) {
	hc, s, now := replyLostSession(t, "t-away-lost", nil)
	ctx := t.Context()
	later := now.Add(2 * time.Minute)
	alarms, err := s.ExpiredAway(ctx, later, 10)
	if err != nil || len(alarms) != 1 {
		t.Fatalf("ExpiredAway = %v, %v; want the alarm of c1", alarms, err)
	}
	hc.armed.Store(true)
	ok, err := s.ClearAway(ctx, alarms[0], later)
	if !hc.fired.Load() || hc.writes.Load() < 2 {
		t.Fatalf("the claim was not sent again after a lost reply (%d writes): the test shows nothing", hc.writes.Load())
	}
	if err != nil || !ok {
		t.Fatalf("ClearAway after a lost reply = %v, %v; want true: this sweep claimed the alarm, and no other will act on it", ok, err)
	}
	if ok, err := s.ClearAway(ctx, alarms[0], later); err != nil || ok {
		t.Errorf("ClearAway by an overlapping sweep = %v, %v; want false", ok, err)
	}
	if got, err := s.ExpiredAway(ctx, later, 10); err != nil || len(got) != 0 {
		t.Errorf("ExpiredAway after the claim = %v, %v; want none", got, err)
	}
}

// TestDeleteSessionReplyLost: the clean-up of a closed connection removes
// its session, DynamoDB applies the transaction and answers 500, and the
// SDK sends it again. DeleteSession must still return the session it
// removed: the clean-up reads an empty session as "the sweeper, or
// another clean-up, removed and announced it" and announces nothing, so
// the user's departure would go unannounced. The transaction's
// ClientRequestToken, which the SDK keeps across its attempts, makes the
// second send succeed without being applied again.
func TestDeleteSessionReplyLost(t *testing.T) {
	hc, s, now := replyLostSession(t, "t-delsess-lost", []string{"r1"})
	ctx := t.Context()
	hc.armed.Store(true)
	got, live, err := s.DeleteSession(ctx, "acme", "u1", "c1")
	if !hc.fired.Load() || hc.writes.Load() < 2 {
		t.Fatalf("the removal was not sent again after a lost reply (%d writes): the test shows nothing", hc.writes.Load())
	}
	if err != nil || !live || got.ConnID != "c1" || !slices.Equal(got.Rooms, []string{"r1"}) {
		t.Fatalf("DeleteSession after a lost reply = %+v, %v, %v; want the session, live: this clean-up removed it, and no one else will announce it", got, live, err)
	}
	if got, live, err := s.DeleteSession(ctx, "acme", "u1", "c1"); err != nil || live || got.ConnID != "" {
		t.Errorf("second DeleteSession = %+v, %v, %v; want zero, false, nil", got, live, err)
	}
	if entries, _, err := s.ListPresence(ctx, "acme", "r1", store.Page{}); err != nil || len(entries) != 0 {
		t.Errorf("room r1 after the removal = %v, %v; want empty", entries, err)
	}
	if alarms, err := s.ExpiredAway(ctx, now.Add(2*time.Minute), 10); err != nil || len(alarms) != 0 {
		t.Errorf("away alarms after the removal = %v, %v; want none", alarms, err)
	}
}
