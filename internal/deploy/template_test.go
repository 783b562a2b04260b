package deploy

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"github.com/awslabs/goformation/v7/intrinsics"

	"github.com/omnisales/rtcollab/internal/app"
	"github.com/omnisales/rtcollab/internal/auth"
	"github.com/omnisales/rtcollab/internal/deadline"
	"github.com/omnisales/rtcollab/internal/editing"
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
// [condition, then, else] list, or evaluated: the condition's value for the
// parameters given, as CloudFormation would choose.
type branch int

const (
	evaluated  branch = 0
	thenBranch branch = 1
	elseBranch branch = 2
)

func (b branch) String() string {
	switch b {
	case thenBranch:
		return "then"
	case elseBranch:
		return "else"
	}
	return "evaluated"
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
	tpl, _ := loadTemplateRaw(t, b, params)
	return tpl
}

// loadTemplateRaw is loadTemplate that also returns the resolved template
// as generic JSON values, for properties goformation does not model. With
// branch evaluated, the conditions are evaluated for the parameters (see
// evaluateConditions): every Fn::If takes the branch CloudFormation would,
// resources and outputs whose Condition is false are left out, and each
// rule's RuleCondition and Assert become booleans.
func loadTemplateRaw(t *testing.T, b branch, params map[string]any) (*cloudformation.Template, map[string]any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	overrides := map[string]intrinsics.IntrinsicHandler{
		"Ref":        refHandler,
		"Fn::GetAtt": getAttHandler,
		"Fn::Sub":    subHandler,
		"Fn::If":     ifHandler(b),
	}
	if b == evaluated {
		// YAML to JSON only; the conditions are evaluated here, then the
		// other functions resolved as in the other branches.
		unprocessed, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
		if err != nil {
			t.Fatalf("read template.yaml: %v", err)
		}
		var tplMap map[string]any
		if err := json.Unmarshal(unprocessed, &tplMap); err != nil {
			t.Fatal(err)
		}
		if data, err = json.Marshal(evaluateConditions(t, tplMap, params)); err != nil {
			t.Fatal(err)
		}
		delete(overrides, "Fn::If")
	}
	resolved, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: overrides,
		ParameterOverrides:        params,
	})
	if err != nil {
		t.Fatalf("resolve template.yaml (%s branches): %v", b, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(resolved, &raw); err != nil {
		t.Fatal(err)
	}
	// goformation v7 predates LoggingConfig of AWS::Serverless::Function
	// and refuses properties it does not know: its typed view goes without
	// them, and the checks read them from raw.
	// Nor does it know Auth.EnableIamAuthorizer of AWS::Serverless::HttpApi.
	typed, err := json.Marshal(withoutIamAuthorizerFlag(withoutFunctionProperties(raw, "LoggingConfig")))
	if err != nil {
		t.Fatal(err)
	}
	tpl, err := goformation.ParseJSON(typed)
	if err != nil {
		t.Fatalf("parse template.yaml (%s branches): %v", b, err)
	}
	return tpl, raw
}

// evaluateConditions evaluates the Conditions of the generic, unresolved
// template tpl for params (the parameters' defaults otherwise), then
// returns tpl with every Fn::If replaced by its chosen branch (AWS::NoValue
// dropped), resources and outputs of false conditions removed, and each
// rule's RuleCondition and Assert replaced by their values.
func evaluateConditions(t *testing.T, tpl map[string]any, params map[string]any) map[string]any {
	t.Helper()
	declared, _ := tpl["Parameters"].(map[string]any)
	paramValue := func(name string) string {
		if v, ok := params[name]; ok {
			return fmt.Sprint(v)
		}
		p, ok := declared[name].(map[string]any)
		if !ok {
			t.Fatalf("condition refers to %q, which is not a parameter", name)
		}
		return fmt.Sprint(p["Default"])
	}
	conditions, _ := tpl["Conditions"].(map[string]any)
	values := map[string]bool{}
	var cond func(name string, depth int) bool
	var eval func(v any, depth int) any
	// boolOf evaluates an operand of Fn::Not, Fn::And or Fn::Or, where the
	// YAML reader renders !Condition X as the bare name "X".
	boolOf := func(v any, depth int) bool {
		if name, ok := v.(string); ok {
			return cond(name, depth)
		}
		b, ok := eval(v, depth).(bool)
		if !ok {
			t.Fatalf("%v does not evaluate to a boolean", v)
		}
		return b
	}
	eval = func(v any, depth int) any {
		if depth > 50 {
			t.Fatal("conditions nest too deep (a cycle?)")
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) != 1 {
			return v
		}
		for fn, arg := range m {
			args, _ := arg.([]any)
			switch fn {
			case "Ref":
				return paramValue(arg.(string))
			case "Condition":
				return cond(arg.(string), depth+1)
			case "Fn::Equals":
				return fmt.Sprint(eval(args[0], depth+1)) == fmt.Sprint(eval(args[1], depth+1))
			case "Fn::Not":
				return !boolOf(args[0], depth+1)
			case "Fn::And", "Fn::Or":
				all, anyTrue := true, false
				for _, a := range args {
					b := boolOf(a, depth+1)
					all, anyTrue = all && b, anyTrue || b
				}
				if fn == "Fn::And" {
					return all
				}
				return anyTrue
			}
		}
		return v
	}
	cond = func(name string, depth int) bool {
		if v, ok := values[name]; ok {
			return v
		}
		c, ok := conditions[name]
		if !ok {
			t.Fatalf("no condition %q", name)
		}
		b, ok := eval(c, depth).(bool)
		if !ok {
			t.Fatalf("condition %q does not evaluate to a boolean", name)
		}
		values[name] = b
		return b
	}
	var choose func(v any) any
	choose = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			if args, ok := x["Fn::If"].([]any); ok && len(x) == 1 && len(args) == 3 {
				branch := args[2]
				if cond(args[0].(string), 0) {
					branch = args[1]
				}
				return choose(branch)
			}
			out := make(map[string]any, len(x))
			for k, e := range x {
				if r := choose(e); !isNoValue(r) {
					out[k] = r
				}
			}
			return out
		case []any:
			out := make([]any, 0, len(x))
			for _, e := range x {
				if r := choose(e); !isNoValue(r) {
					out = append(out, r)
				}
			}
			return out
		}
		return v
	}
	for name := range conditions {
		cond(name, 0)
	}
	out := choose(tpl).(map[string]any)
	for _, section := range []string{"Resources", "Outputs"} {
		entries, _ := out[section].(map[string]any)
		for id, e := range entries {
			if c, ok := e.(map[string]any)["Condition"].(string); ok && !values[c] {
				delete(entries, id)
			}
		}
	}
	rules, _ := out["Rules"].(map[string]any)
	for _, r := range rules {
		rule := r.(map[string]any)
		if c, ok := rule["RuleCondition"]; ok {
			rule["RuleCondition"] = eval(c, 0)
		}
		for _, a := range rule["Assertions"].([]any) {
			a := a.(map[string]any)
			a["Assert"] = eval(a["Assert"], 0)
		}
	}
	return out
}

