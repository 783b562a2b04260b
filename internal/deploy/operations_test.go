package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/metrics"
)

// These checks evaluate the template's conditions for given parameters, as
// CloudFormation would (branch evaluated), and check what a deploy with
// those parameters creates.

// apiGatewayIntegrationLimit is the longest API Gateway waits for an
// integration (29 s).
const apiGatewayIntegrationLimit = 29

func TestAccessLogsOnlyWithTheAccountsLoggingRole(t *testing.T) {
	tests := []struct {
		name       string
		params     map[string]any
		accessLogs bool
		createRole bool
	}{
		// A fresh account has no CloudWatch Logs role: a stage with access
		// logs would fail to create and roll the first deploy back.
		{"defaults", nil, false, false},
		{"account role exists", map[string]any{"ApiGatewayAccountHasLoggingRole": "true"}, true, false},
		{"role created", map[string]any{"CreateApiGatewayLoggingRole": "true"}, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, raw := loadTemplateRaw(t, evaluated, tt.params)
			api := websocketAPI(t, tpl)
			stage := onlyStage(t, tpl, api)
			st := tpl.GetAllApiGatewayV2StageResources()[stage]
			if got := st.AccessLogSettings != nil && str(st.AccessLogSettings.DestinationArn) != ""; got != tt.accessLogs {
				t.Errorf("stage access logs on = %v, want %v (AccessLogSettings %+v)", got, tt.accessLogs, st.AccessLogSettings)
			}
			if tt.accessLogs {
				dest := str(st.AccessLogSettings.DestinationArn)
				group := strings.TrimSuffix(strings.TrimPrefix(dest, "${"), ".Arn}")
				if _, ok := tpl.GetAllLogsLogGroupResources()[group]; !ok {
					t.Errorf("access logs go to %q, not to a log group of this stack", dest)
				}
				if st.AccessLogSettings.Format == nil || !strings.Contains(*st.AccessLogSettings.Format, "$context.requestId") {
					t.Error("access log format lacks $context.requestId, which API Gateway requires")
				}
			}

			accounts := tpl.GetAllApiGatewayAccountResources()
			if (len(accounts) == 1) != tt.createRole || len(accounts) > 1 {
				t.Fatalf("%d AWS::ApiGateway::Account resources, want %d", len(accounts), map[bool]int{true: 1}[tt.createRole])
			}
			for id, acc := range accounts {
				role := strings.TrimSuffix(strings.TrimPrefix(str(acc.CloudWatchRoleArn), "${"), ".Arn}")
				r, ok := tpl.GetAllIAMRoleResources()[role]
				if !ok {
					t.Fatalf("%s: CloudWatchRoleArn %q is not a role of this stack", id, str(acc.CloudWatchRoleArn))
				}
				if r.AWSCloudFormationDeletionPolicy != "Retain" {
					t.Errorf("role %s: DeletionPolicy %q, want Retain (the account setting outlives the stack)", role, r.AWSCloudFormationDeletionPolicy)
				}
				// The stage must come after the account setting, or its
				// access logs fail for want of the role.
				if !dependsOn(t, raw, stage, id) {
					t.Errorf("stage %s does not wait for %s (DependsOn or a reference)", stage, id)
				}
				// IAM propagation: the setting waits for more than the role.
				deps := rawDependsOn(raw, id)
				if len(deps) < 2 {
					t.Errorf("%s depends on %q only; want it to wait for resources created after the role as well", id, deps)
				}
			}
		})
	}
}

