package deploy

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// processCalls are the functions of package os that only a main may call:
// reading the environment (the settings are passed in, read through the
// getenv a main supplies) and ending the process.
var processCalls = []string{"Getenv", "LookupEnv", "Environ", "Exit"}

// processCallsIn returns "file:line: os.Name" for every call of
// processCalls in src, whatever name os is imported under. Test support
// packages (doctest, storetest) are checked too: they take what they read
// from the environment from their callers, the _test.go files.
func processCallsIn(fset *token.FileSet, name string, src any) ([]string, error) {
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	osName := ""
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		switch path {
		case "os":
			osName = "os"
			if imp.Name != nil {
				osName = imp.Name.Name
			}
		}
	}
	if osName == "" || osName == "_" {
		return nil, nil
	}
	var found []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && (x.Name == osName || osName == ".") && slices.Contains(processCalls, sel.Sel.Name) {
			found = append(found, fset.Position(sel.Pos()).String()+": os."+sel.Sel.Name)
		}
		return true
	})
	return found, nil
}

func TestProcessCallsIn(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want int
	}{
		{"getenv", "package p\nimport \"os\"\nvar v = os.Getenv(\"X\")\n", 1},
		{"lookup and exit", "package p\nimport \"os\"\nfunc f() { if _, ok := os.LookupEnv(\"X\"); !ok { os.Exit(1) } }\n", 2},
		{"passed as a value", "package p\nimport \"os\"\nvar g = os.Getenv\n", 1},
		{"renamed import", "package p\nimport sys \"os\"\nvar e = sys.Environ()\n", 1},
		{"other os calls", "package p\nimport \"os\"\nvar w = os.Stderr\nfunc f() { os.ReadFile(\"x\") }\n", 0},
		{"a getenv parameter", "package p\nfunc f(getenv func(string) string) string { return getenv(\"X\") }\n", 0},
		{"test support", "package p\nimport (\"os\"; \"testing\")\nfunc f(t *testing.T) { _ = os.Getenv(\"X\") }\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := processCallsIn(token.NewFileSet(), tt.name+".go", tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Errorf("found %q, want %d calls", got, tt.want)
			}
		})
	}
}

// TestOnlyMainsReadTheEnvironment: nothing under internal/ but tests reads
// the process environment or ends the process. Each main (functions/*,
// cmd/*) reads its settings and passes them in, and decides how a failed
// start ends; internal packages take a getenv function or a struct.
func TestOnlyMainsReadTheEnvironment(t *testing.T) {
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(filepath.Join(repoRoot, "internal"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		files++
		found, err := processCallsIn(fset, path, nil)
		for _, f := range found {
			t.Errorf("%s: only a main reads the environment or exits; pass the value in", f)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("read %d files under internal/: not this repository's tree?", files)
	}
}
