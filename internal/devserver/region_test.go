package devserver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/gateway"
	"github.com/omnisales/rtcollab/internal/mgmtapi"
)

// TestRegion: the local gateway takes the settings' region (AWS_REGION)
// as its API's: a Management API call signed for another region is
// refused, and the server's own client, posting over HTTP, signs for it
// (a publish reaches a subscriber).
func TestRegion(t *testing.T) {
	srv := startForPosters(t, Options{Settings: app.Settings{Region: "eu-west-1"}, ManagementHTTP: true})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	creds := credentials.NewStaticCredentialsProvider(gateway.LocalAccessKeyID, gateway.LocalSecretAccessKey, "")
	for region, wantErr := range map[string]string{"eu-west-1": "GoneException", "us-east-1": "Credential should be scoped to a valid region, not 'us-east-1'."} {
		c := mgmtapi.New(srv.Endpoint(), aws.Config{Region: region, Credentials: creds}, &mgmtapi.Options{MaxAttempts: 1})
		if _, err := c.GetConnection(ctx, "R1kmxc2VNjMCFIA="); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("GetConnection signed for %s = %v, want %q", region, err, wantErr)
		}
	}

	listener, publisher := dialDev(ctx, t, srv, "lena"), dialDev(ctx, t, srv, "rey")
	exchangeAck(ctx, t, listener, `{"type":"subscribe","channel":"order-updates","messageId":"sub-1"}`)
	exchangeAck(ctx, t, publisher, `{"type":"publish","channel":"order-updates","payload":{"n":1},"messageId":"pub-1"}`)
	readUpdate(ctx, t, listener, "pub-1", "posted over HTTP signed for eu-west-1")
}
