package deploy

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omnisales/rtcollab/internal/fanout"
)

// samLocalEnv reads events/env.json: the variables of each function, by
// logical id.
func samLocalEnv(t *testing.T) map[string]map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "events", "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]map[string]string
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("events/env.json: %v", err)
	}
	return env
}

// TestSamLocalEnvPointsEveryPosterAtTheLocalServer: events/env.json holds
// the variables `sam local` gives the functions (invoke -n, start-lambda
// --env-vars) on top of the template's. The template sets
// MANAGEMENT_ENDPOINT for every function, to the execute-api host, which
// sam local resolves to a host that does not exist there; a function that
// posts takes that setting over the endpoint of its event. So every
// function the template lets call the Management API
// (execute-api:ManageConnections) finds the local server's endpoint in
// env.json, the same for all of them.
func TestSamLocalEnvPointsEveryPosterAtTheLocalServer(t *testing.T) {
	env := samLocalEnv(t)
	tpl := loadTemplate(t, bothBranches[0], nil)
	functions := tpl.GetAllServerlessFunctionResources()
	for fn := range env {
		if _, ok := functions[fn]; !ok {
			t.Errorf("events/env.json sets variables of %s, which is not a function of the template", fn)
		}
	}
	posters := map[string]bool{}
	for _, g := range collectGrants(t, tpl) {
		if anyActionMatches(g.actions, "execute-api:ManageConnections") {
			fn, _, _ := strings.Cut(g.where, " ")
			if _, ok := functions[fn]; ok {
				posters[fn] = true
			}
		}
	}
	if len(posters) == 0 {
		t.Fatal("no function may call the Management API")
	}
	endpoints := map[string][]string{}
	for _, fn := range sortedKeys(posters) {
		ep := env[fn]["MANAGEMENT_ENDPOINT"]
		if ep == "" {
			t.Errorf("%s may post to the Management API, but events/env.json sets no MANAGEMENT_ENDPOINT for it: under sam local it posts to the template's execute-api host", fn)
			continue
		}
		if u, err := url.Parse(ep); err != nil || u.Scheme != "http" || u.Host == "" {
			t.Errorf("%s: MANAGEMENT_ENDPOINT %q, want the local server's http endpoint", fn, ep)
		}
		endpoints[ep] = append(endpoints[ep], fn)
	}
	if len(endpoints) > 1 {
		t.Errorf("events/env.json points the functions at different Management API endpoints: %v; the local server has one", endpoints)
	}
}

// TestSamLocalEnvKeepsFanOutLocal: the template gives every function that
// broadcasts FANOUT_FUNCTION_NAME, a Ref to the fan-out function, which sam
// local resolves to its logical id. With it, a broadcast past
// FANOUT_INLINE_MAX (or past a shard) would be handed to asynchronous
// invokes of a function of that name at the regional Lambda endpoint, in
// AWS, and the recipients past the inline ones would not get it from the
// local run. So events/env.json sets it to "" for each of them: no
// sharding, the invocation posts every recipient itself, as under make
// dev-rie.
func TestSamLocalEnvKeepsFanOutLocal(t *testing.T) {
	env := samLocalEnv(t)
	tpl := loadTemplate(t, bothBranches[0], nil)
	var sharding []string
	for _, fn := range sortedKeys(tpl.GetAllServerlessFunctionResources()) {
		vars := environment(t, tpl, fn)
		if _, ok := vars["FANOUT_FUNCTION_NAME"]; !ok {
			continue
		}
		sharding = append(sharding, fn)
		// sam local: the template's variables, each one env.json sets
		// replaced by its value there.
		for k, v := range env[fn] {
			vars[k] = v
		}
		fc, err := fanout.ConfigFromEnv(getenv(vars))
		if err != nil {
			t.Errorf("%s under sam local: fanout.ConfigFromEnv: %v", fn, err)
			continue
		}
		if fc.FunctionName != "" {
			t.Errorf("%s under sam local hands shards to the fan-out function %q in AWS: events/env.json must set its FANOUT_FUNCTION_NAME to \"\"",
				fn, fc.FunctionName)
		}
	}
	if len(sharding) == 0 {
		t.Fatal("no function of the template has FANOUT_FUNCTION_NAME")
	}
}
