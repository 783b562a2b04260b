package deploy

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

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
	b, err := os.ReadFile(filepath.Join(repoRoot, "events", "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	var env map[string]map[string]string
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("events/env.json: %v", err)
	}
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
