package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"github.com/awslabs/goformation/v7/intrinsics"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/fanout"
	"github.com/omnisales/rtcollab/internal/store"
)

// repoRoot is the repository root as seen from this package's directory,
// where go test runs; template.yaml and the Makefile live there.
const repoRoot = "../.."

// Reading the template
//
// goformation resolves intrinsic functions while it parses, and by default
// it drops what it cannot resolve: a Ref to a resource or an attribute
// becomes nothing, so "integrations/${ConnectIntegration}" would read as
// "integrations/". The handlers below keep those references as text
// instead, in Fn::Sub syntax:
//
//   - Ref to a parameter: the parameter's default (or its override);
//   - Ref to a resource or a pseudo parameter: "${Name}";
//     AWS::NoValue: nothing;
//   - Fn::GetAtt: "${Resource.Attribute}";
//   - Fn::Sub: parameters substituted, every other ${...} kept;
//   - Fn::If: one branch, chosen by the caller, the same for every Fn::If.
//
// Checks that must hold whatever the conditions evaluate to run twice, once
// with every "then" branch and once with every "else" branch.
//
// goformation reads the template as written, SAM resources and Globals
// included; it does not run the SAM transform. The checks are therefore on
// what the template states; the roles SAM generates hold only the inline
// policies checked here plus the basic Lambda execution policy.

// branch selects the value every Fn::If resolves to: its index in the
// [condition, then, else] list.
type branch int

const (
	thenBranch branch = 1
	elseBranch branch = 2
)

func (b branch) String() string {
	if b == thenBranch {
		return "then"
	}
	return "else"
}

var bothBranches = []branch{thenBranch, elseBranch}

// subVar matches a ${Name} or ${Resource.Attribute} reference of Fn::Sub
// (not the ${!Literal} escape).
var subVar = regexp.MustCompile(`\$\{([^!}][^}]*)\}`)

// parameterValue returns the default of parameter name in the generic
// template tpl; goformation has already replaced defaults by overrides.
func parameterValue(tpl any, name string) (any, bool) {
	root, _ := tpl.(map[string]any)
	params, _ := root["Parameters"].(map[string]any)
	p, ok := params[name].(map[string]any)
	if !ok {
		return nil, false
	}
	v, ok := p["Default"]
	return v, ok
}

func refHandler(_ string, input any, tpl any) any {
	name, _ := input.(string)
	if name == "AWS::NoValue" {
		return nil
	}
	if v, ok := parameterValue(tpl, name); ok {
		return v
	}
	return "${" + name + "}"
}

func getAttHandler(_ string, input any, _ any) any {
	switch v := input.(type) {
	case string:
		return "${" + v + "}"
	case []any:
		parts := make([]string, len(v))
		for i, p := range v {
			parts[i] = fmt.Sprint(p)
		}
		return "${" + strings.Join(parts, ".") + "}"
	}
	return nil
}

func subHandler(_ string, input any, tpl any) any {
	var (
		s    string
		vars map[string]any
	)
	switch v := input.(type) {
	case string:
		s = v
	case []any:
		if len(v) != 2 {
			return nil
		}
		s, _ = v[0].(string)
		vars, _ = v[1].(map[string]any)
	default:
		return nil
	}
	return subVar.ReplaceAllStringFunc(s, func(ref string) string {
		name := ref[2 : len(ref)-1]
		if v, ok := vars[name]; ok {
			return fmt.Sprint(v)
		}
		if v, ok := parameterValue(tpl, name); ok {
			return fmt.Sprint(v)
		}
		return ref
	})
}

func ifHandler(b branch) intrinsics.IntrinsicHandler {
	return func(_ string, input any, _ any) any {
		v, ok := input.([]any)
		if !ok || len(v) != 3 {
			return nil
		}
		return v[b]
	}
}

// loadTemplate parses template.yaml with every Fn::If taken to branch b and
// the given parameter values in place of the defaults.
func loadTemplate(t *testing.T, b branch, params map[string]any) *cloudformation.Template {
	t.Helper()
	tpl, err := goformation.OpenWithOptions(filepath.Join(repoRoot, "template.yaml"), &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: map[string]intrinsics.IntrinsicHandler{
			"Ref":        refHandler,
			"Fn::GetAtt": getAttHandler,
			"Fn::Sub":    subHandler,
			"Fn::If":     ifHandler(b),
		},
		ParameterOverrides: params,
	})
	if err != nil {
		t.Fatalf("parse template.yaml (%s branches): %v", b, err)
	}
	return tpl
}

