// Package plantest reads the API suite's admission corpus (api/v1alpha1/validation_test.go) so
// that plan's offline admission and the end-to-end suite check the same entries the API suite
// sends to a real API server, without a copy that could drift.
package plantest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// CorpusFile is the corpus, relative to the repository root.
const CorpusFile = "api/v1alpha1/validation_test.go"

// Descriptions of the corpus's tables.
const (
	Refused   = "a bad object is refused as Invalid, on the right field, with a message that says what to change"
	Accepted  = "a valid object is accepted"
	Immutable = "an update of an immutable field is refused"
)

// Entry is one Entry(...) of a DescribeTable, its arguments evaluated: for Refused, description,
// kind, spec, field and message; for Accepted, description, kind and spec; for Immutable,
// description, kind, spec, new value, field and message.
type Entry struct {
	Line int
	Args []interface{}
}

// Read returns the entries of every DescribeTable in the corpus file at path, by description.
func Read(path string) (map[string][]Entry, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, 0)
	if err != nil {
		return nil, fmt.Errorf("reading the API suite's corpus: %w", err)
	}
	consts := map[string]ast.Expr{}
	for _, decl := range f.Decls {
		if gd, ok := decl.(*ast.GenDecl); ok && gd.Tok == token.CONST {
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					consts[n.Name] = vs.Values[i]
				}
			}
		}
	}
	ev := &evaluator{consts: consts}
	tables := map[string][]Entry{}
	var firstErr error
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !isIdent(call.Fun, "DescribeTable") || len(call.Args) < 2 || firstErr != nil {
			return firstErr == nil
		}
		desc, err := ev.eval(call.Args[0])
		if err != nil {
			firstErr = fmt.Errorf("table description: %w", err)
			return false
		}
		for _, a := range call.Args[2:] {
			entry, ok := a.(*ast.CallExpr)
			if !ok || !isIdent(entry.Fun, "Entry") {
				continue
			}
			e := Entry{Line: fset.Position(entry.Pos()).Line}
			for _, arg := range entry.Args {
				v, err := ev.eval(arg)
				if err != nil {
					firstErr = fmt.Errorf("%s:%d: %w: teach plantest's evaluator the new form", path, e.Line, err)
					return false
				}
				e.Args = append(e.Args, v)
			}
			tables[desc.(string)] = append(tables[desc.(string)], e)
		}
		return false
	})
	return tables, firstErr
}

// Object is the suite's newObject: an object of kind with spec written as YAML, in namespace.
func Object(kind, namespace, name, spec string) (*unstructured.Unstructured, error) {
	u := &unstructured.Unstructured{Object: map[string]interface{}{}}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind))
	u.SetNamespace(namespace)
	u.SetName(name)
	if spec != "" {
		var m map[string]interface{}
		if err := utilyaml.Unmarshal([]byte(spec), &m); err != nil {
			return nil, fmt.Errorf("spec %q: %w", spec, err)
		}
		u.Object["spec"] = m
	}
	return u, nil
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// evaluator folds the constant expressions the corpus is written with: literals, named
// constants, +, strings.Repeat and the suite's flowList helper.
type evaluator struct{ consts map[string]ast.Expr }

func (ev *evaluator) eval(e ast.Expr) (interface{}, error) {
	switch x := e.(type) {
	case *ast.BasicLit:
		switch x.Kind {
		case token.STRING:
			return strconv.Unquote(x.Value)
		case token.INT:
			return strconv.Atoi(x.Value)
		}
	case *ast.Ident:
		switch x.Name {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		if c, ok := ev.consts[x.Name]; ok {
			return ev.eval(c)
		}
	case *ast.ParenExpr:
		return ev.eval(x.X)
	case *ast.BinaryExpr:
		if x.Op == token.ADD {
			a, err := ev.eval(x.X)
			if err != nil {
				return nil, err
			}
			b, err := ev.eval(x.Y)
			if err != nil {
				return nil, err
			}
			as, aok := a.(string)
			bs, bok := b.(string)
			if aok && bok {
				return as + bs, nil
			}
		}
	case *ast.CallExpr:
		args := make([]interface{}, len(x.Args))
		for i, a := range x.Args {
			v, err := ev.eval(a)
			if err != nil {
				return nil, err
			}
			args[i] = v
		}
		switch {
		case isSelector(x.Fun, "strings", "Repeat"):
			return strings.Repeat(args[0].(string), args[1].(int)), nil
		case isIdent(x.Fun, "flowList"):
			items := make([]string, args[0].(int))
			for i := range items {
				items[i] = fmt.Sprintf(args[1].(string), i)
			}
			return "[" + strings.Join(items, ", ") + "]", nil
		}
	}
	return nil, fmt.Errorf("cannot evaluate %T", e)
}

func isSelector(e ast.Expr, pkg, name string) bool {
	s, ok := e.(*ast.SelectorExpr)
	return ok && isIdent(s.X, pkg) && s.Sel.Name == name
}
