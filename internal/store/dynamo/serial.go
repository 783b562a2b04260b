package dynamo

import (
	"net/http"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// SerialHTTP returns a client option that sends one request at a time. It
// exists for moto's server, which applies a transaction item by item and
// undoes a cancelled one by restoring a copy of the whole table taken when
// it started, undoing any request that another of its threads finished
// meanwhile. DynamoDB isolates transactions and needs no such option; with
// it, the store's operations still interleave request by request.
func SerialHTTP() func(*dynamodb.Options) {
	s := &serialHTTP{client: &http.Client{}}
	return func(o *dynamodb.Options) { o.HTTPClient = s }
}

type serialHTTP struct {
	mu     sync.Mutex
	client *http.Client
}

func (s *serialHTTP) Do(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.client.Do(r)
}
