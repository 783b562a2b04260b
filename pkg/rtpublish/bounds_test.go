package rtpublish

import (
	"testing"

	"github.com/omnisales/rtcollab/internal/protocol"
	"github.com/omnisales/rtcollab/internal/publishapi"
)

// TestBoundsAreTheAPIs: the bounds the client refuses calls by are the
// API's own, which this package does not import.
func TestBoundsAreTheAPIs(t *testing.T) {
	if MaxFrameBytes != protocol.MaxClientFrameBytes || maxBodyBytes != publishapi.MaxBodyBytes {
		t.Fatalf("MaxFrameBytes %d, maxBodyBytes %d; the API's are %d and %d", MaxFrameBytes, maxBodyBytes, protocol.MaxClientFrameBytes, publishapi.MaxBodyBytes)
	}
}