// isNoValue reports whether v is a Ref to AWS::NoValue.
func isNoValue(v any) bool {
	m, ok := v.(map[string]any)
	return ok && len(m) == 1 && m["Ref"] == "AWS::NoValue"
}

// withoutFunctionProperties returns a copy of the generic template raw in
// which no AWS::Serverless::Function has the named properties; raw itself
// is left as it is.
func withoutFunctionProperties(raw map[string]any, names ...string) map[string]any {
	out := maps.Clone(raw)
	resources, _ := raw["Resources"].(map[string]any)
	outRes := make(map[string]any, len(resources))
	for id, r := range resources {
		res, ok := r.(map[string]any)
		if !ok || res["Type"] != "AWS::Serverless::Function" {
			outRes[id] = r
			continue
		}
		res = maps.Clone(res)
		if props, ok := res["Properties"].(map[string]any); ok {
			props = maps.Clone(props)
			for _, n := range names {
				delete(props, n)
			}
			res["Properties"] = props
		}
		outRes[id] = res
	}
	out["Resources"] = outRes
	return out
}

// withoutIamAuthorizerFlag returns a copy of the generic template raw in
// which no AWS::Serverless::HttpApi has Auth.EnableIamAuthorizer; raw
// itself is left as it is.
func withoutIamAuthorizerFlag(raw map[string]any) map[string]any {
	out := maps.Clone(raw)
	resources, _ := raw["Resources"].(map[string]any)
	outRes := maps.Clone(resources)
	for id, r := range resources {
		res, ok := r.(map[string]any)
		if !ok || res["Type"] != "AWS::Serverless::HttpApi" {
			continue
		}
		props, _ := res["Properties"].(map[string]any)
		auth, ok := props["Auth"].(map[string]any)
		if !ok {
			continue
		}
		auth = maps.Clone(auth)
		delete(auth, "EnableIamAuthorizer")
		props = maps.Clone(props)
		props["Auth"] = auth
		res = maps.Clone(res)
		res["Properties"] = props
		outRes[id] = res
	}
	out["Resources"] = outRes
	return out
}