func TestStageRedeploysWhenRoutesChange(t *testing.T) {
	for _, b := range bothBranches {
		t.Run(b.String(), func(t *testing.T) {
			tpl, raw := loadTemplateRaw(t, b, nil)
			api := websocketAPI(t, tpl)
			stage := onlyStage(t, tpl, api)
			st := tpl.GetAllApiGatewayV2StageResources()[stage]
			// A Deployment resource is created once; CloudFormation never
			// creates it again when a route changes, so the stage would keep
			// serving the first routes. AutoDeploy deploys every change.
			if st.AutoDeploy == nil || !*st.AutoDeploy {
				t.Errorf("stage %s: AutoDeploy is not true", stage)
			}
			if st.DeploymentId != nil {
				t.Errorf("stage %s pins DeploymentId %q: changed routes would not reach it", stage, *st.DeploymentId)
			}
			if d := tpl.GetAllApiGatewayV2DeploymentResources(); len(d) != 0 {
				t.Errorf("AWS::ApiGatewayV2::Deployment resources %q: a fixed deployment is never recreated; use the stage's AutoDeploy", sortedKeys(d))
			}
			// The first automatic deployment holds every route.
			for id, r := range tpl.GetAllApiGatewayV2RouteResources() {
				if r.ApiId == ref(api) && !dependsOn(t, raw, stage, id) {
					t.Errorf("stage %s does not wait for route %s", stage, id)
				}
			}
			for id, r := range tpl.GetAllApiGatewayV2RouteResponseResources() {
				if r.ApiId == ref(api) && !dependsOn(t, raw, stage, id) {
					t.Errorf("stage %s does not wait for route response %s", stage, id)
				}
			}
		})
	}
}

func TestManagementEndpointIsTheExecuteAPIHost(t *testing.T) {
	const stageParam = "mgmt-test"
	tests := []struct {
		name     string
		params   map[string]any
		domain   string
		basePath string
	}{
		{"execute-api host", map[string]any{"StageName": stageParam}, "", ""},
		{"custom domain", map[string]any{
			"StageName":                  stageParam,
			"CustomDomainName":           "ws.example.com",
			"CustomDomainCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000",
		}, "ws.example.com", ""},
		{"custom domain with a base path", map[string]any{
			"StageName":                  stageParam,
			"CustomDomainName":           "ws.example.com",
			"CustomDomainCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000",
			"CustomDomainBasePath":       "v1",
		}, "ws.example.com", "v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, raw := loadTemplateRaw(t, evaluated, tt.params)
			api := websocketAPI(t, tpl)
			stage := onlyStage(t, tpl, api)
			want := fmt.Sprintf("https://%s.execute-api.${AWS::Region}.${AWS::URLSuffix}/%s", ref(api), stageParam)
			for _, id := range sortedKeys(tpl.GetAllServerlessFunctionResources()) {
				s, err := app.SettingsFromEnv(getenv(environment(t, tpl, id)))
				if err != nil {
					t.Fatalf("%s: %v", id, err)
				}
				if s.ManagementEndpoint != want {
					t.Errorf("%s: MANAGEMENT_ENDPOINT %q, want %q (the Management API is at the execute-api host, not at the custom domain)", id, s.ManagementEndpoint, want)
				}
			}

			domains := tpl.GetAllApiGatewayV2DomainNameResources()
			mappings := tpl.GetAllApiGatewayV2ApiMappingResources()
			if tt.domain == "" {
				if len(domains) != 0 || len(mappings) != 0 {
					t.Errorf("no custom domain asked for, but domains %q and mappings %q exist", sortedKeys(domains), sortedKeys(mappings))
				}
				if got := output(raw, "WebSocketURL"); got != fmt.Sprintf("wss://%s.execute-api.${AWS::Region}.${AWS::URLSuffix}/%s", ref(api), stageParam) {
					t.Errorf("WebSocketURL output %q", got)
				}
				return
			}
			if len(domains) != 1 || len(mappings) != 1 {
				t.Fatalf("domains %q, mappings %q: want one of each", sortedKeys(domains), sortedKeys(mappings))
			}
			for id, d := range domains {
				if d.DomainName != tt.domain {
					t.Errorf("%s: DomainName %q, want %q", id, d.DomainName, tt.domain)
				}
				if len(d.DomainNameConfigurations) != 1 {
					t.Fatalf("%s: %d domain name configurations, want 1", id, len(d.DomainNameConfigurations))
				}
				c := d.DomainNameConfigurations[0]
				if str(c.EndpointType) != "REGIONAL" || str(c.SecurityPolicy) != "TLS_1_2" || str(c.CertificateArn) != tt.params["CustomDomainCertificateArn"] {
					t.Errorf("%s: configuration %+v, want REGIONAL, TLS_1_2 and the certificate parameter (WebSocket APIs take nothing else)", id, c)
				}
				for mid, m := range mappings {
					if m.ApiId != ref(api) || m.DomainName != ref(id) || m.Stage != ref(stage) || str(m.ApiMappingKey) != tt.basePath {
						t.Errorf("%s: maps %s %q %s key %q, want %s %s %s key %q", mid, m.ApiId, m.DomainName, m.Stage, str(m.ApiMappingKey),
							ref(api), ref(id), ref(stage), tt.basePath)
					}
				}
			}
			wantURL := "wss://" + tt.domain
			if tt.basePath != "" {
				wantURL += "/" + tt.basePath
			}
			if got := output(raw, "WebSocketURL"); got != wantURL {
				t.Errorf("WebSocketURL output %q, want %q", got, wantURL)
			}
		})
	}
}

