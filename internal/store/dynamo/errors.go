package dynamo

import (
	"context"
	"errors"
	"fmt"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/omnisales/rtcollab/internal/store"
)

// throttleReason reports whether a TransactWriteItems cancellation reason
// means the request was throttled rather than refused. Any other reason (a
// failed condition, a conflict with another transaction) is reported as a
// failed condition, and the caller re-reads the items to decide what
// happened.
func throttleReason(code string) bool {
	switch code {
	case "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
		return true
	}
	return false
}

// unavailableCode reports whether an API error code means "throttled or
// failed on the server side". The SDK's retryer has already retried such
// errors when they reach the store.
func unavailableCode(code string) bool {
	switch code {
	case "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
		"RequestLimitExceeded", "InternalServerError", "ServiceUnavailable",
		"TransactionInProgressException", "LimitExceededException":
		return true
	}
	return false
}

// mapErr wraps err from the SDK with the operation and key, and with the
// store sentinel it stands for:
//
//   - a failed condition or a cancelled transaction: store.ErrConditionFailed
//     (the caller re-reads to decide what it meant);
//   - throttling, a 5xx answer or a failed connection after the retryer
//     gave up: store.ErrUnavailable.
//
// Context cancellation and other errors are wrapped as they are.
func mapErr(op, key string, err error) error {
	if err == nil {
		return nil
	}
	var (
		ccf *types.ConditionalCheckFailedException
		tce *types.TransactionCanceledException
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("dynamo: %s %q: %w", op, key, err)
	case errors.As(err, &ccf):
		return fmt.Errorf("dynamo: %s %q: %w: %w", op, key, store.ErrConditionFailed, err)
	case errors.As(err, &tce):
		for _, r := range tce.CancellationReasons {
			if r.Code != nil && throttleReason(*r.Code) {
				return fmt.Errorf("dynamo: %s %q: %w: %w", op, key, store.ErrUnavailable, err)
			}
		}
		return fmt.Errorf("dynamo: %s %q: %w: %w", op, key, store.ErrConditionFailed, err)
	case unavailable(err):
		return fmt.Errorf("dynamo: %s %q: %w: %w", op, key, store.ErrUnavailable, err)
	}
	return fmt.Errorf("dynamo: %s %q: %w", op, key, err)
}

// unavailable reports whether err is throttling, a server error or a
// transport failure.
func unavailable(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) && unavailableCode(ae.ErrorCode()) {
		return true
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() >= 500 {
		return true
	}
	var se *smithyhttp.RequestSendError
	return errors.As(err, &se)
}