// rawResource returns the properties of resource id in the generic
// template raw.
func rawResource(t *testing.T, raw map[string]any, id string) map[string]any {
	t.Helper()
	resources, _ := raw["Resources"].(map[string]any)
	res, ok := resources[id].(map[string]any)
	if !ok {
		t.Fatalf("no resource %s", id)
	}
	props, _ := res["Properties"].(map[string]any)
	return props
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

// callsMethod reports whether the Go file calls a method or package
// function named name (x.name(...)).
func callsMethod(t *testing.T, file, name string) bool {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	if err != nil {
		t.Errorf("parse %s: %v", file, err)
		return false
	}
	found := false
	ast.Inspect(f, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == name {
				found = true
			}
		}
		return !found
	})
	return found
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
		if call, ok := n.(*ast.CallExpr); ok && isSelector(call.Fun, "lambda", "Start") {
			starts = true
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

// TestFunctionsMayCallTheManagementAPIAsTheirCodeDoes: each function is
// granted execute-api:ManageConnections for the verbs its code sends
// (IAM refuses the others with 403, which the local gateway, checking
// signatures but not IAM, does not show): $connect probes a user's
// connections at the limit (GET) and announces what a gone one leaves
// (POST); the sweeper also closes connections (DELETE); the publish
// functions broadcast (POST). Every function of the template is listed,
// so that a new one is not left out unawares.
func TestFunctionsMayCallTheManagementAPIAsTheirCodeDoes(t *testing.T) {
	need := map[string][]string{
		"ConnectFunction":       {"GET", "POST"},
		"DisconnectFunction":    {"POST"},
		"MessageFunction":       {"POST"},
		"FanoutFunction":        {"POST"},
		"SweeperFunction":       {"GET", "POST", "DELETE"},
		"PublishFunction":       {"POST"},
		"PublishEventsFunction": {"POST"},
		"ChangeFeedFunction":    {},
	}
	tpl := loadTemplate(t, bothBranches[0], map[string]any{"StageName": "iam-test"})
	for fn := range tpl.GetAllServerlessFunctionResources() {
		if _, ok := need[fn]; !ok {
			t.Errorf("%s is not listed: say which Management API verbs its code sends", fn)
		}
	}
	api := websocketAPI(t, tpl)
	stage := stageName(t, tpl, api)
	grants := collectGrants(t, tpl)
	for fn, verbs := range need {
		for _, verb := range verbs {
			want := "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:" + ref(api) + "/" + stage + "/" + verb + "/@connections/*"
			found := false
			for _, g := range grants {
				if strings.HasPrefix(g.where, fn+" ") && anyActionMatches(g.actions, "execute-api:ManageConnections") && slices.Contains(g.resources, want) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s may not %s @connections (no grant of %s)", fn, verb, want)
			}
		}
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

// tableResource reports whether r is a table of this template, one of its
// indexes or its stream.
func tableResource[T any](r string, tables map[string]T) bool {
	for id := range tables {
		if r == "${"+id+".Arn}" || r == "${"+id+".Arn}/index/*" || r == "${"+id+".StreamArn}" {
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
		ts, err := auth.TokenSettingsFromEnv(getenv(environment(t, tpl, "ConnectFunction")))
		if err != nil {
			t.Fatalf("auth.TokenSettingsFromEnv: %v", err)
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

	t.Run("sharded fan-out", func(t *testing.T) {
		// Every function that broadcasts to a channel shards it: the
		// message function, the publish API's two functions, and the
		// connect function (at the connection limit), the disconnect
		// function and the sweeper, which announce the presence and locks
		// a removed connection leaves. Those three make many broadcasts
		// in one step and post to only a few recipients of each
		// themselves (FANOUT_INLINE_MAX; TestFanoutShardSizeFitsTheTimeouts
		// checks the values); the others post the first shard.
		sharding := []string{"MessageFunction", "PublishFunction", "PublishEventsFunction", "ConnectFunction", "DisconnectFunction", "SweeperFunction"}
		for _, name := range sharding {
			fc, err := fanout.ConfigFromEnv(getenv(environment(t, tpl, name)))
			if err != nil {
				t.Fatalf("%s: fanout.ConfigFromEnv: %v", name, err)
			}
			if fc.FunctionName != ref("FanoutFunction") || fc.ShardSize != 1000 || fc.LambdaEndpoint != "" {
				t.Errorf("%s: fan-out settings %+v, want FANOUT_FUNCTION_NAME a Ref to FanoutFunction and the FanoutShardSize default 1000", name, fc)
			}
			if cleanup := cleanupFunctions[name] > 0; cleanup != (fc.InlineMax > 0) {
				t.Errorf("%s: FANOUT_INLINE_MAX %d; want it set on %v alone", name, fc.InlineMax, slices.Sorted(maps.Keys(cleanupFunctions)))
			}
			// The function's main builds its posters from these settings.
			if !callsMethod(t, filepath.Join(repoRoot, functionDir(name), "main.go"), "ShardingPosters") {
				t.Errorf("%s: %s/main.go does not build its posters with app.Lambda.ShardingPosters: the template's fan-out settings go unread",
					name, functionDir(name))
			}
		}
		if fc, _ := fanout.ConfigFromEnv(getenv(environment(t, tpl, "FanoutFunction"))); fc.FunctionName != "" {
			t.Errorf("FanoutFunction has FANOUT_FUNCTION_NAME %q: a shard must not be split again", fc.FunctionName)
		}
		// Only those functions may invoke, and only the fan-out function.
		invokers := map[string]bool{}
		for _, g := range collectGrants(t, tpl) {
			if !anyActionMatches(g.actions, "lambda:InvokeFunction") {
				continue
			}
			name, _, _ := strings.Cut(g.where, " ")
			if !slices.Contains(sharding, name) || !slices.Equal(g.resources, []string{"${FanoutFunction.Arn}"}) {
				t.Errorf("%s grants lambda:InvokeFunction on %q, want only %v on FanoutFunction", g.where, g.resources, sharding)
			}
			invokers[name] = true
		}
		for _, name := range sharding {
			if !invokers[name] {
				t.Errorf("%s may not invoke FanoutFunction, but hands it shards", name)
			}
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

// cleanupFunctions are the functions that announce what a removed
// connection leaves, with the connections one invocation may remove in
// one step: $connect removes up to 5 gone connections of a user at the
// limit (handler.connLimitProbes), $disconnect its own, the sweeper one
// expired session per step. Each removed connection is announced with up
// to cleanupBroadcasts broadcasts.
var cleanupFunctions = map[string]int{"ConnectFunction": 5, "DisconnectFunction": 1, "SweeperFunction": 1}

// cleanupBroadcasts is what the removal of one connection broadcasts: a
// leave in each of its rooms (at most 20, the presence MaxRooms), the
// user offline, and the release of one lock, on edit-locks and on the
// entity's channel (each further lock held adds two).
const cleanupBroadcasts = 20 + 1 + 2

// TestFanoutShardSizeFitsTheTimeouts: the largest shard the template
// allows is delivered within the timeout of every function that posts the
// first shard of a broadcast itself (the message function stops a second
// early) at an instance's delivery budget: DELIVERY_BURST at once, then
// 1,000 a second. The functions that announce what a removed connection
// leaves post to at most FANOUT_INLINE_MAX recipients of each broadcast
// themselves instead; their worst step (cleanupFunctions) must post within
// half the burst, and the sweeper's within a quarter of the time a pass
// keeps for its last step (deadline.SweepReserve) at the budget's rate,
// as earlier steps may have spent the burst.
func TestFanoutShardSizeFitsTheTimeouts(t *testing.T) {
	_, raw := loadTemplateRaw(t, bothBranches[0], nil)
	params, _ := raw["Parameters"].(map[string]any)
	p, _ := params["FanoutShardSize"].(map[string]any)
	pattern, _ := p["AllowedPattern"].(string)
	re, err := regexp.Compile(pattern)
	if err != nil {
		t.Fatalf("FanoutShardSize AllowedPattern %q: %v", pattern, err)
	}
	largest := 0
	for n := 1; n <= 200000; n++ {
		if re.MatchString(strconv.Itoa(n)) {
			largest = n
		}
	}
	for _, n := range []string{"100", "1000", "20000"} {
		if !re.MatchString(n) {
			t.Errorf("FanoutShardSize refuses %s", n)
		}
	}
	globals, _ := raw["Globals"].(map[string]any)
	fn, _ := globals["Function"].(map[string]any)
	env, _ := fn["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	burst, err := strconv.Atoi(fmt.Sprint(vars["DELIVERY_BURST"]))
	if err != nil {
		t.Fatalf("Globals DELIVERY_BURST %v: %v", vars["DELIVERY_BURST"], err)
	}
	rate := 1000.0 // DELIVERY_RATE_PER_SECOND's default
	if v, ok := vars["DELIVERY_RATE_PER_SECOND"]; ok {
		if rate, err = strconv.ParseFloat(fmt.Sprint(v), 64); err != nil {
			t.Fatal(err)
		}
	}
	// Every function that shards posts the first shard itself.
	resources, _ := raw["Resources"].(map[string]any)
	var sharding []string
	for _, name := range sortedKeys(resources) {
		fn, _ := resources[name].(map[string]any)
		props, _ := fn["Properties"].(map[string]any)
		env, _ := props["Environment"].(map[string]any)
		vars, _ := env["Variables"].(map[string]any)
		if _, ok := vars["FANOUT_FUNCTION_NAME"]; !ok {
			continue
		}
		sharding = append(sharding, name)
		if conns, ok := cleanupFunctions[name]; ok {
			inline, err := strconv.Atoi(fmt.Sprint(vars["FANOUT_INLINE_MAX"]))
			if err != nil || inline <= 0 {
				t.Errorf("%s: FANOUT_INLINE_MAX %v: it announces what a removed connection leaves, %d broadcasts per connection, and must post few of each itself",
					name, vars["FANOUT_INLINE_MAX"], cleanupBroadcasts)
				continue
			}
			posts := conns * cleanupBroadcasts * inline
			if posts > burst/2 {
				t.Errorf("%s: its worst step posts %d x %d x FANOUT_INLINE_MAX %d = %d itself, more than half of DELIVERY_BURST %d",
					name, conns, cleanupBroadcasts, inline, posts, burst)
			}
			if secs := float64(posts) / rate; name == "SweeperFunction" && secs > deadline.SweepReserve.Seconds()/4 {
				t.Errorf("%s: a step posts %d itself, %.1f s at %.0f/s, more than a quarter of deadline.SweepReserve %v",
					name, posts, secs, rate, deadline.SweepReserve)
			}
			continue
		}
		timeout, _ := props["Timeout"].(float64)
		if timeout == 0 {
			t.Errorf("%s has no Timeout", name)
			continue
		}
		if secs := float64(largest-burst) / rate; secs > timeout-2 {
			t.Errorf("FanoutShardSize allows %d: %.0f s of posting, past %s's %.0f s", largest, secs, name, timeout)
		}
	}
	for _, name := range append([]string{"MessageFunction"}, slices.Sorted(maps.Keys(cleanupFunctions))...) {
		if !slices.Contains(sharding, name) {
			t.Errorf("functions with FANOUT_FUNCTION_NAME: %v, want %s among them", sharding, name)
		}
	}
	if largest == 0 || re.MatchString("99") || re.MatchString("020000") {
		t.Errorf("FanoutShardSize pattern %q: largest %d", pattern, largest)
	}
}

// TestConflictStrategiesPattern: the ConflictStrategies parameter takes
// what CONFLICT_STRATEGIES means to the functions (editing.ParseStrategies),
// "*=strategy" for every other type included, and refuses what they would
// refuse at cold start.
func TestConflictStrategiesPattern(t *testing.T) {
	_, raw := loadTemplateRaw(t, bothBranches[0], nil)
	params, _ := raw["Parameters"].(map[string]any)
	p, _ := params["ConflictStrategies"].(map[string]any)
	re, err := regexp.Compile(p["AllowedPattern"].(string))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"", "order=lock-based", "order=lock-based,*=manual", "*=crdt", "quote=manual,note=last-write-wins"} {
		if _, _, err := editing.ParseStrategies(v); err != nil {
			t.Fatalf("ParseStrategies(%q): %v", v, err)
		}
		if !re.MatchString(v) {
			t.Errorf("ConflictStrategies refuses %q, which the functions take", v)
		}
	}
	for _, v := range []string{"order", "order=", "=manual", "Order=manual", "order=manual,", "**=manual"} {
		if re.MatchString(v) {
			t.Errorf("ConflictStrategies takes %q", v)
		}
	}
}