func TestMessageFunctionAnswersBeforeAPIGatewayGivesUp(t *testing.T) {
	tpl := loadTemplate(t, thenBranch, nil)
	globals, err := tpl.GetServerlessGlobalFunction()
	if err != nil {
		t.Fatal(err)
	}
	fn := tpl.GetAllServerlessFunctionResources()["MessageFunction"]
	if fn == nil {
		t.Fatal("no MessageFunction")
	}
	timeout := fn.Timeout
	if timeout == nil {
		timeout = globals.Timeout
	}
	// The handler stops app.MessageReplyMargin before the function's
	// deadline to answer UNAVAILABLE; the function stops before API Gateway
	// does, so that answer reaches the client.
	if timeout == nil {
		t.Fatal("MessageFunction has no Timeout (Lambda's default is 3 s)")
	}
	if *timeout >= apiGatewayIntegrationLimit {
		t.Fatalf("MessageFunction Timeout %d s, want under API Gateway's %d s", *timeout, apiGatewayIntegrationLimit)
	}
	if margin := float64(*timeout) - app.MessageReplyMargin.Seconds(); margin <= 0 {
		t.Errorf("MessageFunction Timeout %d s leaves no time before the reply margin %s", *timeout, app.MessageReplyMargin)
	}
	for id, integ := range tpl.GetAllApiGatewayV2IntegrationResources() {
		if integratedFunction(str(integ.IntegrationUri), tpl.GetAllServerlessFunctionResources()) != "MessageFunction" {
			continue
		}
		if integ.TimeoutInMillis == nil || *integ.TimeoutInMillis <= *timeout*1000 {
			t.Errorf("%s: TimeoutInMillis %v, want more than the function's %d s", id, integ.TimeoutInMillis, *timeout)
		}
	}
}

// TestPublishFunctionsAnswerBeforeTheirDeadline: the publish functions
// give up app.PublishReplyMargin before their deadline to answer 503
// UNAVAILABLE with its code; their timeout leaves room for that, and the
// publish API's under the HTTP API's 30 s integration limit.
func TestPublishFunctionsAnswerBeforeTheirDeadline(t *testing.T) {
	tpl := loadTemplate(t, thenBranch, nil)
	globals, err := tpl.GetServerlessGlobalFunction()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"PublishFunction", "PublishEventsFunction"} {
		fn := tpl.GetAllServerlessFunctionResources()[name]
		if fn == nil {
			t.Fatalf("no %s", name)
		}
		timeout := fn.Timeout
		if timeout == nil {
			timeout = globals.Timeout
		}
		if timeout == nil || float64(*timeout) <= app.PublishReplyMargin.Seconds() {
			t.Errorf("%s Timeout %v leaves no time before the reply margin %s", name, timeout, app.PublishReplyMargin)
		} else if name == "PublishFunction" && *timeout >= 30 {
			t.Errorf("PublishFunction Timeout %d s, want under the HTTP API's 30 s", *timeout)
		}
	}
}

