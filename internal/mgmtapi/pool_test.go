package mgmtapi_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/omnisales/rtcollab/internal/mgmtapi"
)

func TestEndpointFromEvent(t *testing.T) {
	tests := []struct {
		domain, stage, want string
	}{
		{"dl7ptocha9.execute-api.ap-northeast-1.amazonaws.com", "prod", "https://dl7ptocha9.execute-api.ap-northeast-1.amazonaws.com/prod"},
		{"localhost", "ws", "http://localhost/ws"},
		{"localhost:3001", "ws", "http://localhost:3001/ws"},
		{"127.0.0.1:3001", "ws", "http://127.0.0.1:3001/ws"},
		{"127.0.0.1", "ws", "http://127.0.0.1/ws"},
		{"[::1]:3001", "ws", "http://[::1]:3001/ws"},
		{"localhost.example.com", "ws", "https://localhost.example.com/ws"},
		{"api.example.com", "", "https://api.example.com"},
		{"api.example.com", "/v1/", "https://api.example.com/v1"},
	}
	for _, tt := range tests {
		t.Run(tt.domain+"/"+tt.stage, func(t *testing.T) {
			if got := mgmtapi.EndpointFromEvent(tt.domain, tt.stage); got != tt.want {
				t.Errorf("EndpointFromEvent(%q, %q) = %q, want %q", tt.domain, tt.stage, got, tt.want)
			}
		})
	}
}

// TestEndpointForAPI: an event that arrived through a custom domain name
// gets the API's execute-api host, where the Management API is served; an
// event of the execute-api host or the local gateway keeps its domain.
func TestEndpointForAPI(t *testing.T) {
	tests := []struct {
		name                               string
		domain, apiID, stage, region, want string
	}{
		{"execute-api event", "dl7ptocha9.execute-api.ap-northeast-1.amazonaws.com", "dl7ptocha9", "prod", "ap-northeast-1",
			"https://dl7ptocha9.execute-api.ap-northeast-1.amazonaws.com/prod"},
		{"custom domain event", "ws.example.com", "dl7ptocha9", "prod", "eu-west-1",
			"https://dl7ptocha9.execute-api.eu-west-1.amazonaws.com/prod"},
		{"custom domain in China", "ws.example.cn", "abc123", "prod", "cn-north-1",
			"https://abc123.execute-api.cn-north-1.amazonaws.com.cn/prod"},
		{"local gateway", "127.0.0.1:3001", "local", "ws", "us-east-1", "http://127.0.0.1:3001/ws"},
		{"custom domain without api id", "ws.example.com", "", "prod", "eu-west-1", "https://ws.example.com/prod"},
		{"custom domain without region", "ws.example.com", "dl7ptocha9", "prod", "", "https://ws.example.com/prod"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mgmtapi.EndpointForAPI(tt.domain, tt.apiID, tt.stage, tt.region); got != tt.want {
				t.Errorf("EndpointForAPI(%q, %q, %q, %q) = %q, want %q", tt.domain, tt.apiID, tt.stage, tt.region, got, tt.want)
			}
		})
	}
}

func TestPool(t *testing.T) {
	tests := []struct {
		name     string
		override string
		domain   string
		want     string
	}{
		{"from event", "", "abc.execute-api.eu-west-1.amazonaws.com", "https://abc.execute-api.eu-west-1.amazonaws.com/prod"},
		{"override", "https://abc.execute-api.eu-west-1.amazonaws.com/live/", "api.example.com", "https://abc.execute-api.eu-west-1.amazonaws.com/live"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mgmtapi.NewPool(testConfig(), &mgmtapi.PoolOptions{Override: tt.override})
			first := p.ForEvent(tt.domain, "prod")
			if got := first.Endpoint(); got != tt.want {
				t.Errorf("Endpoint() = %q, want %q", got, tt.want)
			}
			var wg sync.WaitGroup
			clients := make([]*mgmtapi.Client, 32)
			for i := range clients {
				wg.Go(func() { clients[i] = p.ForEvent(tt.domain, "prod") })
			}
			wg.Wait()
			for i, c := range clients {
				if c != first {
					t.Fatalf("client %d is a new Client, want the cached one", i)
				}
			}
		})
	}
}

func TestPoolSeparatesEndpoints(t *testing.T) {
	p := mgmtapi.NewPool(testConfig(), nil)
	seen := map[*mgmtapi.Client]string{}
	for i := range 3 {
		ep := fmt.Sprintf("https://api%d.execute-api.eu-west-1.amazonaws.com/prod", i)
		c := p.Client(ep)
		if prev, dup := seen[c]; dup {
			t.Fatalf("endpoints %q and %q share a Client", prev, ep)
		}
		seen[c] = ep
		if p.Client(ep+"/") != c {
			t.Errorf("a trailing slash gave %q a second Client", ep)
		}
	}
}
