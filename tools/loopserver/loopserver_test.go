package loopserver_test

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omnisales/rtcollab/tools/loopserver"
)

func TestMain(m *testing.M) { loopserver.Main(m) }

func TestStartServesBothSchemes(t *testing.T) {
	for _, https := range []bool{false, true} {
		url, roots := loopserver.Start(t, loopserver.Options{HTTPS: https, Delay: 20 * time.Millisecond})
		if https != strings.HasPrefix(url, "https://127.0.0.1:") || (roots == nil) == https {
			t.Fatalf("https=%v: url %q, roots %v", https, url, roots)
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
		start := time.Now()
		resp, err := client.Post(url+"/prod/@connections/abc", "application/json", strings.NewReader(`{"a":1}`))
		if took := time.Since(start); err == nil && took < 20*time.Millisecond {
			t.Fatalf("https=%v: answered after %v, before the 20 ms delay", https, took)
		}
		if err != nil {
			t.Fatalf("https=%v: %v", https, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("https=%v: status %d", https, resp.StatusCode)
		}
		// Without the server's certificate the handshake fails.
		if https {
			if _, err := http.Post(url, "text/plain", nil); err == nil {
				t.Fatal("an unknown certificate was accepted")
			}
		}
	}
}