// TestMainsStartTheirHandlerBeforeTheDeadline: the functions whose answer
// matters when their work runs long start their handler within
// app.BeforeDeadline (or app.ReplyBeforeDeadline), so that its calls end a
// margin before the invocation's deadline and the answer is still
// delivered: the message function's UNAVAILABLE reply, the publish
// functions' 503 with its code and their released key, the sweeper's
// answer to a stream batch naming the record it stopped at (cut off by the
// deadline instead, Lambda would retry the whole batch) or its pass's
// errors and metrics, and the change feed's answer to a stream batch
// naming the record of the first event it did not put. The others start
// their handler as it is, for the reasons given with them. Every function
// of the template is listed, so that a new one is not left out unawares.
func TestMainsStartTheirHandlerBeforeTheDeadline(t *testing.T) {
	withMargin := map[string]bool{
		"MessageFunction":       true,
		"PublishFunction":       true,
		"PublishEventsFunction": true,
		"SweeperFunction":       true,
		"ChangeFeedFunction":    true,
		// A $connect cut off at its deadline fails the handshake with a
		// 5xx, as the handler's own answer to calls cut off a margin
		// earlier would (500): a browser sees neither status, only a
		// close (1006), and the client SDK retries both alike. Nor would
		// a margin undo a connection record written before the end: the
		// calls that remove it would have no time left either. Such a
		// record is removed as gone at the user's connection limit, or by
		// its TTL.
		"ConnectFunction": false,
		// API Gateway does nothing with $disconnect's answer, and the
		// client is gone. Clean-ups cut off a margin early or at the
		// deadline leave the same state, which the sweeper and the 410
		// path of broadcasts finish.
		"DisconnectFunction": false,
		// A shard is never retried (MaximumRetryAttempts 0, and the
		// handler answers without an error when posts fail), so a margin
		// would deliver to nobody more. Timed out, the shard's event
		// goes to the alarmed FanoutFailureQueue, recipients and all;
		// answered a margin early, it would only be counted in
		// FanoutDeliveryErrors.
		"FanoutFunction": false,
	}
	for fn := range loadTemplate(t, thenBranch, nil).GetAllServerlessFunctionResources() {
		if _, ok := withMargin[fn]; !ok {
			t.Errorf("%s is not listed: say whether its main starts its handler within a margin, and why", fn)
		}
	}
	for _, name := range sortedKeys(withMargin) {
		file := filepath.Join(repoRoot, functionDir(name), "main.go")
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		var started []string // what each lambda.Start call is given
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || !isSelector(call.Fun, "lambda", "Start") || len(call.Args) != 1 {
				return true
			}
			wrap, _ := call.Args[0].(*ast.CallExpr)
			switch {
			case wrap != nil && (isSelector(wrap.Fun, "app", "BeforeDeadline") || isSelector(wrap.Fun, "app", "ReplyBeforeDeadline")):
				started = append(started, "within a margin")
			default:
				started = append(started, "as it is")
			}
			return true
		})
		switch {
		case withMargin[name] && !slices.Equal(started, []string{"within a margin"}):
			t.Errorf("%s: %s starts its handler %q; want it within app.BeforeDeadline, so that it answers before its invocation is cut off",
				name, file, started)
		case !withMargin[name] && !slices.Equal(started, []string{"as it is"}):
			t.Errorf("%s: %s starts its handler %q; want one lambda.Start of the handler as it is, or this test's reasons for that updated",
				name, file, started)
		}
	}
}

// isSelector reports whether e is pkg.name.
func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	x, ok := sel.X.(*ast.Ident)
	return ok && x.Name == pkg
}

