package dynamo_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
	"github.com/omnisales/rtcollab/internal/store/memory"
	"github.com/omnisales/rtcollab/internal/store/storetest"
)

// documentedLEK is an HTTP client for moto that answers a Query the way
// DynamoDB documents it (Query, "Paginating table query results": a
// LastEvaluatedKey "does not necessarily mean that there is more data"): a
// Query whose result reached its Limit carries the key of its last item as
// LastEvaluatedKey, also when no further item exists. moto sets it only
// when a further item exists. It counts the Queries it sends.
type documentedLEK struct {
	queries atomic.Int32
	client  *http.Client
}

func (d *documentedLEK) Do(r *http.Request) (*http.Response, error) {
	if r.Header.Get("X-Amz-Target") != "DynamoDB_20120810.Query" {
		return d.client.Do(r)
	}
	d.queries.Add(1)
	reqBody, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body = io.NopCloser(bytes.NewReader(reqBody))
	var req struct{ Limit int }
	if err := json.Unmarshal(reqBody, &req); err != nil {
		return nil, err
	}
	resp, err := d.client.Do(r)
	if err != nil || resp.StatusCode != http.StatusOK || req.Limit == 0 {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var out map[string]json.RawMessage
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(out["Items"], &items); err != nil {
		return nil, err
	}
	if _, has := out["LastEvaluatedKey"]; !has && len(items) == req.Limit {
		last := items[len(items)-1]
		out["LastEvaluatedKey"], _ = json.Marshal(map[string]json.RawMessage{store.AttrPK: last[store.AttrPK], store.AttrSK: last[store.AttrSK]})
		body, _ = json.Marshal(out)
		resp.Header.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
		resp.ContentLength = int64(len(body))
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	return resp, nil
}

// lekStores returns a memory store and a DynamoDB store on a table of its
// own, reached through a documentedLEK, both on a fake clock.
func lekStores(t *testing.T) (*documentedLEK, *storetest.FakeClock, map[string]store.Store) {
	t.Helper()
	ep := endpoint(t)
	clock := storetest.NewFakeClock(time.Now().UTC().Truncate(time.Second))
	lek := &documentedLEK{client: &http.Client{}}
	client, table := newTable(t, ep, func(o *dynamodb.Options) { o.HTTPClient = lek })
	return lek, clock, map[string]store.Store{"memory": memory.New(clock.Now), "dynamo": dynamo.New(client, table, clock.Now)}
}

// TestListActivityCursorAtTheEnd: ListActivity returns a cursor only when
// an entry follows the last one it read, also when DynamoDB answers a
// Query that stopped at its Limit with a LastEvaluatedKey and nothing
// follows. Each case reads pages in turn, each from the cursor of the one
// before; the memory store gives the same answers. Feeds: the oldest entry
// is about entity "first", the others about "other".
func TestListActivityCursorAtTheEnd(t *testing.T) {
	lek, clock, stores := lekStores(t)
	feeds := map[string]int{"t100": 100, "t101": 101, "t1001": store.MaxActivityRead + 1}
	for name, s := range stores {
		for tenant, n := range feeds {
			for i := range n {
				entity := "other"
				if i == 0 {
					entity = "first"
				}
				at := clock.Now().Add(time.Duration(i-n) * time.Second)
				if err := s.PutActivity(t.Context(), store.Activity{ID: fmt.Sprintf("a%04d", i), Tenant: tenant, Action: "updated",
					EntityType: "order", EntityID: entity, At: at, ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
					t.Fatalf("%s: PutActivity: %v", name, err)
				}
			}
		}
	}
	first := store.ActivityFilter{EntityIDs: []string{"first"}}
	none := store.ActivityFilter{EntityIDs: []string{"nothing"}}
	type step struct {
		f     store.ActivityFilter
		limit int
		want  int  // entries
		more  bool // a cursor
	}
	cases := []struct {
		name, tenant string
		steps        []step
	}{
		{"exactly limit entries", "t100", []step{{limit: 100, want: 100}}},
		{"the match filling the page is the oldest", "t100", []step{{f: first, limit: 1, want: 1}}},
		{"the oldest fills the page after a full Query", "t101", []step{{f: first, limit: 1, want: 1}}},
		{"exactly limit entries after a cursor", "t101", []step{{limit: 1, want: 1, more: true}, {limit: 100, want: 100}}},
		{"more than the read bound", "t1001", []step{{f: none, want: 0, more: true}, {f: none, want: 0}}},
		{"exactly the read bound after a cursor", "t1001", []step{{limit: 1, want: 1, more: true}, {f: none, want: 0}}},
	}
	for _, c := range cases {
		for name, s := range stores {
			cursor := ""
			for i, st := range c.steps {
				got, next, err := s.ListActivity(t.Context(), c.tenant, st.f, store.Page{Limit: st.limit, Cursor: cursor})
				if err != nil {
					t.Fatalf("%s, %s, page %d: %v", c.name, name, i+1, err)
				}
				if len(got) != st.want || (next != "") != st.more {
					t.Errorf("%s, %s, page %d: %d entries, next %q; want %d entries, a cursor %v", c.name, name, i+1, len(got), next, st.want, st.more)
				}
				cursor = next
			}
		}
	}

	// A full page of a longer feed, unfiltered, costs one Query: the entry
	// asked for beyond the page shows that the feed goes on.
	before := lek.queries.Load()
	got, next, err := stores["dynamo"].ListActivity(t.Context(), "t1001", store.ActivityFilter{}, store.Page{Limit: 100})
	if err != nil || len(got) != 100 || next == "" {
		t.Fatalf("ListActivity = %d entries, next %q, %v; want 100 and a cursor", len(got), next, err)
	}
	if sent := lek.queries.Load() - before; sent != 1 {
		t.Errorf("a full page sent %d Queries, want 1", sent)
	}
}
