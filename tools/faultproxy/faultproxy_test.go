package faultproxy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/tools/faultproxy"
)

// upstream is a fake DynamoDB that answers every request with an empty
// object (a valid GetItem or TransactWriteItems output) and counts them.
func upstream(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		n.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// client is a DynamoDB client through the proxy that never retries, so
// each call shows one injected fault.
func client(t *testing.T, p *faultproxy.Proxy, timeout time.Duration) *dynamodb.Client {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String(srv.URL),
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		HTTPClient:       &http.Client{Timeout: timeout},
		RetryMaxAttempts: 1,
	})
}

func getItem(c *dynamodb.Client) error {
	_, err := c.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String("t"),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "a"}},
	})
	return err
}

func transact(c *dynamodb.Client) error {
	put := func(pk string) types.TransactWriteItem {
		return types.TransactWriteItem{Put: &types.Put{TableName: aws.String("t"),
			Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}}}}
	}
	_, err := c.TransactWriteItems(context.Background(), &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{put("a"), put("b")},
	})
	return err
}

func TestFaultsAsTheSDKSeesThem(t *testing.T) {
	tests := []struct {
		kind      faultproxy.Kind
		call      func(*dynamodb.Client) error
		forwarded int64
		check     func(error) bool
	}{
		{faultproxy.Pass, getItem, 1, func(err error) bool { return err == nil }},
		{faultproxy.Throttling, getItem, 0, func(err error) bool {
			var e *types.ThrottlingException
			return errors.As(err, &e)
		}},
		{faultproxy.ProvisionedThroughput, getItem, 0, func(err error) bool {
			var e *types.ProvisionedThroughputExceededException
			return errors.As(err, &e)
		}},
		{faultproxy.TransactionThrottled, transact, 0, func(err error) bool {
			var e *types.TransactionCanceledException
			return errors.As(err, &e) && len(e.CancellationReasons) == 2 &&
				aws.ToString(e.CancellationReasons[0].Code) == "ThrottlingError"
		}},
		{faultproxy.InternalError, getItem, 0, func(err error) bool {
			var e *types.InternalServerError
			return errors.As(err, &e)
		}},
		{faultproxy.Unavailable, getItem, 0, func(err error) bool { return err != nil }},
		{faultproxy.Timeout, getItem, 0, func(err error) bool { return err != nil }},
		{faultproxy.LostResponse, transact, 1, func(err error) bool { return err != nil }},
		{faultproxy.Slow, getItem, 1, func(err error) bool { return err == nil }},
	}
	for _, tt := range tests {
		t.Run(tt.kind.String(), func(t *testing.T) {
			up, forwarded := upstream(t)
			delay, timeout := 300*time.Millisecond, 2*time.Second
			if tt.kind == faultproxy.Timeout || tt.kind == faultproxy.LostResponse {
				delay, timeout = 2*time.Second, 200*time.Millisecond
			}
			p, err := faultproxy.New(faultproxy.Config{Target: up.URL, Script: []faultproxy.Kind{tt.kind}, Delay: delay, SlowDelay: delay})
			if err != nil {
				t.Fatal(err)
			}
			err = tt.call(client(t, p, timeout))
			if !tt.check(err) {
				t.Fatalf("%s: err = %v", tt.kind, err)
			}
			if got := forwarded.Load(); got != tt.forwarded {
				t.Fatalf("%s: forwarded %d requests, want %d", tt.kind, got, tt.forwarded)
			}
			if n := p.Stats().Injected[tt.kind]; tt.kind != faultproxy.Pass && n != 1 {
				t.Fatalf("Stats().Injected[%s] = %d, want 1", tt.kind, n)
			}
		})
	}
}

// TestSeededChoicesRepeat: the same seed and request sequence inject the
// same faults; the script comes first; Match and SetEnabled exempt
// requests.
func TestSeededChoicesRepeat(t *testing.T) {
	run := func(seed uint64) []bool {
		up, _ := upstream(t)
		p, err := faultproxy.New(faultproxy.Config{
			Target: up.URL, Seed: seed, Rate: 0.5, Kinds: []faultproxy.Kind{faultproxy.Throttling},
			Script: []faultproxy.Kind{faultproxy.InternalError, faultproxy.Pass},
			Match:  func(op string) bool { return op == "GetItem" },
		})
		if err != nil {
			t.Fatal(err)
		}
		c := client(t, p, 2*time.Second)
		var failed []bool
		for range 40 {
			failed = append(failed, getItem(c) != nil)
			if err := transact(c); err != nil {
				t.Fatalf("unmatched operation faulted: %v", err)
			}
		}
		p.SetEnabled(false)
		if err := getItem(c); err != nil {
			t.Fatalf("disabled proxy faulted: %v", err)
		}
		st := p.Stats()
		if st.Requests != 81 || st.Eligible != 40 || st.Injected[faultproxy.InternalError] != 1 {
			t.Fatalf("stats = %+v", st)
		}
		return failed
	}
	a, b := run(7), run(7)
	if !slices.Equal(a, b) {
		t.Fatalf("seed 7 gave %v then %v", a, b)
	}
	if !a[0] || a[1] {
		t.Fatalf("script not applied first: %v", a[:2])
	}
	n := 0
	for _, f := range a[2:] {
		if f {
			n++
		}
	}
	if n == 0 || n == len(a)-2 {
		t.Fatalf("rate 0.5 faulted %d of %d", n, len(a)-2)
	}
	if slices.Equal(a, run(8)) {
		t.Log("seeds 7 and 8 happened to agree")
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for _, cfg := range []faultproxy.Config{{Target: ""}, {Target: "localhost"}, {Target: "http://x", Rate: 2}} {
		if _, err := faultproxy.New(cfg); !errors.Is(err, faultproxy.ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
}

// TestInjectOp: faults scripted for one operation hit only that operation,
// before the general script.
func TestInjectOp(t *testing.T) {
	up, _ := upstream(t)
	p, err := faultproxy.New(faultproxy.Config{Target: up.URL, Script: []faultproxy.Kind{faultproxy.InternalError}})
	if err != nil {
		t.Fatal(err)
	}
	c := client(t, p, 2*time.Second)
	p.InjectOp("TransactWriteItems", faultproxy.TransactionThrottled)
	var tce *types.TransactionCanceledException
	if err := transact(c); !errors.As(err, &tce) {
		t.Fatalf("transact = %v, want the scripted throttled transaction", err)
	}
	var ise *types.InternalServerError
	if err := getItem(c); !errors.As(err, &ise) {
		t.Fatalf("get = %v, want the general script's 500", err)
	}
	if err := transact(c); err != nil {
		t.Fatalf("transact after the scripts = %v", err)
	}
}