func TestFanoutIsBoundedAndKeepsItsFailures(t *testing.T) {
	for _, tt := range []struct {
		name   string
		params map[string]any
		want   int // reserved concurrency; 0 for none
	}{
		{"defaults", nil, 20},
		{"set", map[string]any{"FanoutReservedConcurrency": 7}, 7},
		{"off", map[string]any{"FanoutReservedConcurrency": 0}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tpl := loadTemplate(t, evaluated, tt.params)
			fn := tpl.GetAllServerlessFunctionResources()["FanoutFunction"]
			if fn == nil {
				t.Fatal("no FanoutFunction")
			}
			got := 0
			if fn.ReservedConcurrentExecutions != nil {
				got = *fn.ReservedConcurrentExecutions
			}
			if got != tt.want {
				t.Errorf("ReservedConcurrentExecutions %d, want %d", got, tt.want)
			}
			if tt.name != "defaults" {
				return
			}
			cfg := fn.EventInvokeConfig
			if cfg == nil || cfg.DestinationConfig == nil || cfg.DestinationConfig.OnFailure == nil {
				t.Fatal("FanoutFunction has no on-failure destination for its asynchronous events")
			}
			onFailure := cfg.DestinationConfig.OnFailure
			queue := strings.TrimSuffix(strings.TrimPrefix(onFailure.Destination, "${"), ".Arn}")
			if str(onFailure.Type) != "SQS" {
				t.Errorf("on-failure destination type %q, want SQS", str(onFailure.Type))
			}
			if _, ok := tpl.GetAllSQSQueueResources()[queue]; !ok {
				t.Fatalf("on-failure destination %q is not a queue of this stack", onFailure.Destination)
			}
			alarmed := false
			for _, a := range tpl.GetAllCloudWatchAlarmResources() {
				for _, d := range a.Dimensions {
					if str(a.Namespace) == "AWS/SQS" && d.Name == "QueueName" && d.Value == "${"+queue+".QueueName}" {
						alarmed = true
					}
				}
			}
			if !alarmed {
				t.Errorf("no alarm watches the failure queue %s", queue)
			}
		})
	}

	tpl := loadTemplate(t, thenBranch, nil)
	t.Run("throttles alarm", func(t *testing.T) {
		if !throttlesAlarmCovers(tpl, "FanoutFunction") {
			t.Error("the Lambda throttles alarm does not include FanoutFunction")
		}
	})
	t.Run("delivery errors alarm", func(t *testing.T) {
		// Every function that posts broadcasts counts the recipients it
		// could not reach; one alarm sums them all.
		covered := map[string]bool{}
		for _, a := range tpl.GetAllCloudWatchAlarmResources() {
			for _, q := range a.Metrics {
				if q.MetricStat == nil || str(q.MetricStat.Metric.Namespace) != metrics.Namespace || str(q.MetricStat.Metric.MetricName) != metrics.FanoutDeliveryErrors {
					continue
				}
				for _, d := range q.MetricStat.Metric.Dimensions {
					if d.Name == "Function" {
						covered[d.Value] = true
					}
				}
			}
		}
		for _, fn := range []string{"message", metrics.FunctionFanout, metrics.FunctionPublish, metrics.FunctionDisconnect, metrics.FunctionConnect, "sweeper"} {
			if !covered[fn] {
				t.Errorf("no alarm on %s/%s for Function=%s", metrics.Namespace, metrics.FanoutDeliveryErrors, fn)
			}
		}
	})
	t.Run("dashboard", func(t *testing.T) {
		for id, d := range tpl.GetAllCloudWatchDashboardResources() {
			body := d.DashboardBody
			for _, want := range []string{`"${FanoutFunction}", {"label": "fan-out (Lambda)"}`, `"${FanoutFunction}", {"stat": "Sum", "label": "fan-out throttles"}`,
				`"` + metrics.FanoutDeliveryErrors + `"`, `"${PublishApi}"`} {
				if !strings.Contains(body, want) {
					t.Errorf("dashboard %s lacks %s", id, want)
				}
			}
			// Every function and every dead-letter queue of the stack is on it.
			for fn := range tpl.GetAllServerlessFunctionResources() {
				if !strings.Contains(body, `"${`+fn+`}"`) {
					t.Errorf("dashboard %s does not show function %s", id, fn)
				}
			}
			for q := range tpl.GetAllSQSQueueResources() {
				if !strings.Contains(body, `"${`+q+`.QueueName}"`) {
					t.Errorf("dashboard %s does not show queue %s", id, q)
				}
			}
		}
	})
}

// throttlesAlarmCovers reports whether an alarm sums the Lambda Throttles
// metric of function fn into the expression it alarms on.
func throttlesAlarmCovers(tpl *cloudformation.Template, fn string) bool {
	for _, a := range tpl.GetAllCloudWatchAlarmResources() {
		var expr string
		ids := map[string]bool{}
		for _, m := range a.Metrics {
			if m.ReturnData != nil && *m.ReturnData {
				expr = str(m.Expression)
			}
			if m.MetricStat == nil || m.MetricStat.Metric.MetricName == nil || *m.MetricStat.Metric.MetricName != "Throttles" {
				continue
			}
			for _, d := range m.MetricStat.Metric.Dimensions {
				if d.Name == "FunctionName" && d.Value == ref(fn) {
					ids[m.Id] = true
				}
			}
		}
		for id := range ids {
			if strings.Contains(expr, "FILL("+id+",") {
				return true
			}
		}
	}
	return false
}