// ref is how a reference to a resource reads after loadTemplate.
func ref(logicalID string) string { return "${" + logicalID + "}" }

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// websocketAPI returns the logical id of the template's only WebSocket API.
func websocketAPI(t *testing.T, tpl *cloudformation.Template) string {
	t.Helper()
	var ids []string
	for id, api := range tpl.GetAllApiGatewayV2ApiResources() {
		if str(api.ProtocolType) == "WEBSOCKET" {
			ids = append(ids, id)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("want exactly one WEBSOCKET AWS::ApiGatewayV2::Api, found %q", ids)
	}
	return ids[0]
}

// stageName returns the name of the template's only stage of api.
func stageName(t *testing.T, tpl *cloudformation.Template, api string) string {
	t.Helper()
	var names []string
	for _, st := range tpl.GetAllApiGatewayV2StageResources() {
		if st.ApiId == ref(api) {
			names = append(names, st.StageName)
		}
	}
	if len(names) != 1 {
		t.Fatalf("want exactly one stage of %s, found %q", api, names)
	}
	return names[0]
}

// Functions and their builds

// functionDir is the convention that ties a function's logical id to its
// main package: ConnectFunction is built from functions/connect.
func functionDir(logicalID string) string {
	return path.Join("functions", strings.ToLower(strings.TrimSuffix(logicalID, "Function")))
}

func TestEveryFunctionIsBuiltFromItsMainPackage(t *testing.T) {
	tpl := loadTemplate(t, thenBranch, nil)
	globals, err := tpl.GetServerlessGlobalFunction()
	if err != nil {
		t.Fatalf("Globals.Function: %v", err)
	}
	functions := tpl.GetAllServerlessFunctionResources()
	if len(functions) == 0 {
		t.Fatal("the template declares no AWS::Serverless::Function")
	}
	makeExe, makeErr := exec.LookPath("make")

	for _, id := range sortedKeys(functions) {
		fn := functions[id]
		t.Run(id, func(t *testing.T) {
			codeURI := fn.CodeUri
			if codeURI == nil {
				codeURI = globals.CodeUri
			}
			if codeURI == nil || codeURI.String == nil {
				t.Fatal("no CodeUri (on the function or in Globals): want a local folder")
			}
			codeDir := filepath.Join(repoRoot, *codeURI.String)
			if _, err := os.Stat(filepath.Join(codeDir, "Makefile")); err != nil {
				t.Fatalf("CodeUri %q: SAM's makefile builder needs a Makefile there: %v", *codeURI.String, err)
			}
			if got := fn.AWSCloudFormationMetadata["BuildMethod"]; got != "makefile" {
				t.Errorf("Metadata.BuildMethod = %v, want makefile", got)
			}
			runtime, handler := str(fn.Runtime), str(fn.Handler)
			if runtime == "" {
				runtime = str(globals.Runtime)
			}
			if handler == "" {
				handler = str(globals.Handler)
			}
			if runtime != "provided.al2023" || handler != "bootstrap" {
				t.Errorf("Runtime %q, Handler %q: want provided.al2023 and bootstrap", runtime, handler)
			}
			arch := fn.Architectures
			if len(arch) == 0 && globals.Architectures != nil {
				arch = *globals.Architectures
			}
			if !slices.Equal(arch, []string{"arm64"}) {
				t.Errorf("Architectures = %q, want [arm64] (the make target builds GOARCH=arm64)", arch)
			}

			dir := functionDir(id)
			checkMainPackage(t, filepath.Join(repoRoot, dir))

			// Ask make what SAM's `make build-<LogicalId>` would run.
			if makeErr != nil {
				t.Skipf("make not found (%v): the build target is not checked", makeErr)
			}
			artifacts := t.TempDir()
			cmd := exec.Command(makeExe, "--dry-run", "--no-print-directory", "-C", codeDir,
				"build-"+id, "ARTIFACTS_DIR="+artifacts)
			cmd.Env = withoutMakeVars(os.Environ())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make -n build-%s: %v\n%s", id, err, out)
			}
			recipe := string(out)
			for _, want := range []string{
				"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0",
				fmt.Sprintf("-o %q", filepath.Join(artifacts, "bootstrap")),
				"./" + dir,
			} {
				if !strings.Contains(recipe, want) {
					t.Errorf("make build-%s does not run %q; it runs:\n%s", id, want, recipe)
				}
			}
		})
	}

	// Every main under functions/ is deployed.
	entries, err := os.ReadDir(filepath.Join(repoRoot, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	deployed := map[string]bool{}
	for id := range functions {
		deployed[functionDir(id)] = true
	}
	for _, e := range entries {
		if e.IsDir() && !deployed[path.Join("functions", e.Name())] {
			t.Errorf("functions/%s has no AWS::Serverless::Function in template.yaml", e.Name())
		}
	}
}

// checkMainPackage checks that dir holds a main package whose main.go
// calls lambda.Start.
func checkMainPackage(t *testing.T, dir string) {
	t.Helper()
	file := filepath.Join(dir, "main.go")
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Errorf("handler package: %v", err)
		return
	}
	if f.Name.Name != "main" {
		t.Errorf("%s: package %s, want main", file, f.Name.Name)
	}
	starts := false
	ast.Inspect(f, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Start" {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "lambda" {
					starts = true
				}
			}
		}
		return !starts
	})
	if !starts {
		t.Errorf("%s does not call lambda.Start", file)
	}
}

