package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/omnisales/rtcollab/internal/awsrest"
)

// fromEnv is the $connect function's cold start (functions/connect): the
// token settings and the AWS configuration read through getenv, then the
// authenticator.
func fromEnv(ctx context.Context, getenv func(string) string) (*TokenAuth, error) {
	ts, err := TokenSettingsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	cfg, err := awsrest.FromEnv(getenv, true)
	if err != nil {
		return nil, err
	}
	return NewTokenAuth(ctx, ts, &TokenOptions{AWS: cfg})
}

// TestTokenAuthFromEnvSSM is the $connect cold start of a deployed
// function: the HS256 secret is a SecureString parameter read from SSM
// (moto's, named by AWS_ENDPOINT_URL_SSM) with the credentials in the
// environment, and tokens signed with it are accepted.
func TestTokenAuthFromEnvSSM(t *testing.T) {
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT") // moto's server serves SSM too
	if ep == "" {
		t.Skip("DYNAMODB_TEST_ENDPOINT is not set (make test starts moto)")
	}
	ctx := context.Background()
	name := fmt.Sprintf("/rtcollab/app-test/%d/jwt", time.Now().UnixNano())
	c := awsrest.New(awsrest.SSMService, aws.Config{Region: "eu-west-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", "")}, nil)
	put, _ := json.Marshal(map[string]any{"Name": name, "Value": secret32, "Type": "SecureString"})
	if _, _, err := c.Do(ctx, awsrest.Request{Method: http.MethodPost, URL: ep + "/", Body: put, Header: http.Header{
		"Content-Type": {"application/x-amz-json-1.1"}, "X-Amz-Target": {"AmazonSSM.PutParameter"},
	}}); err != nil {
		t.Fatalf("PutParameter: %v", err)
	}
	env := map[string]string{
		"JWT_SECRET_PARAMETER": name, "AWS_ENDPOINT_URL_SSM": ep,
		"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_REGION": "eu-west-1",
	}
	a, err := fromEnv(ctx, envMap(env))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := SignHS256([]byte(secret32), map[string]any{"sub": "u1", "tenant": "t1", "exp": time.Now().Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	id, err := a.Authenticate(ctx, events.APIGatewayWebsocketProxyRequest{QueryStringParameters: map[string]string{"token": tok}})
	if err != nil || id.UserID != "u1" {
		t.Fatalf("Authenticate = %+v, %v", id, err)
	}

	env["JWT_SECRET_PARAMETER"] = name + "-missing"
	if _, err := fromEnv(ctx, envMap(env)); err == nil {
		t.Fatal("a missing parameter: no error")
	}
	delete(env, "AWS_ACCESS_KEY_ID")
	if _, err := fromEnv(ctx, envMap(env)); err == nil {
		t.Fatal("no credentials: no error")
	}
}