func TestLogGroupsExistBeforeTheFunctionsLog(t *testing.T) {
	tpl, raw := loadTemplateRaw(t, thenBranch, map[string]any{"LogRetentionDays": 14})
	groups := tpl.GetAllLogsLogGroupResources()
	used := map[string]string{}
	for _, id := range sortedKeys(tpl.GetAllServerlessFunctionResources()) {
		lc, _ := rawResource(t, raw, id)["LoggingConfig"].(map[string]any)
		group, _ := lc["LogGroup"].(string)
		gid := strings.TrimSuffix(strings.TrimPrefix(group, "${"), "}")
		g, ok := groups[gid]
		if !ok || !subVar.MatchString(group) {
			t.Errorf("%s: LoggingConfig.LogGroup %q is not a Ref to a log group of this stack", id, group)
			continue
		}
		if other, dup := used[gid]; dup {
			t.Errorf("%s and %s share log group %s", id, other, gid)
		}
		used[gid] = id
		if g.RetentionInDays == nil || *g.RetentionInDays != 14 {
			t.Errorf("%s: log group %s retention %v, want the LogRetentionDays parameter", id, gid, g.RetentionInDays)
		}
		// A group named after the function would need the function first,
		// and the function's first invocation could create it unmanaged.
		if strings.Contains(str(g.LogGroupName), ref(id)) {
			t.Errorf("%s: log group name %q refers to the function", id, str(g.LogGroupName))
		}
	}
}

func TestRulesRefuseIncompleteSettings(t *testing.T) {
	const (
		jwks   = "https://issuer.invalid/.well-known/jwks.json"
		secret = "/rtcollab/test/jwt-secret"
		cert   = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
	)
	tests := []struct {
		name   string
		params map[string]any
		refuse bool
	}{
		{"no key source", nil, true},
		{"secret only", map[string]any{"JwtSecretParameterName": secret}, false},
		// An identity provider signs every application's tokens with the
		// same keys: without an audience, another application's token
		// would connect.
		{"key set without audience", map[string]any{"JwtJwksUrl": jwks}, true},
		{"key set and secret without audience", map[string]any{"JwtJwksUrl": jwks, "JwtSecretParameterName": secret}, true},
		{"key set with audience", map[string]any{"JwtJwksUrl": jwks, "JwtAudience": "rtcollab-web"}, false},
		{"key set, any audience on purpose", map[string]any{"JwtJwksUrl": jwks, "JwtAudience": "*"}, false},
		{"both logging role settings", map[string]any{"JwtSecretParameterName": secret,
			"CreateApiGatewayLoggingRole": "true", "ApiGatewayAccountHasLoggingRole": "true"}, true},
		{"domain without certificate", map[string]any{"JwtSecretParameterName": secret, "CustomDomainName": "ws.example.com"}, true},
		{"certificate without domain", map[string]any{"JwtSecretParameterName": secret, "CustomDomainCertificateArn": cert}, true},
		{"domain and certificate", map[string]any{"JwtSecretParameterName": secret,
			"CustomDomainName": "ws.example.com", "CustomDomainCertificateArn": cert}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl, raw := loadTemplateRaw(t, evaluated, tt.params)
			failed := failedRules(t, raw)
			if got := len(failed) > 0; got != tt.refuse {
				t.Errorf("rules refusing the deploy: %q; want refused = %v", failed, tt.refuse)
			}
			// What the rules let through, the connect function accepts at
			// cold start, and the other way round for the token settings.
			ts, err := auth.TokenSettingsFromEnv(getenv(environment(t, tpl, "ConnectFunction")))
			if err != nil {
				t.Fatal(err)
			}
			if tt.params["CustomDomainName"] != nil || tt.params["CustomDomainCertificateArn"] != nil || tt.params["CreateApiGatewayLoggingRole"] != nil {
				return
			}
			if err := ts.Validate(); (err != nil) != tt.refuse {
				t.Errorf("token settings %+v: Validate() = %v, want refused = %v", ts, err, tt.refuse)
			}
		})
	}
}

