package publishapi_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/publishapi"
	"github.com/omnisales/rtcollab/tools/faultproxy"
)

// TestKeyedPublishClaimRetriedAfterLanding: on DynamoDB, the PutItem that
// claims a keyed publish's idempotency key is applied but its answer is
// lost, so the SDK sends it again and the retry fails its condition on
// that very claim. The publish still runs, once, and the caller's retry
// gets its reply as a duplicate. (Before claims carried a claim id, the
// API answered 200 {"duplicate":true,"pending":true} without publishing,
// and so again to every retry until the claim's lease lapsed.)
func TestKeyedPublishClaimRetriedAfterLanding(t *testing.T) {
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT is not set: run scripts/with-moto.sh go test ./internal/publishapi")
	}
	proxy, err := faultproxy.New(faultproxy.Config{Target: ep, Delay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ps := httptest.NewServer(proxy)
	t.Cleanup(ps.Close)
	b, err := app.Build(t.Context(), app.Settings{DevIdentity: true, ManagementEndpoint: "http://127.0.0.1:1/ws",
		TableName: fmt.Sprintf("t-pub-claim-retry-%d", time.Now().UnixNano()), DynamoDBEndpoint: ps.URL},
		&app.Options{Logger: quiet, CreateTable: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &counting{h: b.Handler}
	api := publishapi.New(publishapi.Config{}, c, b.Store, nil, quiet)
	body := `{"tenant":"acme","channel":"order-updates","payload":{"id":1},"idempotencyKey":"evt-1"}`
	proxy.InjectOp("PutItem", faultproxy.LostResponse)
	a := post(t, api, "/publish", body)
	if lost := proxy.Stats().Injected[faultproxy.LostResponse]; lost != 1 {
		t.Fatalf("%d answers lost; want the claim's PutItem answer lost once", lost)
	}
	if a.status != 200 || a.body["duplicate"] != nil || c.calls.Load() != 1 {
		t.Fatalf("first attempt: %d %v, published %d times; want 200, published once (the claim is this request's own)",
			a.status, a.body, c.calls.Load())
	}
	a = post(t, api, "/publish", body)
	if a.status != 200 || a.body["duplicate"] != true || a.body["pending"] != nil || c.calls.Load() != 1 {
		t.Fatalf("caller's retry: %d %v, published %d times; want the first reply as a duplicate, published once",
			a.status, a.body, c.calls.Load())
	}
}
