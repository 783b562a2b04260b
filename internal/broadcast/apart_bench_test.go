package broadcast_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/broadcast"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/tools/benchcpu"
	"github.com/omnisales/rtcollab/tools/loopserver"
)

func TestMain(m *testing.M) { loopserver.Main(m) }

// BenchmarkDeliverApart is one publish to 1,000 recipients through the
// functions' posting loop (DeliverShard, DefaultConcurrency in flight)
// and the real Management API client, over loopback to a server in
// another process that answers each post after 20 ms (tools/loopserver),
// so that cpu-ns/op is the posting side's CPU per publish alone.
func BenchmarkDeliverApart(b *testing.B) {
	url, _ := loopserver.Start(b, loopserver.Options{Delay: 20 * time.Millisecond})
	tr := &awsrest.H1Transport{}
	b.Cleanup(tr.CloseIdleConnections)
	cfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AKIDDELIVERAPART", "secret", "")}
	bc := broadcast.New(nil, mgmtapi.New(url+"/prod", cfg, &mgmtapi.Options{HTTPClient: &http.Client{Transport: tr}}), broadcast.Config{})
	shard := broadcast.Shard{Frame: []byte(`{"type":"update","channel":"orders","payload":{"id":"o-1","status":"shipped"}}`)}
	for i := range 1000 {
		shard.IDs = append(shard.IDs, "R1kmxc2VNjMCF"+strconv.Itoa(i)+"=")
	}
	ctx := context.Background()
	deliver := func() {
		if res := bc.DeliverShard(ctx, shard); res.Delivered != len(shard.IDs) {
			b.Fatalf("%d of %d delivered (%d failed)", res.Delivered, len(shard.IDs), res.Failed)
		}
	}
	deliver() // opens the pool's connections
	b.ReportAllocs()
	stop := benchcpu.Start(b)
	for b.Loop() {
		deliver()
	}
	stop()
}
