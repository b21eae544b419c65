// Package layout_test checks the direction of the module's imports: every
// arrow between flavorflow's packages points down the layers of
// docs/ARCHITECTURE.md ("Package layout"), the shared vocabulary stays a leaf,
// and the test rigs stay out of production code.
package layout_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/flavorflow/flavorflow"

// rank is each production package's layer: a package may import only
// packages of a lower rank. A new package must be given one here (and in
// docs/ARCHITECTURE.md), which is the point: its place is decided, not
// discovered.
var rank = map[string]int{
	"failure": 0,

	"vocab": 1, "rows": 1, "policy": 1, "flavor/pyyaml": 1, "config": 1, "internal/telemetry": 1,
	"internal/hashpipe": 1,

	"fakemodel": 2, "modeluri": 2, "store": 2,

	"store/localstore": 3, "store/storetest": 3, "mlflow": 3,

	"flavor": 4,

	"activities": 5, "export": 5, "internal/app": 5, "linearmodel": 5, "flavor/flavortest": 5,

	"workflows": 6,

	"starter": 7, "worker": 7, "bench": 7, "failure/gendoc": 7,
	"tests": 7, "tests/cmd/ffmlflow": 7, "tests/cmd/ffmlmodel": 7, "tests/cmd/ffsave": 7, "tests/cmd/fflinear": 7,
}

// forbidden lists imports that the ranks alone would allow but the layout
// does not want.
var forbidden = map[string][]string{
	// The CLI and export get tag keys and training data from vocab, not
	// from the activities.
	"starter": {"activities"},
	"export":  {"activities"},
	// The URI grammar and the store contract know nothing of each other.
	"modeluri": {"store", "store/localstore", "mlflow"},
	"store":    {"modeluri"},
}

// imports maps each package (relative to the module) to the module packages
// its non-test files import, and lists the packages only tests import from.
func imports(t *testing.T) (prod map[string][]string, testOnly map[string][]string) {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod at %s: %v", root, err)
	}
	prod, testOnly = map[string][]string{}, map[string][]string{}
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != root && (strings.HasPrefix(n, ".") || strings.HasPrefix(n, "_") || n == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		pkg := filepath.ToSlash(rel)
		dst := prod
		if strings.HasSuffix(p, "_test.go") {
			dst = testOnly
		}
		if _, ok := dst[pkg]; !ok {
			dst[pkg] = nil
		}
		for _, imp := range f.Imports {
			ip, _ := strconv.Unquote(imp.Path.Value)
			if ip == module || strings.HasPrefix(ip, module+"/") {
				dep := strings.TrimPrefix(strings.TrimPrefix(ip, module), "/")
				if !slices.Contains(dst[pkg], dep) {
					dst[pkg] = append(dst[pkg], dep)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return prod, testOnly
}

func isTestRig(pkg string) bool { return strings.HasPrefix(pkg, "internal/testrig/") }

// TestArrowsPointDown: every import between production packages goes to a
// lower rank, none is forbidden, and vocab imports nothing of ours but
// failure.
func TestArrowsPointDown(t *testing.T) {
	prod, _ := imports(t)
	for pkg, deps := range prod {
		if isTestRig(pkg) {
			continue
		}
		r, ok := rank[pkg]
		if !ok {
			t.Errorf("package %s has no rank: place it in the layout (tests/layout and docs/ARCHITECTURE.md)", pkg)
			continue
		}
		for _, dep := range deps {
			if isTestRig(dep) {
				continue // TestRigsStayInTests
			}
			if dr, ok := rank[dep]; ok && dr >= r {
				t.Errorf("%s (layer %d) imports %s (layer %d): arrows must point down", pkg, r, dep, dr)
			}
			if slices.Contains(forbidden[pkg], dep) || slices.ContainsFunc(forbidden[pkg], func(f string) bool { return strings.HasPrefix(dep, f+"/") }) {
				t.Errorf("%s must not import %s", pkg, dep)
			}
		}
	}
	if deps := prod["vocab"]; len(deps) > 1 || len(deps) == 1 && deps[0] != "failure" {
		t.Errorf("vocab imports %v; it is the leaf and may import only failure", deps)
	}
}

// TestRigsStayInTests: production code never imports the test rigs. The
// programs under tests/cmd are test programs (the Python tests run them), so
// they may.
func TestRigsStayInTests(t *testing.T) {
	prod, _ := imports(t)
	for pkg, deps := range prod {
		if isTestRig(pkg) || strings.HasPrefix(pkg, "tests/cmd/") {
			continue
		}
		for _, dep := range deps {
			if isTestRig(dep) {
				t.Errorf("%s imports the test rig %s outside a _test.go file", pkg, dep)
			}
		}
	}
}

// TestRanksAreCurrent: the rank table names only packages that exist.
func TestRanksAreCurrent(t *testing.T) {
	prod, _ := imports(t)
	for pkg := range rank {
		if _, ok := prod[pkg]; !ok {
			t.Errorf("rank lists %s, which has no non-test Go files: remove it", pkg)
		}
	}
}
