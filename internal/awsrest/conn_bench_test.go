package awsrest

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"testing"

	"github.com/omnisales/rtcollab/tools/benchcpu"
	"github.com/omnisales/rtcollab/tools/loopserver"
)

func TestMain(m *testing.M) { loopserver.Main(m) }

// BenchmarkNewConnectionApart is the first post of a connection: the
// connection is opened (with a TLS handshake for https), one 256-byte
// POST is answered, and the connection closed, from 32 goroutines, to a
// server in another process (tools/loopserver), so that cpu-ns/op is the
// client's alone. It is what the first large broadcast of a new function
// instance pays per post, as every post in flight opens a connection of
// its own. The TLS session cache is shared, as within one instance, so
// most handshakes resume a session. curves=x25519 leaves out the hybrid
// post-quantum key exchange (X25519MLKEM768) that Go offers first by
// default, to show its share; the transport keeps Go's default.
func BenchmarkNewConnectionApart(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 256)
	for _, c := range []struct {
		name   string
		https  bool
		curves []tls.CurveID
	}{
		{"scheme=http", false, nil},
		{"scheme=https/curves=default", true, nil},
		{"scheme=https/curves=x25519", true, []tls.CurveID{tls.X25519}},
	} {
		b.Run(c.name, func(b *testing.B) {
			url, roots := loopserver.Start(b, loopserver.Options{HTTPS: c.https})
			conf := &tls.Config{RootCAs: roots, ClientSessionCache: tls.NewLRUClientSessionCache(64), CurvePreferences: c.curves}
			b.SetParallelism(16)
			b.ReportAllocs()
			stop := benchcpu.Start(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					tr := &H1Transport{TLSClientConfig: conf}
					req, err := http.NewRequest(http.MethodPost, url+"/prod/@connections/abc", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					resp, err := tr.RoundTrip(req)
					if err != nil {
						b.Error(err)
						return
					}
					_ = resp.Body.Close()
					tr.CloseIdleConnections()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
			stop()
		})
	}
}
