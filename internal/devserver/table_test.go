package devserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
)

// The local server against a table in AWS: TABLE_NAME without
// DYNAMODB_ENDPOINT. moto stands in for the regional endpoint, reached
// through the AWS configuration's BaseEndpoint as the SDK would reach AWS,
// so that the settings hold no DynamoDB endpoint.

// motoAsAWS returns moto's endpoint and an AWS configuration that reaches
// it as the regional endpoint; it skips the test without moto.
func motoAsAWS(t *testing.T) (string, *aws.Config) {
	t.Helper()
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT is not set: run with scripts/with-moto.sh")
	}
	return ep, &aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(ep),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
}

func uniqueTable(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), time.Now().UnixNano())
}

func quietStart(t *testing.T, s app.Settings, ao *app.Options) (*Server, error) {
	t.Helper()
	s.DevIdentity = true
	srv, err := Start(context.Background(), Options{Addr: "127.0.0.1:0", Settings: s, App: ao,
		SweepInterval: -1, ChangeFeedInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Cleanup(func() { _ = srv.Close(context.Background()) })
	}
	return srv, err
}

// TestStartInAWSRefusesAMissingTable: a mistyped TABLE_NAME against AWS
// stops the server with an error naming the table; no table is created
// (one would be billed, and the server would run on an empty table).
func TestStartInAWSRefusesAMissingTable(t *testing.T) {
	ep, awsCfg := motoAsAWS(t)
	table := uniqueTable("devserver-missing")
	_, err := quietStart(t, app.Settings{TableName: table, Region: "us-east-1"}, &app.Options{AWS: awsCfg})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", table)) || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("Start against AWS with a missing table: %v; want an error naming %q that says it does not exist", err, table)
	}
	client, err := dynamo.NewClient(context.Background(), ep, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	var notFound *types.ResourceNotFoundException
	if _, err := client.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)}); !errors.As(err, &notFound) {
		t.Errorf("DescribeTable(%q) after Start: %v; want ResourceNotFoundException (the server created the table)", table, err)
	}
}

// TestStartInAWSCreatesNothing: against an existing table in AWS the
// server starts without calling CreateTable or UpdateTimeToLive, which a
// role for the table's items need not be granted.
func TestStartInAWSCreatesNothing(t *testing.T) {
	ep, awsCfg := motoAsAWS(t)
	table := uniqueTable("devserver-existing")
	client, err := dynamo.NewClient(context.Background(), ep, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamo.CreateTable(context.Background(), client, table); err != nil {
		t.Fatal(err)
	}
	var counter dynamo.Counter
	if _, err := quietStart(t, app.Settings{TableName: table, Region: "us-east-1"},
		&app.Options{AWS: awsCfg, DynamoOptions: []func(*dynamodb.Options){counter.Options()}}); err != nil {
		t.Fatalf("Start against AWS with table %q: %v", table, err)
	}
	for _, op := range []string{"CreateTable", "UpdateTimeToLive"} {
		if _, called := counter.Snapshot()[op]; called {
			t.Errorf("Start against AWS called %s; operations: %v", op, slices.Sorted(maps.Keys(counter.Snapshot())))
		}
	}
}

// TestStartCreatesTheTableAtALocalEndpoint: with DYNAMODB_ENDPOINT
// (DynamoDB Local, moto) the server creates the table it is missing.
func TestStartCreatesTheTableAtALocalEndpoint(t *testing.T) {
	ep, _ := motoAsAWS(t)
	table := uniqueTable("devserver-local")
	if _, err := quietStart(t, app.Settings{TableName: table, DynamoDBEndpoint: ep, Region: "us-east-1"}, nil); err != nil {
		t.Fatalf("Start at a local endpoint: %v", err)
	}
	client, err := dynamo.NewClient(context.Background(), ep, "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
		t.Errorf("DescribeTable(%q) after Start: %v; want the table created", table, err)
	}
}
