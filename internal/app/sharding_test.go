package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/fanout"
	"github.com/omnisales/rtcollab/internal/publishapi"
	"github.com/omnisales/rtcollab/internal/store"
	"github.com/omnisales/rtcollab/internal/store/memory"
)

// TestShardingPostersFromEnv builds the publish API as functions/publish
// does, with the posters of Lambda.ShardingPosters, and publishes to a
// channel of 2,500: the invocation posts the first shard of 1,000 itself
// and hands the rest to asynchronous invokes of FANOUT_FUNCTION_NAME (a
// local stand-in for Lambda's Invoke API), each recipient exactly once.
// Without sharding one invocation posted all 2,500 (a channel of 26,000
// would take the whole 25 s timeout at the delivery budget).
func TestShardingPostersFromEnv(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	mgmt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if id, ok := strings.CutPrefix(r.URL.Path, "/prod/@connections/"); ok && r.Method == http.MethodPost {
			mu.Lock()
			got[id]++
			mu.Unlock()
		}
	}))
	defer mgmt.Close()
	invoked := 0
	lambdaAPI := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev fanout.Event
		if r.URL.Path != "/2015-03-31/functions/fanout-fn/invocations" || r.Header.Get("X-Amz-Invocation-Type") != "Event" ||
			json.NewDecoder(r.Body).Decode(&ev) != nil || ev.Shard == nil {
			http.Error(w, "not a fan-out invoke", http.StatusBadRequest)
			return
		}
		mu.Lock()
		invoked++
		for _, id := range ev.Shard.IDs {
			got[id]++
		}
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer lambdaAPI.Close()
	getenv := lambdaEnv(map[string]string{
		"MANAGEMENT_ENDPOINT":     mgmt.URL + "/prod",
		"FANOUT_FUNCTION_NAME":    "fanout-fn",
		"FANOUT_SHARD_SIZE":       "1000",
		"AWS_ENDPOINT_URL_LAMBDA": lambdaAPI.URL,
		"LOG_LEVEL":               "error",
	})
	cfg, err := LambdaFromEnv(getenv)
	if err != nil {
		t.Fatal(err)
	}
	posters, err := cfg.ShardingPosters(getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st := memory.New(nil)
	const n = 2500
	for i := range n {
		id := fmt.Sprintf("Conn%011d=", i)
		c := store.Connection{ID: id, UserID: "u" + id[:8], Tenant: "t", ConnectedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
		if err := st.PutConnection(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Subscribe(ctx, "t", "order-updates", id, 0); err != nil {
			t.Fatal(err)
		}
	}
	b, err := Build(ctx, cfg.Settings, &Options{Auth: NoAuth{}, AWS: &cfg.AWS, Store: st, Metrics: io.Discard, Posters: posters})
	if err != nil {
		t.Fatal(err)
	}
	api := publishapi.New(publishapi.Config{}, b.Handler, b.Store, nil, cfg.Settings.Logger())
	if status, body := api.Do(ctx, publishapi.OpPublish, []byte(`{"tenant":"t","channel":"order-updates","payload":{"x":1}}`), ""); status != http.StatusOK {
		t.Fatalf("publish: %d %s", status, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if invoked != 2 {
		t.Errorf("%d fan-out invokes, want 2 (shards 2 and 3 of 1,000 and 500)", invoked)
	}
	if len(got) != n {
		t.Errorf("%d of %d subscribers reached", len(got), n)
	}
	for id, k := range got {
		if k != 1 {
			t.Fatalf("%s reached %d times", id, k)
		}
	}
}
