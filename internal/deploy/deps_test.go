package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// deployedBuild is the build configuration of the bootstraps (SAM_GO_BUILD
// in mk/sam.mk): the package graph depends on it through build tags and
// GOOS/GOARCH-specific files.
var deployedBuild = struct {
	env  []string
	tags string
}{
	env:  []string{"GOOS=linux", "GOARCH=arm64", "CGO_ENABLED=0"},
	tags: "lambda.norpc",
}

// tooling says why a package must not be linked into a function binary,
// or "" when it may be. module is this module's path.
func tooling(module, pkg string) string {
	switch {
	case pkg == module+"/tools" || strings.HasPrefix(pkg, module+"/tools/"):
		return "load, cost or emulator tooling (tools/)"
	case strings.HasPrefix(pkg, module+"/cmd/"):
		return "a command of this module"
	case pkg == "testing" || strings.HasPrefix(pkg, "testing/"):
		return "the testing package"
	case pkg == "net/http/httptest":
		return "a test server"
	case strings.HasPrefix(pkg, "github.com/stretchr/"):
		return "a test assertion library"
	}
	return ""
}

func TestToolingClassification(t *testing.T) {
	const module = "example.com/m"
	for _, tc := range []struct {
		pkg       string
		forbidden bool
	}{
		{"example.com/m/tools/loadtest", true},
		{"example.com/m/tools/faultproxy", true},
		{"example.com/m/tools/lambdainvoke", true},
		{"example.com/m/tools", true},
		{"example.com/m/cmd/localserver", true},
		{"testing", true},
		{"testing/fstest", true},
		{"net/http/httptest", true},
		{"github.com/stretchr/testify/require", true},
		{"example.com/m/internal/app", false},
		{"example.com/m/toolsx", false},
		{"example.com/m/internal/tools", false},
		{"net/http", false},
		{"github.com/aws/aws-lambda-go/lambda", false},
	} {
		if got := tooling(module, tc.pkg) != ""; got != tc.forbidden {
			t.Errorf("tooling(%q) forbidden = %v, want %v", tc.pkg, got, tc.forbidden)
		}
	}
}

// TestFunctionsLinkNoTooling lists, with go list -deps, every package each
// function's bootstrap links as deployed, and fails when one of them is
// test, load, cost or emulator tooling, naming the import chain that pulls
// it in.
func TestFunctionsLinkNoTooling(t *testing.T) {
	goExe, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the functions' dependencies: %v", err)
	}
	module := strings.TrimSpace(string(goCmd(t, goExe, "list", "-m", "-f", "{{.Path}}")))
	if module == "" {
		t.Fatal("go list -m printed no module path")
	}
	entries, err := os.ReadDir(filepath.Join(repoRoot, "functions"))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		checked++
		pkg := "./" + path.Join("functions", e.Name())
		t.Run(e.Name(), func(t *testing.T) {
			out := goCmd(t, goExe, "list", "-deps", "-tags", deployedBuild.tags,
				"-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, pkg)
			graph, order := parseImportGraph(out)
			if len(order) == 0 {
				t.Fatalf("go list -deps %s listed no packages", pkg)
			}
			// go list -deps prints dependencies before their importers, so
			// the function's main package comes last.
			main := order[len(order)-1]
			if !strings.HasSuffix(main, "/functions/"+e.Name()) {
				t.Fatalf("last package listed is %q, want the main package of %s", main, pkg)
			}
			for _, dep := range order {
				if why := tooling(module, dep); why != "" {
					t.Errorf("%s links %s, %s: %s", pkg, dep, why, strings.Join(importChain(graph, main, dep), " -> "))
				}
			}
		})
	}
	if checked == 0 {
		t.Fatal("no function under functions/")
	}
}

// goCmd runs the go command in the repository root with the deployed
// build's environment and returns its standard output.
func goCmd(t *testing.T, goExe string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(goExe, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), deployedBuild.env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// parseImportGraph reads lines of "package import...", as printed by go
// list -deps with the template above, into an import graph and the
// packages in the order listed.
func parseImportGraph(out []byte) (graph map[string][]string, order []string) {
	graph = map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		graph[fields[0]] = fields[1:]
		order = append(order, fields[0])
	}
	return graph, order
}

// importChain returns a shortest import path from "from" to "to" in graph,
// both ends included, or just [from, to] when there is none.
func importChain(graph map[string][]string, from, to string) []string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if p == to {
			var chain []string
			for ; p != ""; p = prev[p] {
				chain = append([]string{p}, chain...)
			}
			return chain
		}
		for _, q := range graph[p] {
			if _, seen := prev[q]; !seen {
				prev[q] = p
				queue = append(queue, q)
			}
		}
	}
	return []string{from, to}
}
