package dynamo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/omnisales/rtcollab/internal/store"
)

// Cancellation reasons of TransactWriteItems, as listed for
// TransactionCanceledException in the DynamoDB API reference.
const (
	reasonNone                = "None"
	reasonConditionFailed     = "ConditionalCheckFailed"
	reasonTransactionConflict = "TransactionConflict"
)

// throttleReason reports whether a TransactWriteItems cancellation reason
// means the request was throttled rather than refused.
func throttleReason(code string) bool {
	switch code {
	case "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded":
		return true
	}
	return false
}

// cancellation classifies the reasons of a cancelled transaction: the
// store sentinel it stands for, or nil when the cancellation is an error
// of its own. Only a failed condition and a conflict with another
// transaction are failed conditions (the caller re-reads the items and
// decides); throttling is ErrUnavailable; any other reason
// (ValidationError, ItemCollectionSizeLimitExceeded, one this code does
// not know, or no reason at all) is an error, which a retry would only
// repeat. An error reason wins over throttling, and both over failed
// conditions, whatever their order.
func cancellation(reasons []types.CancellationReason) error {
	var throttled, conditional bool
	for _, r := range reasons {
		code := aws.ToString(r.Code)
		switch {
		case code == reasonNone:
		case code == reasonConditionFailed, code == reasonTransactionConflict:
			conditional = true
		case throttleReason(code):
			throttled = true
		default:
			return nil
		}
	}
	switch {
	case throttled:
		return store.ErrUnavailable
	case conditional:
		return store.ErrConditionFailed
	}
	return nil
}

// unavailableCode reports whether an API error code means "throttled or
// failed on the server side". The SDK's retryer has already retried such
// errors when they reach the store.
func unavailableCode(code string) bool {
	switch code {
	case "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
		"RequestLimitExceeded", "InternalServerError", "ServiceUnavailable",
		"TransactionInProgressException", "LimitExceededException",
		// A single-item write on an item a transaction holds; worth
		// another try later (the SDK's standard retryer does not retry it).
		"TransactionConflictException":
		return true
	}
	return false
}

// mapErr wraps err from the SDK with the operation and key, and with the
// store sentinel it stands for:
//
//   - a failed condition, or a transaction cancelled for failed conditions
//     or conflicts only: store.ErrConditionFailed (the caller re-reads to
//     decide what it meant);
//   - a transaction cancelled for another reason (ValidationError, ...):
//     an error with the reasons, and no sentinel;
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
		if sentinel := cancellation(tce.CancellationReasons); sentinel != nil {
			return fmt.Errorf("dynamo: %s %q: %w: %w", op, key, sentinel, err)
		}
		return fmt.Errorf("dynamo: %s %q: transaction cancelled (%s): %w", op, key, reasonCodes(tce.CancellationReasons), err)
	case unavailable(err):
		return fmt.Errorf("dynamo: %s %q: %w: %w", op, key, store.ErrUnavailable, err)
	}
	return fmt.Errorf("dynamo: %s %q: %w", op, key, err)
}

// reasonCodes lists the codes of reasons for an error message, "None"
// for entries without one.
func reasonCodes(reasons []types.CancellationReason) string {
	codes := make([]string, len(reasons))
	for i, r := range reasons {
		codes[i] = aws.ToString(r.Code)
		if codes[i] == "" {
			codes[i] = reasonNone
		}
	}
	return strings.Join(codes, ", ")
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