// withoutMakeVars drops the variables an outer make passes to its
// children (jobserver, flags), so the dry run sees a plain invocation.
func withoutMakeVars(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Routes, integrations and permissions

func TestRoutesReachFunctionsThroughIntegrations(t *testing.T) {
	for _, b := range bothBranches {
		t.Run(b.String(), func(t *testing.T) {
			tpl := loadTemplate(t, b, map[string]any{"StageName": "routes-test"})
			api := websocketAPI(t, tpl)
			apiRes := tpl.GetAllApiGatewayV2ApiResources()[api]
			if got := str(apiRes.RouteSelectionExpression); got != "$request.body.type" {
				t.Errorf("RouteSelectionExpression = %q, want $request.body.type", got)
			}
			stage := stageName(t, tpl, api)
			if stage != "routes-test" {
				t.Errorf("stage name %q does not follow the StageName parameter", stage)
			}

			integrations := tpl.GetAllApiGatewayV2IntegrationResources()
			functions := tpl.GetAllServerlessFunctionResources()
			permissions := tpl.GetAllLambdaPermissionResources()
			routes := tpl.GetAllApiGatewayV2RouteResources()

			keys := map[string]string{} // route key -> route logical id
			for _, id := range sortedKeys(routes) {
				r := routes[id]
				keys[r.RouteKey] = id
				if r.ApiId != ref(api) {
					t.Errorf("route %s: ApiId %q, want %q", id, r.ApiId, ref(api))
				}
				target, ok := strings.CutPrefix(str(r.Target), "integrations/")
				integ, found := integrations[strings.TrimSuffix(strings.TrimPrefix(target, "${"), "}")]
				if !ok || !found || !subVar.MatchString(target) {
					t.Errorf("route %s (%s): Target %q is not integrations/${<an AWS::ApiGatewayV2::Integration>}", id, r.RouteKey, str(r.Target))
					continue
				}
				if integ.ApiId != ref(api) {
					t.Errorf("route %s: its integration belongs to %q, not %q", id, integ.ApiId, ref(api))
				}
				if integ.IntegrationType != "AWS_PROXY" {
					t.Errorf("route %s: IntegrationType %q, want AWS_PROXY", id, integ.IntegrationType)
				}
				fn := integratedFunction(str(integ.IntegrationUri), functions)
				if fn == "" {
					t.Errorf("route %s: IntegrationUri %q does not invoke a function of this template", id, str(integ.IntegrationUri))
					continue
				}
				wantSource := fmt.Sprintf("arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:%s/%s/%s", ref(api), stage, r.RouteKey)
				granted := false
				for _, p := range permissions {
					if p.FunctionName == ref(fn) && p.Principal == "apigateway.amazonaws.com" &&
						p.Action == "lambda:InvokeFunction" && str(p.SourceArn) == wantSource {
						granted = true
					}
				}
				if !granted {
					t.Errorf("route %s: no AWS::Lambda::Permission lets API Gateway invoke %s from %s", id, fn, wantSource)
				}
			}
			for _, key := range []string{"$connect", "$disconnect", "$default"} {
				if _, ok := keys[key]; !ok {
					t.Errorf("no %s route", key)
				}
			}

			// $default is two-way: replies travel as its route response.
			def, ok := routes[keys["$default"]]
			if !ok {
				return
			}
			if got := str(def.RouteResponseSelectionExpression); got != "$default" {
				t.Errorf("$default route: RouteResponseSelectionExpression %q, want $default", got)
			}
			twoWay := false
			for _, rr := range tpl.GetAllApiGatewayV2RouteResponseResources() {
				if rr.RouteId == ref(keys["$default"]) && rr.RouteResponseKey == "$default" && rr.ApiId == ref(api) {
					twoWay = true
				}
			}
			if !twoWay {
				t.Error("$default route has no AWS::ApiGatewayV2::RouteResponse with key $default")
			}
		})
	}
}

var invokeURI = regexp.MustCompile(`^arn:\$\{AWS::Partition\}:apigateway:\$\{AWS::Region\}:lambda:path/2015-03-31/functions/\$\{(\w+)\.Arn\}/invocations$`)

// integratedFunction returns the logical id of the function a Lambda proxy
// integration URI invokes, or "".
func integratedFunction(uri string, functions map[string]*serverless.Function) string {
	m := invokeURI.FindStringSubmatch(uri)
	if m == nil {
		return ""
	}
	if _, ok := functions[m[1]]; !ok {
		return ""
	}
	return m[1]
}

// The table

func TestTableMatchesTheStoreLayout(t *testing.T) {
	for _, b := range bothBranches {
		t.Run(b.String(), func(t *testing.T) {
			tpl := loadTemplate(t, b, nil)
			tables := tpl.GetAllDynamoDBTableResources()
			if len(tables) != 1 {
				t.Fatalf("want one AWS::DynamoDB::Table (single-table design), found %q", sortedKeys(tables))
			}
			for id, tbl := range tables {
				if got := str(tbl.BillingMode); got != "PAY_PER_REQUEST" {
					t.Errorf("%s: BillingMode %q, want PAY_PER_REQUEST", id, got)
				}
				if tbl.AWSCloudFormationDeletionPolicy != "Retain" || tbl.AWSCloudFormationUpdateReplacePolicy != "Retain" {
					t.Errorf("%s: DeletionPolicy %q, UpdateReplacePolicy %q: want Retain for both", id,
						tbl.AWSCloudFormationDeletionPolicy, tbl.AWSCloudFormationUpdateReplacePolicy)
				}

				keys := map[string]string{}
				for _, k := range tbl.KeySchema {
					keys[k.KeyType] = k.AttributeName
				}
				if keys["HASH"] != store.AttrPK || keys["RANGE"] != store.AttrSK || len(keys) != 2 {
					t.Errorf("%s: key schema %v, want HASH %q and RANGE %q", id, keys, store.AttrPK, store.AttrSK)
				}

				attrs := map[string]string{}
				for _, a := range tbl.AttributeDefinitions {
					attrs[a.AttributeName] = a.AttributeType
				}
				wantAttrs := map[string]string{
					store.AttrPK: "S", store.AttrSK: "S", store.AttrExpBucket: "S", store.AttrExpiresAt: "N",
				}
				if fmt.Sprint(attrs) != fmt.Sprint(wantAttrs) {
					t.Errorf("%s: attribute definitions %v, want %v", id, attrs, wantAttrs)
				}

				if ttl := tbl.TimeToLiveSpecification; ttl == nil || str(ttl.AttributeName) != store.AttrExpiresAt || !ttl.Enabled {
					t.Errorf("%s: TTL %+v, want enabled on %q", id, ttl, store.AttrExpiresAt)
				}

				if len(tbl.GlobalSecondaryIndexes) != 1 {
					t.Fatalf("%s: %d global secondary indexes, want only %q", id, len(tbl.GlobalSecondaryIndexes), store.IndexExpiry)
				}
				gsi := tbl.GlobalSecondaryIndexes[0]
				gsiKeys := map[string]string{}
				for _, k := range gsi.KeySchema {
					gsiKeys[k.KeyType] = k.AttributeName
				}
				if gsi.IndexName != store.IndexExpiry || gsiKeys["HASH"] != store.AttrExpBucket ||
					gsiKeys["RANGE"] != store.AttrExpiresAt || len(gsiKeys) != 2 {
					t.Errorf("%s: index %q keyed %v, want %q keyed HASH %q, RANGE %q", id, gsi.IndexName, gsiKeys,
						store.IndexExpiry, store.AttrExpBucket, store.AttrExpiresAt)
				}
				if gsi.Projection == nil || str(gsi.Projection.ProjectionType) != "ALL" {
					t.Errorf("%s: index %q projection %+v, want ALL", id, gsi.IndexName, gsi.Projection)
				}
			}
		})
	}
}

// IAM

// grant is one Allow statement of an inline policy, with where it came from.
type grant struct {
	where     string
	actions   []string
	resources []string
}

func TestIAMGrantsNoScanAndOnlyThisAPIsConnections(t *testing.T) {
	for _, b := range bothBranches {
		t.Run(b.String(), func(t *testing.T) {
			tpl := loadTemplate(t, b, map[string]any{
				"StageName":              "iam-test",
				"JwtSecretParameterName": "/rtcollab/test/jwt-secret",
				"JwtSecretKmsKeyArn":     "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
			})
			api := websocketAPI(t, tpl)
			stage := stageName(t, tpl, api)
			tables := tpl.GetAllDynamoDBTableResources()

			grants := collectGrants(t, tpl)
			if len(grants) == 0 {
				t.Fatal("no inline policy statements found")
			}
			connections := regexp.MustCompile(`^arn:\$\{AWS::Partition\}:execute-api:\$\{AWS::Region\}:\$\{AWS::AccountId\}:` +
				regexp.QuoteMeta(ref(api)) + `/` + regexp.QuoteMeta(stage) + `/(POST|GET|DELETE)/@connections/\*$`)

			for _, g := range grants {
				for _, a := range g.actions {
					if actionMatches(a, "dynamodb:Scan") {
						t.Errorf("%s grants %q, which allows dynamodb:Scan", g.where, a)
					}
				}
				if anyActionMatches(g.actions, "dynamodb:") {
					for _, r := range g.resources {
						if !tableResource(r, tables) {
							t.Errorf("%s: DynamoDB access to %q, want only a table of this template or its indexes", g.where, r)
						}
					}
				}
				if anyActionMatches(g.actions, "execute-api:ManageConnections") {
					for _, r := range g.resources {
						if !connections.MatchString(r) {
							t.Errorf("%s: execute-api:ManageConnections on %q, want %s/%s/<POST|GET|DELETE>/@connections/* of this API",
								g.where, r, ref(api), stage)
						}
					}
				}
			}
		})
	}
}

// collectGrants returns the Allow statements of every function's policies
// and of every IAM role and policy. Functions may only use inline policy
// documents: a managed policy or a SAM policy template (DynamoDBCrudPolicy
// grants Scan) fails the test.
func collectGrants(t *testing.T, tpl *cloudformation.Template) []grant {
	t.Helper()
	var out []grant
	add := func(where string, statements []any) {
		for i, s := range statements {
			st, ok := s.(map[string]any)
			if !ok {
				continue // an Fn::If that resolved to AWS::NoValue
			}
			label := fmt.Sprintf("%s statement %d", where, i)
			if sid, ok := st["Sid"].(string); ok {
				label = fmt.Sprintf("%s statement %q", where, sid)
			}
			if st["Effect"] != "Allow" {
				continue
			}
			if _, ok := st["NotAction"]; ok {
				t.Errorf("%s: Allow with NotAction grants every other action", label)
			}
			if _, ok := st["NotResource"]; ok {
				t.Errorf("%s: Allow with NotResource grants every other resource", label)
			}
			out = append(out, grant{where: label, actions: stringList(st["Action"]), resources: stringList(st["Resource"])})
		}
	}
	functions := tpl.GetAllServerlessFunctionResources()
	for _, id := range sortedKeys(functions) {
		p := functions[id].Policies
		if p == nil {
			continue
		}
		// goformation decodes a list into every list form it knows, so the
		// documents tell: a managed policy name or a SAM policy template
		// decodes as a document without statements.
		var docs []serverless.Function_IAMPolicyDocument
		if p.IAMPolicyDocument != nil {
			docs = append(docs, *p.IAMPolicyDocument)
		}
		if p.IAMPolicyDocumentArray != nil {
			docs = append(docs, *p.IAMPolicyDocumentArray...)
		}
		if p.String != nil || len(docs) == 0 {
			t.Errorf("%s: Policies must be a list of inline policy documents", id)
		}
		for i, d := range docs {
			if len(d.Statement) == 0 {
				t.Errorf("%s: Policies item %d is a managed policy or a SAM policy template, not an inline policy document"+
					" (SAM templates such as DynamoDBCrudPolicy grant Scan)", id, i)
			}
			add(id, d.Statement)
		}
	}
	for id, role := range tpl.GetAllIAMRoleResources() {
		for _, p := range role.Policies {
			add(id+" policy "+p.PolicyName, documentStatements(p.PolicyDocument))
		}
	}
	for id, p := range tpl.GetAllIAMPolicyResources() {
		add(id, documentStatements(p.PolicyDocument))
	}
	for id, p := range tpl.GetAllIAMManagedPolicyResources() {
		add(id, documentStatements(p.PolicyDocument))
	}
	return out
}

func documentStatements(doc any) []any {
	d, _ := doc.(map[string]any)
	switch s := d["Statement"].(type) {
	case []any:
		return s
	case map[string]any:
		return []any{s}
	}
	return nil
}

// stringList returns a policy element that may be a string or a list of
// them.
func stringList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// actionMatches reports whether the IAM action pattern (which may hold *
// and ? wildcards; IAM compares actions without regard to case) covers
// action.
func actionMatches(pattern, action string) bool {
	ok, err := path.Match(strings.ToLower(pattern), strings.ToLower(action))
	return err == nil && ok
}

// anyActionMatches reports whether one of the patterns covers action, or
// any action of a service when action ends with ":".
func anyActionMatches(patterns []string, action string) bool {
	for _, p := range patterns {
		if strings.HasSuffix(action, ":") {
			service, _, _ := strings.Cut(strings.ToLower(p), ":")
			if p == "*" || service+":" == strings.ToLower(action) {
				return true
			}
			continue
		}
		if actionMatches(p, action) {
			return true
		}
	}
	return false
}

// tableResource reports whether r is a table of this template or one of
// its indexes.
func tableResource[T any](r string, tables map[string]T) bool {
	for id := range tables {
		if r == "${"+id+".Arn}" || r == "${"+id+".Arn}/index/*" {
			return true
		}
	}
	return false
}

// Environment

// environment returns the variables SAM gives function id: Globals first,
// the function's own on top.
func environment(t *testing.T, tpl *cloudformation.Template, id string) map[string]string {
	t.Helper()
	env := map[string]string{}
	globals, err := tpl.GetServerlessGlobalFunction()
	if err != nil {
		t.Fatalf("Globals.Function: %v", err)
	}
	if globals.Environment != nil {
		for k, v := range globals.Environment.Variables {
			env[k] = v
		}
	}
	fn, ok := tpl.GetAllServerlessFunctionResources()[id]
	if !ok {
		t.Fatalf("no function %s", id)
	}
	if fn.Environment != nil {
		for k, v := range fn.Environment.Variables {
			env[k] = v
		}
	}
	return env
}

func getenv(env map[string]string) func(string) string {
	return func(name string) string { return env[name] }
}

func TestFunctionsReadTheSettingsTheTemplateSets(t *testing.T) {
	const (
		secret = "/rtcollab/test/jwt-secret"
		jwks   = "https://issuer.invalid/.well-known/jwks.json"
		stage  = "env-test"
	)
	tpl := loadTemplate(t, thenBranch, map[string]any{
		"StageName":              stage,
		"LogLevel":               "warn",
		"JwtIssuer":              "https://issuer.invalid",
		"JwtAudience":            "rtcollab-web",
		"JwtJwksUrl":             jwks,
		"JwtSecretParameterName": secret,
		"TenantClaim":            "org",
		"RequireTenant":          "true",
	})
	api := websocketAPI(t, tpl)
	tables := tpl.GetAllDynamoDBTableResources()

	for _, id := range sortedKeys(tpl.GetAllServerlessFunctionResources()) {
		t.Run(id, func(t *testing.T) {
			env := environment(t, tpl, id)
			s, err := app.SettingsFromEnv(getenv(env))
			if err != nil {
				t.Fatalf("app.SettingsFromEnv: %v", err)
			}
			if _, ok := tables[strings.TrimSuffix(strings.TrimPrefix(s.TableName, "${"), "}")]; !ok || !subVar.MatchString(s.TableName) {
				t.Errorf("TABLE_NAME %q is not a Ref to the table", s.TableName)
			}
			if s.LogLevel != "warn" {
				t.Errorf("LOG_LEVEL %q does not follow the LogLevel parameter", s.LogLevel)
			}
			if s.DevIdentity {
				t.Error("DEV_IDENTITY is on: development identities must never reach a deployed function")
			}
			if s.DynamoDBEndpoint != "" {
				t.Errorf("DYNAMODB_ENDPOINT %q is set: deployed functions use the regional endpoint", s.DynamoDBEndpoint)
			}
		})
	}

	t.Run("ConnectFunction token settings", func(t *testing.T) {
		ts, err := app.TokenSettingsFromEnv(getenv(environment(t, tpl, "ConnectFunction")))
		if err != nil {
			t.Fatalf("app.TokenSettingsFromEnv: %v", err)
		}
		if ts.SecretParameter != secret || ts.JWKSURL != jwks || ts.Issuer != "https://issuer.invalid" ||
			ts.Audience != "rtcollab-web" || ts.TenantClaim != "org" || !ts.RequireTenant {
			t.Errorf("token settings %+v do not follow the Jwt*, TenantClaim and RequireTenant parameters", ts)
		}
		if ts.Secret != "" {
			t.Error("JWT_SECRET is set: a deployed secret belongs in SSM (JwtSecretParameterName)")
		}
		// The function may read exactly the parameter it is told to read.
		want := "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter" + secret
		var readable []string
		for _, g := range collectGrants(t, tpl) {
			if strings.HasPrefix(g.where, "ConnectFunction ") && anyActionMatches(g.actions, "ssm:GetParameter") {
				readable = append(readable, g.resources...)
			}
		}
		if !slices.Equal(readable, []string{want}) {
			t.Errorf("ConnectFunction may call ssm:GetParameter on %q, want exactly %q", readable, want)
		}
	})

	t.Run("MessageFunction sharded fan-out", func(t *testing.T) {
		fc, err := fanout.ConfigFromEnv(getenv(environment(t, tpl, "MessageFunction")))
		if err != nil {
			t.Fatalf("fanout.ConfigFromEnv: %v", err)
		}
		if fc.FunctionName != ref("FanoutFunction") || fc.ShardSize != 2000 || fc.LambdaEndpoint != "" {
			t.Errorf("fan-out settings %+v, want FANOUT_FUNCTION_NAME a Ref to FanoutFunction and the FanoutShardSize default 2000", fc)
		}
		if fc, _ := fanout.ConfigFromEnv(getenv(environment(t, tpl, "FanoutFunction"))); fc.FunctionName != "" {
			t.Errorf("FanoutFunction has FANOUT_FUNCTION_NAME %q: a shard must not be split again", fc.FunctionName)
		}
		// Only the message function may invoke, and only the fan-out function.
		invokes := 0
		for _, g := range collectGrants(t, tpl) {
			if !anyActionMatches(g.actions, "lambda:InvokeFunction") {
				continue
			}
			invokes++
			if !strings.HasPrefix(g.where, "MessageFunction ") || !slices.Equal(g.resources, []string{"${FanoutFunction.Arn}"}) {
				t.Errorf("%s grants lambda:InvokeFunction on %q, want only MessageFunction on FanoutFunction", g.where, g.resources)
			}
		}
		if invokes != 1 {
			t.Errorf("%d statements grant lambda:InvokeFunction, want 1 (MessageFunction on FanoutFunction)", invokes)
		}
		fn := tpl.GetAllServerlessFunctionResources()["FanoutFunction"]
		if fn == nil || fn.EventInvokeConfig == nil || fn.EventInvokeConfig.MaximumRetryAttempts == nil || *fn.EventInvokeConfig.MaximumRetryAttempts != 0 {
			t.Error("FanoutFunction must not retry asynchronous events (EventInvokeConfig.MaximumRetryAttempts 0): a retried shard posts twice")
		}
	})

	t.Run("SweeperFunction management endpoint", func(t *testing.T) {
		s, err := app.SettingsFromEnv(getenv(environment(t, tpl, "SweeperFunction")))
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("https://%s.execute-api.${AWS::Region}.${AWS::URLSuffix}/%s", ref(api), stage)
		if s.ManagementEndpoint != want {
			t.Errorf("MANAGEMENT_ENDPOINT %q, want %q", s.ManagementEndpoint, want)
		}
	})
}
