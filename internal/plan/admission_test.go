package plan

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// The API suite (api/v1alpha1/validation_test.go) sends its corpus of bad objects to a real
// kube-apiserver and checks the field and message of each refusal. This test reads the same
// corpus from that file, so the two never drift apart, and checks that plan's offline admission
// refuses each entry on the same field with the same message, accepts every entry the API server
// accepts, and refuses every immutable-field update the API server refuses.

const corpusFile = "../../api/v1alpha1/validation_test.go"

// corpusEntry is one Entry(...) of a DescribeTable, its arguments evaluated.
type corpusEntry struct {
	line int
	args []interface{}
}

// readCorpus returns the entries of every DescribeTable in the corpus file, by table description.
func readCorpus(t *testing.T) map[string][]corpusEntry {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, corpusFile, nil, 0)
	if err != nil {
		t.Fatalf("reading the API suite's corpus: %v", err)
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
	tables := map[string][]corpusEntry{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || !isIdent(call.Fun, "DescribeTable") || len(call.Args) < 2 {
			return true
		}
		desc, err := ev.eval(call.Args[0])
		if err != nil {
			t.Fatalf("table description: %v", err)
		}
		for _, a := range call.Args[2:] {
			entry, ok := a.(*ast.CallExpr)
			if !ok || !isIdent(entry.Fun, "Entry") {
				continue
			}
			ce := corpusEntry{line: fset.Position(entry.Pos()).Line}
			for _, arg := range entry.Args {
				v, err := ev.eval(arg)
				if err != nil {
					t.Fatalf("%s:%d: %v: teach this test's evaluator the new form", corpusFile, ce.line, err)
				}
				ce.args = append(ce.args, v)
			}
			tables[desc.(string)] = append(tables[desc.(string)], ce)
		}
		return false
	})
	return tables
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

func testAdmission(t testing.TB) *Admission {
	t.Helper()
	a, err := NewAdmission(EmbeddedCRDs())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// corpusObject is the suite's newObject: kind with spec given as YAML.
func corpusObject(t *testing.T, kind, spec string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: map[string]interface{}{}}
	u.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(kind))
	u.SetNamespace("corpus")
	u.SetName("obj-corpus")
	if spec != "" {
		var m map[string]interface{}
		if err := utilyaml.Unmarshal([]byte(spec), &m); err != nil {
			t.Fatalf("spec %q: %v", spec, err)
		}
		u.Object["spec"] = m
	}
	return u
}

// hasCause is the suite's expectRefused: a cause on field whose message contains message.
func hasCause(errs field.ErrorList, fieldPath, message string) bool {
	for _, e := range errs {
		if e.Field == fieldPath && strings.Contains(e.ErrorBody(), message) && e.Type != errorTypeUnknownField {
			return true
		}
	}
	return false
}

