package dynamo

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

// TestMapErrCancellationReasons: a cancelled transaction is a failed
// condition only when its reasons are failed conditions and conflicts;
// throttling is ErrUnavailable; every other reason is an error with no
// sentinel, so that callers neither retry it as a lost race nor report it
// as a temporary failure. The exceptions are made by hand: moto cannot
// produce every reason on demand.
func TestMapErrCancellationReasons(t *testing.T) {
	tests := []struct {
		name    string
		reasons []string // "" for a reason with no code
		want    error    // nil: an error with no sentinel
	}{
		{"condition failed", []string{"ConditionalCheckFailed"}, store.ErrConditionFailed},
		{"condition failed among None", []string{"None", "ConditionalCheckFailed", "None"}, store.ErrConditionFailed},
		{"transaction conflict", []string{"None", "TransactionConflict"}, store.ErrConditionFailed},
		{"conflict and failed condition", []string{"TransactionConflict", "ConditionalCheckFailed"}, store.ErrConditionFailed},
		{"throttling error", []string{"ThrottlingError", "None"}, store.ErrUnavailable},
		{"provisioned throughput", []string{"None", "ProvisionedThroughputExceeded"}, store.ErrUnavailable},
		{"request limit", []string{"RequestLimitExceeded"}, store.ErrUnavailable},
		{"throttling beats a failed condition", []string{"ConditionalCheckFailed", "ThrottlingError"}, store.ErrUnavailable},
		{"validation error", []string{"None", "ValidationError"}, nil},
		{"validation error beats a failed condition", []string{"ConditionalCheckFailed", "ValidationError"}, nil},
		{"validation error beats throttling", []string{"ValidationError", "ThrottlingError"}, nil},
		{"item collection too large", []string{"ItemCollectionSizeLimitExceeded"}, nil},
		{"unknown reason", []string{"SomethingNew"}, nil},
		{"only None", []string{"None", "None"}, nil},
		{"a reason without a code", []string{""}, nil},
		{"no reasons", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tce := &types.TransactionCanceledException{Message: aws.String("Transaction cancelled")}
			for _, code := range tt.reasons {
				r := types.CancellationReason{}
				if code != "" {
					r.Code = aws.String(code)
				}
				tce.CancellationReasons = append(tce.CancellationReasons, r)
			}
			err := mapErr("put session", "acme/u/c", tce)
			if !errors.Is(err, tce) {
				t.Errorf("%v does not wrap the SDK error", err)
			}
			for _, sentinel := range []error{store.ErrConditionFailed, store.ErrUnavailable} {
				if got, want := errors.Is(err, sentinel), sentinel == tt.want; got != want {
					t.Errorf("errors.Is(%v, %v) = %v, want %v", err, sentinel, got, want)
				}
			}
			if tt.want == nil && len(tt.reasons) > 0 && !strings.Contains(err.Error(), tt.reasons[len(tt.reasons)-1]) && tt.reasons[len(tt.reasons)-1] != "" {
				t.Errorf("%q does not name the reasons", err)
			}
		})
	}
}

// TestMapErrSingleItemConflict: a single-item write refused because a
// transaction holds the item (TransactionConflictException, which the
// SDK's standard retryer does not retry) is ErrUnavailable, a temporary
// failure, not an error with no sentinel (INTERNAL to a client).
func TestMapErrSingleItemConflict(t *testing.T) {
	err := mapErr("clear away", "c1", &types.TransactionConflictException{Message: aws.String("ongoing transaction")})
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("mapErr(TransactionConflictException) = %v, want ErrUnavailable", err)
	}
}
