package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/store"
)

const (
	// MaxAttempts bounds the SDK's standard retryer: one request is sent
	// at most this many times before its error reaches the store (and
	// becomes store.ErrUnavailable when it was throttling or a 5xx).
	MaxAttempts = 5
	// MaxBackoff caps the retryer's delay between two attempts.
	MaxBackoff = 2 * time.Second
	// localRegion is the region used with a custom endpoint when the
	// environment names none.
	localRegion = "us-east-1"
)

// NewClient returns a DynamoDB client for a local DynamoDB-compatible
// server at endpoint (moto, DynamoDB Local), with dummy credentials and
// region (us-east-1 when region is empty): see ClientFromConfig. It reads
// no environment. Tests and tools use it; the functions and the local
// server build their client with ClientFromConfig from the configuration
// they hold.
func NewClient(_ context.Context, endpoint, region string, opts ...func(*dynamodb.Options)) (*dynamodb.Client, error) {
	if endpoint == "" {
		return nil, errors.New("dynamo: NewClient needs the endpoint of a local server")
	}
	return ClientFromConfig(aws.Config{Region: region}, endpoint, opts...), nil
}

// ClientFromConfig returns a DynamoDB client for cfg with the SDK's
// standard retryer bounded to MaxAttempts and MaxBackoff.
//
// A non-empty endpoint (moto, another local server) becomes the client's
// BaseEndpoint; with it, and only with it, static dummy credentials are
// used when cfg holds none, and the region defaults to us-east-1. opts are
// applied last.
func ClientFromConfig(cfg aws.Config, endpoint string, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	if endpoint != "" {
		if cfg.Credentials == nil {
			cfg.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		}
		if cfg.Region == "" {
			cfg.Region = localRegion
		}
	}
	all := []func(*dynamodb.Options){func(o *dynamodb.Options) {
		o.Retryer = retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = MaxAttempts
			o.MaxBackoff = MaxBackoff
		})
	}}
	if endpoint != "" {
		all = append(all, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(endpoint) })
	}
	all = append(all, opts...)
	return dynamodb.NewFromConfig(cfg, all...)
}

// CreateTable creates the single table of schema.go when it is missing:
// keys pk and sk (strings), on-demand billing, and the sparse global
// secondary index store.IndexExpiry on expBucket (string) and expiresAt
// (number) projecting all attributes. It waits until the table is ACTIVE
// and then turns on TTL on expiresAt. Running it on an existing table is
// not an error.
func CreateTable(ctx context.Context, client *dynamodb.Client, table string) error {
	const op = "create table"
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(store.AttrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(store.AttrSK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(store.AttrExpBucket), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(store.AttrExpiresAt), AttributeType: types.ScalarAttributeTypeN},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(store.AttrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(store.AttrSK), KeyType: types.KeyTypeRange},
		},
		GlobalSecondaryIndexes: []types.GlobalSecondaryIndex{{
			IndexName: aws.String(store.IndexExpiry),
			KeySchema: []types.KeySchemaElement{
				{AttributeName: aws.String(store.AttrExpBucket), KeyType: types.KeyTypeHash},
				{AttributeName: aws.String(store.AttrExpiresAt), KeyType: types.KeyTypeRange},
			},
			Projection: &types.Projection{ProjectionType: types.ProjectionTypeAll},
		}},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return mapErr(op, table, err)
	}
	waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = time.Second
		o.MaxDelay = 5 * time.Second
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)}, 5*time.Minute); err != nil {
		return fmt.Errorf("dynamo: %s %q: wait until active: %w", op, table, err)
	}
	ttl, err := client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(table)})
	if err != nil {
		return mapErr(op, table, err)
	}
	if d := ttl.TimeToLiveDescription; d != nil && aws.ToString(d.AttributeName) == store.AttrExpiresAt &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	_, err = client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName: aws.String(table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{
			AttributeName: aws.String(store.AttrExpiresAt),
			Enabled:       aws.Bool(true),
		},
	})
	if err != nil {
		return mapErr(op, table, err)
	}
	return nil
}

// ErrTableMissing means DynamoDB has no table of the name asked for in
// the client's region (CheckTable).
var ErrTableMissing = errors.New("does not exist")

// CheckTable reads the description of table (dynamodb:DescribeTable, and
// nothing else) to learn that it exists: nil when it does, an error
// wrapping ErrTableMissing that names the table and the client's region when
// DynamoDB answers ResourceNotFoundException, the call's error otherwise.
// Unlike CreateTable it creates and changes nothing.
func CheckTable(ctx context.Context, client *dynamodb.Client, table string) error {
	const op = "describe table"
	_, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	var notFound *types.ResourceNotFoundException
	if errors.As(err, &notFound) {
		return fmt.Errorf("dynamo: table %q %w in region %s", table, ErrTableMissing, client.Options().Region)
	}
	return mapErr(op, table, err)
}
