package deploy

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/store/dynamo"
)

// oneUser authenticates every connection as the same user, so that the
// third $connect meets the per-user connection limit.
type oneUser struct{}

func (oneUser) Authenticate(context.Context, events.APIGatewayWebsocketProxyRequest) (auth.Identity, error) {
	return auth.Identity{UserID: "alice", Username: "alice", Tenant: "acme"}, nil
}

// TestConnectFunctionMayCallTheTableAsItsCodeDoes runs $connect on
// DynamoDB (moto) for a user at MAX_CONNECTIONS_PER_USER, records every
// DynamoDB operation the code sends, and checks that ConnectFunction's
// role is granted each of them (moto, like the local server, does not
// enforce IAM; AWS answers AccessDeniedException).
// TestConnectFunctionTableGrants runs $connect on moto through the real
// DynamoDB store up to and past the per-user connection limit (where the
// store reads the counted connections with BatchGetItem and probes them),
// records every DynamoDB operation it sends, and requires each to be
// granted to ConnectFunction's role in the template: moto does not check
// IAM, AWS answers AccessDeniedException and $connect a 500.
func TestConnectFunctionTableGrants(t *testing.T) {
	ep := os.Getenv("DYNAMODB_TEST_ENDPOINT")
	if ep == "" {
		t.Skip("needs scripts/with-moto.sh")
	}
	mgmt := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"connectedAt":"2024-01-01T00:00:00Z","lastActiveAt":"2024-01-01T00:00:00Z"}`))
	}))
	defer mgmt.Close()
	ctx := context.Background()
	var counter dynamo.Counter
	awsCfg := aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
	s := app.Settings{TableName: fmt.Sprintf("connect-iam-%d", os.Getpid()), DynamoDBEndpoint: ep, Region: "us-east-1",
		ManagementEndpoint: mgmt.URL + "/iam-test", MaxConnectionsPerUser: 2, LogLevel: "error"}
	b, err := app.Build(ctx, s, &app.Options{Auth: oneUser{}, AWS: &awsCfg, CreateTable: true,
		DynamoOptions: []func(*dynamodb.Options){counter.Options()}, Metrics: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	counter.Reset()
	var statuses []int
	for i := 1; i <= 3; i++ {
		req := events.APIGatewayWebsocketProxyRequest{RequestContext: events.APIGatewayWebsocketProxyRequestContext{
			ConnectionID: fmt.Sprintf("conn%d=", i), RouteKey: "$connect", EventType: "CONNECT", Stage: "iam-test"}}
		resp, _ := b.Handler.Connect(ctx, req)
		statuses = append(statuses, resp.StatusCode)
	}
	if fmt.Sprint(statuses) != "[200 200 429]" {
		t.Fatalf("$connect statuses %v, want [200 200 429] (the third at the limit of 2, its two connections alive)", statuses)
	}
	used := []string{}
	for op := range counter.Snapshot() {
		used = append(used, "dynamodb:"+op)
	}
	sort.Strings(used)
	grants := collectGrants(t, loadTemplate(t, bothBranches[0], map[string]any{"StageName": "iam-test"}))
	for _, a := range used {
		ok := false
		for _, g := range grants {
			if strings.HasPrefix(g.where, "ConnectFunction ") && anyActionMatches(g.actions, a) {
				ok = true
			}
		}
		if !ok {
			t.Errorf("$connect's code calls %s, which ConnectFunction's role is not granted (AWS: AccessDeniedException)", a)
		}
	}
	t.Logf("operations sent: %v", used)
}

// TestTableGrantsCoverTheStore: every function granted the table may call
// each DynamoDB operation the store's code sends (read from
// internal/store/dynamo: the client calls, and ConditionCheckItem for the
// condition checks of transactions), since any of its paths may reach
// any of them; moto does not check IAM, so a missing grant shows only in
// AWS.
func TestTableGrantsCoverTheStore(t *testing.T) {
	ops := map[string]bool{}
	call := regexp.MustCompile(`\bs\.client\.([A-Z][A-Za-z]+)\(`)
	files, err := filepath.Glob(filepath.Join(repoRoot, "internal", "store", "dynamo", "*.go"))
	if err != nil || len(files) == 0 {
		t.Fatalf("store files: %v", err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(b), -1) {
			if m[1] != "Do" { // the serial client's raw HTTP call
				ops["dynamodb:"+m[1]] = true
			}
		}
		if strings.Contains(string(b), "ConditionCheck:") {
			ops["dynamodb:ConditionCheckItem"] = true
		}
	}
	if !ops["dynamodb:TransactWriteItems"] || !ops["dynamodb:Query"] {
		t.Fatalf("read %v from the store's code; expected its transactions and queries among them", ops)
	}
	grants := collectGrants(t, loadTemplate(t, bothBranches[0], nil))
	users := map[string]bool{}
	for _, g := range grants {
		if slices.Contains(g.resources, "${Table.Arn}") {
			users[strings.SplitN(g.where, " ", 2)[0]] = true
		}
	}
	if len(users) < 5 {
		t.Fatalf("only %v are granted the table", users)
	}
	for fn := range users {
		for op := range ops {
			ok := false
			for _, g := range grants {
				if strings.HasPrefix(g.where, fn+" ") && slices.Contains(g.resources, "${Table.Arn}") && anyActionMatches(g.actions, op) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s is granted the table but not %s, which the store sends", fn, op)
			}
		}
	}
}
