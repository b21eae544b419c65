package failure

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The table is only the single source of error types if nothing uses a type
// it does not list: such a code would get no ERRORS.md entry and, since
// Retryable treats unknown codes as retryable, a retry policy nobody chose.
// These tests scan the module's source for codes in use.

// typeArgs says which argument of a call names an error type: the failure
// constructors and the Temporal ones that take a type string.
var typeArgs = map[string]int{
	"failure.New": 0, "failure.Wrap": 0, "failure.Code": 0, "failure.Has": 1, "failure.Retryable": 0,
	"temporal.NewApplicationError":             1,
	"temporal.NewApplicationErrorWithOptions":  1,
	"temporal.NewNonRetryableApplicationError": 1,
}

// codesUsed returns every error code file uses, each with its position:
// any failure.X that is a constant of type Code, and what is passed where
// typeArgs says a type goes (a string literal, failure.X or string(failure.X))
// or listed in NonRetryableErrorTypes. Codes passed as variables are not
// seen; they come from one of these places or from CodeOf.
func codesUsed(fset *token.FileSet, file *ast.File, consts map[string]Code) map[string]string {
	used := map[string]string{}
	pos := func(n ast.Node) string { return fset.Position(n.Pos()).String() }
	var code func(e ast.Expr) (string, bool)
	code = func(e ast.Expr) (string, bool) {
		switch x := e.(type) {
		case *ast.BasicLit:
			if x.Kind == token.STRING {
				s, err := strconv.Unquote(x.Value)
				return s, err == nil
			}
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok && id.Name == "failure" {
				if c, ok := consts[x.Sel.Name]; ok {
					return string(c), true
				}
				return x.Sel.Name, true
			}
		case *ast.CallExpr: // string(failure.X), failure.Code("X")
			if len(x.Args) == 1 {
				return code(x.Args[0])
			}
		}
		return "", false
	}
	ast.Inspect(file, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.SelectorExpr:
			if id, ok := x.X.(*ast.Ident); ok && id.Name == "failure" {
				if c, ok := consts[x.Sel.Name]; ok {
					used[string(c)] = pos(x)
				}
			}
		case *ast.CallExpr:
			sel, ok := x.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			id, ok := sel.X.(*ast.Ident)
			if !ok {
				return true
			}
			if i, ok := typeArgs[id.Name+"."+sel.Sel.Name]; ok && i < len(x.Args) {
				if c, ok := code(x.Args[i]); ok {
					used[c] = pos(x.Args[i])
				}
			}
		case *ast.KeyValueExpr:
			if k, ok := x.Key.(*ast.Ident); ok && k.Name == "NonRetryableErrorTypes" {
				if lit, ok := x.Value.(*ast.CompositeLit); ok {
					for _, e := range lit.Elts {
						if c, ok := code(e); ok {
							used[c] = pos(e)
						}
					}
				}
			}
		}
		return true
	})
	return used
}

// codeConsts parses this package and returns its constants of type Code.
func codeConsts(t *testing.T) map[string]Code {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "codes.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]Code{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
				continue
			}
			for i, name := range vs.Names {
				v, _ := strconv.Unquote(vs.Values[i].(*ast.BasicLit).Value)
				consts[name.Name] = Code(v)
			}
		}
	}
	return consts
}

func inTable(c Code) bool {
	for _, info := range Table {
		if info.Code == c {
			return true
		}
	}
	return false
}

// checkCodesUsedAreInTable fails t unless every Code constant and every
// code the module's source uses is listed in Table (TestTableIsComplete).
func checkCodesUsedAreInTable(t *testing.T) {
	t.Helper()
	consts := codeConsts(t)
	for name, c := range consts {
		if !inTable(c) {
			t.Errorf("failure.%s (%q) is declared but not in Table", name, c)
		}
	}
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); p != ".." && (strings.HasPrefix(n, ".") || n == "testdata" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		for c, where := range codesUsed(fset, f, consts) {
			if !inTable(Code(c)) {
				t.Errorf("%s: error code %q is not in failure.Table", where, c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("scanned only %d Go files; is the test running in failure/?", files)
	}
}

// TestCodesUsedFindsUnknownCodes: the scan sees codes in every form the
// module passes them, so an unknown one cannot slip past it.
func TestCodesUsedFindsUnknownCodes(t *testing.T) {
	src := `package p
func f() {
	_ = failure.New("Bogus1", "x")
	_ = failure.Wrap(failure.Code("Bogus2"), err, "x")
	_ = temporal.NewNonRetryableApplicationError("msg", "Bogus3", nil)
	_ = temporal.NewApplicationErrorWithOptions("msg", string(failure.Bogus4), o)
	_ = temporal.RetryPolicy{NonRetryableErrorTypes: []string{"Bogus5"}}
	_ = failure.Has(err, "Bogus6")
	_ = failure.New(failure.NotFound, "known")
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	used := codesUsed(fset, f, codeConsts(t))
	for i := 1; i <= 6; i++ {
		c := "Bogus" + strconv.Itoa(i)
		if _, ok := used[c]; !ok || inTable(Code(c)) {
			t.Errorf("%s: not found as an unknown code (found %v)", c, used)
		}
	}
	if _, ok := used[string(NotFound)]; !ok {
		t.Errorf("failure.NotFound not seen as used: %v", used)
	}
}
