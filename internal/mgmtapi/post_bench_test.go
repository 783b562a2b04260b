package mgmtapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/tools/benchcpu"
)

// answerOK is a RoundTripper that reads each request's body and answers
// 200 without touching the network, so that a benchmark through it
// measures the client's own CPU per post (building, signing, reading the
// answer) apart from the server's and the kernel's.
type answerOK struct{}

func (answerOK) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{
		StatusCode: http.StatusOK, Status: "200 OK", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: http.NoBody, ContentLength: 0, Request: r,
	}, nil
}

// benchFrame is a broadcast frame of about n bytes.
func benchFrame(n int) []byte {
	head := `{"type":"update","channel":"room:big","payload":{"note":"`
	tail := `"}}`
	return []byte(head + strings.Repeat("x", max(n-len(head)-len(tail), 0)) + tail)
}

// BenchmarkSignedPost measures one signed post, the unit of work of a
// fan-out on the deployed path: one broadcast frame posted to many
// recipients in turn. frame=each posts with PostToConnection, which hashes
// the payload for every post; frame=prepared posts through PrepareFrame,
// once per 1,000 recipients, as a fan-out does. transport=none answers in
// process (the client's CPU alone); transport=loopback goes through a real
// HTTP server on 127.0.0.1 (both sides' CPU, as the benchmark runs them in
// one process).
func BenchmarkSignedPost(b *testing.B) {
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = "R1kmxc2VNjMCF" + strconv.Itoa(100000+i) + "="
	}
	for _, transport := range []string{"none", "loopback"} {
		for _, size := range []int{256, 8 << 10, 32 << 10} {
			for _, mode := range []string{"each", "prepared"} {
				b.Run(fmt.Sprintf("transport=%s/bytes=%d/frame=%s", transport, size, mode), func(b *testing.B) {
					endpoint := "https://abc123.execute-api.eu-west-1.amazonaws.com/prod"
					opts := fastOptions()
					switch transport {
					case "none":
						opts.HTTPClient = &http.Client{Transport: answerOK{}}
					case "loopback":
						srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
							_, _ = io.Copy(io.Discard, r.Body)
						}))
						b.Cleanup(srv.Close)
						endpoint = srv.URL + "/prod"
					}
					c := mgmtapi.New(endpoint, testConfig(), opts)
					frame := benchFrame(size)
					ctx := context.Background()
					var post func(ctx context.Context, id string) error
					b.SetBytes(int64(len(frame)))
					b.ReportAllocs()
					i := 0
					stop := benchcpu.Start(b)
					for b.Loop() {
						id := ids[i%len(ids)]
						var err error
						if mode == "each" {
							err = c.PostToConnection(ctx, id, frame)
						} else {
							if i%len(ids) == 0 {
								post = c.PrepareFrame(frame)
							}
							err = post(ctx, id)
						}
						if err != nil {
							b.Fatal(err)
						}
						i++
					}
					stop()
				})
			}
		}
	}
}

// BenchmarkSignedPostConcurrent posts one prepared 256-byte frame with 128
// posts in flight, as a fan-out does, through a real HTTP server on
// 127.0.0.1, with each of the two HTTP clients: transport=net-http is
// net/http's Transport (two goroutines per connection hand every request
// and answer on), transport=h1 is awsrest's H1Transport (the posting
// goroutine writes and reads itself), the default. The server's share of
// cpu-ns/op is the same in both.
func BenchmarkSignedPostConcurrent(b *testing.B) {
	for _, transport := range []string{"net-http", "h1"} {
		b.Run("transport="+transport, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
			}))
			b.Cleanup(srv.Close)
			opts := fastOptions()
			switch transport {
			case "net-http":
				tr := http.DefaultTransport.(*http.Transport).Clone()
				tr.MaxIdleConnsPerHost = 1024
				tr.MaxIdleConns = 1024
				b.Cleanup(tr.CloseIdleConnections)
				opts.HTTPClient = &http.Client{Transport: tr}
			case "h1":
				tr := &awsrest.H1Transport{}
				b.Cleanup(tr.CloseIdleConnections)
				opts.HTTPClient = &http.Client{Transport: tr}
			}
			c := mgmtapi.New(srv.URL+"/prod", testConfig(), opts)
			postInParallel(b, c.PrepareFrame(benchFrame(256)))
		})
	}
}

// postInParallel posts to 1,000 connection ids in turn from 128
// goroutines (two cores), as a fan-out with posts in flight does, and
// reports cpu-ns/op.
func postInParallel(b *testing.B, post func(ctx context.Context, connectionID string) error) {
	var n atomic.Int64
	b.SetParallelism(64)
	b.ReportAllocs()
	stop := benchcpu.Start(b)
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			id := "R1kmxc2VNjMCF" + strconv.Itoa(int(n.Add(1)%1000)) + "="
			if err := post(ctx, id); err != nil {
				b.Error(err)
				return
			}
		}
	})
	stop()
}
