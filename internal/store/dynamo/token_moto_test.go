package dynamo

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// lostResponseHTTP carries out every request, but loses the response of
// the first TransactWriteItems: the client sees a broken connection after
// DynamoDB committed the transaction, which a real network can do and moto
// cannot be made to do on demand.
type lostResponseHTTP struct {
	lost   atomic.Bool
	client *http.Client
}

func (l *lostResponseHTTP) Do(r *http.Request) (*http.Response, error) {
	resp, err := l.client.Do(r)
	if err != nil || !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".TransactWriteItems") || !l.lost.CompareAndSwap(false, true) {
		return resp, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return nil, io.ErrUnexpectedEOF
}

// TestTransactionRetryAfterLostResponse: the SDK sends a transaction again
// when its response is lost, with the ClientRequestToken it filled in for
// the call; DynamoDB does not apply the second send again, so a
// conditional create that committed the first time succeeds instead of
// failing its own condition. (moto honours the token through
// scripts/moto_server.py; without that, this test fails.)
func TestTransactionRetryAfterLostResponse(t *testing.T) {
	ctx := t.Context()
	lossy := &lostResponseHTTP{client: &http.Client{}}
	client, table := motoTable(t, "t-token", lossy)
	s := New(client, table, nil)
	it := item{store.AttrPK: str("TEST#once"), store.AttrSK: str(store.SKMeta), "n": num(1)}
	err := s.transact(ctx, "create once", "TEST#once", []types.TransactWriteItem{s.putAction(it, "attribute_not_exists(pk)", nil)})
	if !lossy.lost.Load() {
		t.Fatal("no response was lost: the test did not exercise a retry")
	}
	if err != nil {
		t.Fatalf("a transaction committed before its response was lost failed on the retry: %v", err)
	}
	// A new call, with a new token, is a new request: its condition fails.
	err = s.transact(ctx, "create again", "TEST#once", []types.TransactWriteItem{s.putAction(it, "attribute_not_exists(pk)", nil)})
	if err == nil {
		t.Fatal("a second create of the same item succeeded")
	}
}