func TestAdmissionMatchesTheAPISuiteCorpus(t *testing.T) {
	tables := readCorpus(t)
	adm := testAdmission(t)
	ctx := context.Background()

	refused := tables["a bad object is refused as Invalid, on the right field, with a message that says what to change"]
	accepted := tables["a valid object is accepted"]
	immutable := tables["an update of an immutable field is refused"]
	if len(refused) < 50 || len(accepted) < 10 || len(immutable) < 5 {
		t.Fatalf("the corpus has %d refused, %d accepted and %d immutable entries: did its tables' descriptions change?", len(refused), len(accepted), len(immutable))
	}
	for _, e := range refused {
		desc, kind, spec, fieldPath, message := e.args[0].(string), e.args[1].(string), e.args[2].(string), e.args[3].(string), e.args[4].(string)
		t.Run(desc, func(t *testing.T) {
			_, errs := adm.Admit(ctx, corpusObject(t, kind, spec), nil)
			if !hasCause(errs, fieldPath, message) {
				t.Errorf("%s:%d: want a refusal on %s containing %q; got %v", corpusFile, e.line, fieldPath, message, errs)
			}
		})
	}
	for _, e := range accepted {
		desc, kind, spec := e.args[0].(string), e.args[1].(string), e.args[2].(string)
		t.Run(desc, func(t *testing.T) {
			if _, errs := adm.Admit(ctx, corpusObject(t, kind, spec), nil); len(errs) > 0 {
				t.Errorf("%s:%d: the API server accepts it; plan refuses it: %v", corpusFile, e.line, errs)
			}
		})
	}
	for _, e := range immutable {
		desc, kind, spec, value, fieldPath, message := e.args[0].(string), e.args[1].(string), e.args[2].(string), e.args[3], e.args[4].(string), e.args[5].(string)
		t.Run(desc, func(t *testing.T) {
			stored, errs := adm.Admit(ctx, corpusObject(t, kind, spec), nil)
			if len(errs) > 0 {
				t.Fatalf("creating: %v", errs)
			}
			next := stored.DeepCopy()
			if err := unstructured.SetNestedField(next.Object, value, strings.Split(fieldPath, ".")...); err != nil {
				t.Fatal(err)
			}
			if _, errs := adm.Admit(ctx, next, stored); !hasCause(errs, fieldPath, message) {
				t.Errorf("%s:%d: want the update refused on %s containing %q; got %v", corpusFile, e.line, fieldPath, message, errs)
			}
		})
	}
}

func TestAdmissionDefaultsAsTheAPIServer(t *testing.T) {
	adm := testAdmission(t)
	got, errs := adm.Admit(context.Background(), corpusObject(t, "PlatformUser", `{environmentName: contoso, userName: ada@contoso.com}`), nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	for path, want := range map[string]interface{}{"spec.accessMode": "ReadWrite", "spec.enabled": true, "spec.signInBlocked": false, "spec.stub": false} {
		v, _, _ := unstructured.NestedFieldNoCopy(got.Object, strings.Split(path, ".")...)
		if v != want {
			t.Errorf("%s = %v, want %v (AM1, AM8 defaults)", path, v, want)
		}
	}
	if got.GetGeneration() != 1 {
		t.Errorf("generation %d, want 1 on create", got.GetGeneration())
	}
}

func TestAdmissionRefusesUnknownFields(t *testing.T) {
	adm := testAdmission(t)
	_, errs := adm.Admit(context.Background(), corpusObject(t, "PlatformUser", `{environmentName: contoso, userName: ada@contoso.com, lisence: X}`), nil)
	if len(errs) != 1 || errs[0].Field != "spec.lisence" || errs[0].Type != errorTypeUnknownField {
		t.Fatalf("want one unknown-field error on spec.lisence, got %v", errs)
	}
	obj := corpusObject(t, "PlatformUser", `{environmentName: contoso, userName: ada@contoso.com}`)
	obj.Object["metadata"].(map[string]interface{})["lables"] = map[string]interface{}{"team": "sales"}
	_, errs = adm.Admit(context.Background(), obj, nil)
	if len(errs) != 1 || errs[0].Field != "metadata.lables" || errs[0].Type != errorTypeUnknownField {
		t.Fatalf("want one unknown-field error on metadata.lables, got %v", errs)
	}
}

// The embedded CRDs are what the binary validates with: they must be config/crd/bases.
func TestEmbeddedCRDsMatchConfig(t *testing.T) {
	want, err := filepath.Glob("../../config/crd/bases/*.yaml")
	if err != nil || len(want) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	for _, path := range want {
		disk, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		embedded, err := embeddedCRDs.ReadFile("crds/" + filepath.Base(path))
		if err != nil || !bytes.Equal(disk, embedded) {
			t.Errorf("internal/plan/crds/%s differs from %s: run go generate ./internal/plan after make manifests", filepath.Base(path), path)
		}
	}
	entries, _ := embeddedCRDs.ReadDir("crds")
	if len(entries) != len(want) {
		t.Errorf("%d embedded CRDs, %d in config/crd/bases: run go generate ./internal/plan", len(entries), len(want))
	}
}