// failedRules returns the names of the template's rules that refuse the
// parameters: the rule applies (no RuleCondition, or a true one) and one
// of its assertions is false. It needs the evaluated branch, where every
// rule function has become a boolean.
func failedRules(t *testing.T, raw map[string]any) []string {
	t.Helper()
	rules, _ := raw["Rules"].(map[string]any)
	var failed []string
	for _, name := range sortedKeys(rules) {
		rule, _ := rules[name].(map[string]any)
		if c, ok := rule["RuleCondition"]; ok {
			applies, isBool := c.(bool)
			if !isBool {
				t.Fatalf("rule %s: RuleCondition did not evaluate to a boolean: %v", name, c)
			}
			if !applies {
				continue
			}
		}
		assertions, _ := rule["Assertions"].([]any)
		if len(assertions) == 0 {
			t.Fatalf("rule %s has no assertions", name)
		}
		for _, a := range assertions {
			v, isBool := a.(map[string]any)["Assert"].(bool)
			if !isBool {
				t.Fatalf("rule %s: an assertion did not evaluate to a boolean: %v", name, a)
			}
			if !v {
				failed = append(failed, name)
				break
			}
		}
	}
	return failed
}

// onlyStage returns the logical id of the template's only stage of api.
func onlyStage(t *testing.T, tpl *cloudformation.Template, api string) string {
	t.Helper()
	var ids []string
	for id, st := range tpl.GetAllApiGatewayV2StageResources() {
		if st.ApiId == ref(api) {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("want one stage of %s, found %q", api, ids)
	}
	return ids[0]
}

// rawDependsOn returns the DependsOn list of resource id (a name or a
// list of them).
func rawDependsOn(raw map[string]any, id string) []string {
	resources, _ := raw["Resources"].(map[string]any)
	res, _ := resources[id].(map[string]any)
	return stringList(res["DependsOn"])
}

// dependsOn reports whether resource id is created after resource dep:
// it names dep in DependsOn, or refers to it (Ref or GetAtt) anywhere in
// its definition, Metadata included.
func dependsOn(t *testing.T, raw map[string]any, id, dep string) bool {
	t.Helper()
	if slices.Contains(rawDependsOn(raw, id), dep) {
		return true
	}
	resources, _ := raw["Resources"].(map[string]any)
	res, ok := resources[id].(map[string]any)
	if !ok {
		t.Fatalf("no resource %s", id)
	}
	return refersTo(res, dep)
}

// refersTo reports whether v holds a reference to resource dep as the
// loader renders it: "${dep}" or "${dep.Attribute}".
func refersTo(v any, dep string) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(x, "${"+dep+"}") || strings.Contains(x, "${"+dep+".")
	case []any:
		return slices.ContainsFunc(x, func(e any) bool { return refersTo(e, dep) })
	case map[string]any:
		for _, e := range x {
			if refersTo(e, dep) {
				return true
			}
		}
	}
	return false
}

// output returns the value of output name, or "".
func output(raw map[string]any, name string) string {
	outputs, _ := raw["Outputs"].(map[string]any)
	o, _ := outputs[name].(map[string]any)
	v, _ := o["Value"].(string)
	return v
}

// TestDeliveryMemorySize checks that DeliveryMemorySize sets the memory,
// and so the CPU share, of the functions that deliver broadcasts, and of
// no other function.
func TestDeliveryMemorySize(t *testing.T) {
	delivering := map[string]bool{"MessageFunction": true, "FanoutFunction": true, "PublishFunction": true, "PublishEventsFunction": true,
		"ConnectFunction": true, "DisconnectFunction": true, "SweeperFunction": true}
	for _, tt := range []struct {
		name   string
		params map[string]any
		want   int
	}{
		{"defaults", nil, 256},
		{"a full vCPU", map[string]any{"DeliveryMemorySize": 1769}, 1769},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tpl := loadTemplate(t, evaluated, tt.params)
			g, err := tpl.GetServerlessGlobalFunction()
			if err != nil || g.MemorySize == nil {
				t.Fatalf("Globals.Function: MemorySize %v, %v", g, err)
			}
			globals := *g.MemorySize
			found := 0
			for id, fn := range tpl.GetAllServerlessFunctionResources() {
				got := globals
				if fn.MemorySize != nil {
					got = *fn.MemorySize
				}
				switch {
				case delivering[id]:
					found++
					if got != tt.want {
						t.Errorf("%s: MemorySize %d, want %d", id, got, tt.want)
					}
				case got != 256:
					t.Errorf("%s: MemorySize %d, want the global 256", id, got)
				}
			}
			if found != len(delivering) {
				t.Errorf("found %d of the %d delivering functions", found, len(delivering))
			}
		})
	}
}
