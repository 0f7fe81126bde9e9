package graph_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoMemberURLButTheRef: DELETE /groups/{id}/members/{userId} without /$ref deletes the user
// ("Remove member"). The client has one way to name a member's URL, memberRef, which ends in
// /$ref; one DELETE, deleteRef, which refuses anything else; and no other string literal that
// reaches below a group's members but the add (/members/$ref) and the list
// (/members/microsoft.graph.user).
func TestNoMemberURLButTheRef(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	deletes := map[string]int{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.BasicLit:
					if n.Kind != token.STRING || !strings.Contains(n.Value, "/members") {
						return true
					}
					allowed := map[string][]string{
						"memberRef":    {`"/members/"`},
						"membersRef":   {`"/members/$ref"`},
						"GroupMembers": {`"/members/microsoft.graph.user"`},
					}[fn.Name.Name]
					if !containsString(allowed, n.Value) {
						t.Errorf("%s: %s builds a members URL with %s; only memberRef may", fset.Position(n.Pos()), fn.Name.Name, n.Value)
					}
				case *ast.SelectorExpr:
					if n.Sel.Name == "MethodDelete" {
						deletes[fn.Name.Name]++
					}
				}
				return true
			})
		}
	}
	if len(deletes) != 1 || deletes["deleteRef"] != 1 {
		t.Fatalf("DELETEs in %v, want only in deleteRef", deletes)
	}
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
