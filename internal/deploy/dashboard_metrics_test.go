package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDashboardMetricsAreEmitted: the dashboard body is valid JSON, every
// ${X} names a resource or parameter, and every RTCollab metric it charts
// is one some non-test Go code adds (metrics.<Name> passed to Add).
func TestDashboardMetricsAreEmitted(t *testing.T) {
	tpl, raw := loadTemplateRaw(t, thenBranch, nil)
	resources, _ := raw["Resources"].(map[string]any)
	params, _ := raw["Parameters"].(map[string]any)
	// The non-test Go code's Add(metrics.X ...) calls.
	added := map[string]bool{}
	addRe := regexp.MustCompile(`\.Add\(metrics\.([A-Za-z]+),`)
	_ = filepath.Walk(filepath.Join(repoRoot), func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if info.IsDir() {
			switch info.Name() {
			case "node_modules", ".git", ".venv", ".aws-sam", "bin":
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, m := range addRe.FindAllStringSubmatch(string(b), -1) {
			added[m[1]] = true
		}
		return nil
	})
	for id, d := range tpl.GetAllCloudWatchDashboardResources() {
		body := d.DashboardBody
		for _, m := range subVar.FindAllStringSubmatch(body, -1) {
			name := strings.SplitN(m[1], ".", 2)[0]
			if _, ok := resources[name]; ok {
				continue
			}
			if _, ok := params[name]; ok || strings.HasPrefix(name, "AWS::") {
				continue
			}
			t.Errorf("dashboard %s refers to ${%s}, which is neither a resource nor a parameter", id, m[1])
		}
		var v any
		if err := json.Unmarshal([]byte(subVar.ReplaceAllString(body, "X")), &v); err != nil {
			t.Fatalf("dashboard %s body is not JSON: %v", id, err)
		}
		names := map[string]bool{}
		for _, m := range regexp.MustCompile(`\{RTCollab,Function\} MetricName=\\"([A-Za-z]+)\\"`).FindAllStringSubmatch(body, -1) {
			names[m[1]] = true
		}
		for _, m := range regexp.MustCompile(`\["RTCollab", "([A-Za-z]+)"`).FindAllStringSubmatch(body, -1) {
			names[m[1]] = true
		}
		for n := range names {
			if !added[n] {
				t.Errorf("dashboard %s charts RTCollab %s, which no Go code emits", id, n)
			}
		}
	}
}
