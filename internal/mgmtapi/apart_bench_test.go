package mgmtapi_test

import (
	"net/http"
	"testing"

	"github.com/omnisales/rtcollab/internal/awsrest"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
	"github.com/omnisales/rtcollab/tools/loopserver"
)

func TestMain(m *testing.M) { loopserver.Main(m) }

// BenchmarkSignedPostApart posts with 128 in flight, as a fan-out does,
// over real loopback connections to a server in another process
// (tools/loopserver), so that cpu-ns/op is the posting side's alone (what
// a function pays, kernel included), with none of the server's.
func BenchmarkSignedPostApart(b *testing.B) {
	url, _ := loopserver.Start(b, loopserver.Options{})
	tr := &awsrest.H1Transport{}
	b.Cleanup(tr.CloseIdleConnections)
	opts := fastOptions()
	opts.HTTPClient = &http.Client{Transport: tr}
	c := mgmtapi.New(url+"/prod", testConfig(), opts)
	postInParallel(b, c.PrepareFrame(benchFrame(256)))
}
