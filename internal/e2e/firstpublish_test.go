package e2e_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/tools/loopserver"
)

func TestMain(m *testing.M) { loopserver.Main(m) }

// TestFirstPublishOverTLS posts one broadcast frame to every recipient of a
// publish with the posting loop of the message and fan-out functions
// (broadcast.DeliverShard, DefaultConcurrency in flight) through the real
// Management API client over TLS, to a server in another process that
// answers each post after 20 ms (tools/loopserver), and times the
// publishes of one client from its first: the first opens a connection,
// with a TLS handshake, for every post in flight, as the first large
// broadcast of a new function instance does in AWS.
//
// In make test it runs a short version (100 recipients, two publishes,
// unthrottled) that checks every post is answered. With
// RTCOLLAB_FIRST_PUBLISH=1 (make bench-first-publish) it publishes to
// 1,000 21 times (the first, then 20 warm publishes whose median and
// slowest it reports), unthrottled and, where cgroup v1's CPU controller
// is writable, with the CPU share of a function of 256, 512, 1,024 and
// 1,769 MB, the process moved into the cgroup after the server started
// (docs/BENCHMARKS.md, "The posting side at a function's CPU share, and
// an instance's first publish"). Run it alone: the whole test process is
// throttled.
func TestFirstPublishOverTLS(t *testing.T) {
	recipients, publishes, memories := 100, 2, []int{0}
	if os.Getenv("RTCOLLAB_FIRST_PUBLISH") != "" {
		recipients, publishes = 1000, 21
		if cpuCgroupWritable() {
			memories = []int{0, 256, 512, 1024, 1769}
		} else {
			t.Log("cgroup v1 CPU controller not writable: unthrottled runs only")
		}
	}
	url, roots := loopserver.Start(t, loopserver.Options{HTTPS: true, Delay: 20 * time.Millisecond})
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDFIRSTPUBLISH", "secret", "")}
	frame := []byte(`{"type":"update","channel":"orders","payload":{"id":"o-1","status":"shipped","note":"` + strings.Repeat("x", 200) + `"}}`)
	ids := make([]string, recipients)
	for i := range ids {
		ids[i] = fmt.Sprintf("conn-%d=", i)
	}
	for _, mem := range memories {
		// A new instance: a new client, pool and TLS session cache.
		tr := &awsrest.H1Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ClientSessionCache: tls.NewLRUClientSessionCache(64)}}
		c := mgmtapi.New(url+"/prod", cfg, &mgmtapi.Options{HTTPClient: &http.Client{Transport: tr}})
		b := broadcast.New(nil, c, broadcast.Config{})
		restore := limitCPU(t, os.Getpid(), mem)
		var times, cpus []string
		var warm, warmCPU []float64 // ms, publishes after the first
		for p := range publishes {
			cpu0 := processCPU(os.Getpid())
			start := time.Now()
			res := b.DeliverShard(context.Background(), broadcast.Shard{Frame: frame, IDs: ids})
			took := time.Since(start)
			cpu := time.Duration(processCPU(os.Getpid()) - cpu0)
			if res.Delivered != recipients {
				restore()
				t.Fatalf("%s, publish %d: %d of %d delivered (%d failed)", memLabel(mem), p, res.Delivered, recipients, res.Failed)
			}
			times = append(times, took.Round(time.Millisecond).String())
			if p > 0 {
				warm = append(warm, float64(took)/float64(time.Millisecond))
				warmCPU = append(warmCPU, float64(cpu)/float64(time.Millisecond))
			}
			cpus = append(cpus, cpu.Round(time.Millisecond).String())
		}
		restore()
		tr.CloseIdleConnections()
		t.Logf("%-6s fan-out %d, publishes from the first: all answered after %s; client CPU %s",
			memLabel(mem), recipients, strings.Join(times, ", "), strings.Join(cpus, ", "))
		t.Logf("%-6s first publish %s; the %d after it: median %.1f ms, slowest %.1f ms, median client CPU %.1f ms",
			memLabel(mem), times[0], len(warm), median(warm), slices.Max(warm), median(warmCPU))
	}
}
