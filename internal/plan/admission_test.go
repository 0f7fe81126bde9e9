package plan

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/accessplane/dataverse-access-operator/internal/plan/plantest"
)

// The API suite (api/v1alpha1/validation_test.go) sends its corpus of bad objects to a real
// kube-apiserver and checks the field and message of each refusal. This test reads the same
// corpus from that file, so the two never drift apart, and checks that plan's offline admission
// refuses each entry on the same field with the same message, accepts every entry the API server
// accepts, and refuses every immutable-field update the API server refuses.

const corpusFile = "../../" + plantest.CorpusFile

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
	u, err := plantest.Object(kind, "corpus", "obj-corpus", spec)
	if err != nil {
		t.Fatal(err)
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
	tables, err := plantest.Read(corpusFile)
	if err != nil {
		t.Fatal(err)
	}
	adm := testAdmission(t)
	ctx := context.Background()

	refused := tables[plantest.Refused]
	accepted := tables[plantest.Accepted]
	immutable := tables[plantest.Immutable]
	if len(refused) < 50 || len(accepted) < 10 || len(immutable) < 5 {
		t.Fatalf("the corpus has %d refused, %d accepted and %d immutable entries: did its tables' descriptions change?", len(refused), len(accepted), len(immutable))
	}
	for _, e := range refused {
		desc, kind, spec, fieldPath, message := e.Args[0].(string), e.Args[1].(string), e.Args[2].(string), e.Args[3].(string), e.Args[4].(string)
		t.Run(desc, func(t *testing.T) {
			_, errs := adm.Admit(ctx, corpusObject(t, kind, spec), nil)
			if !hasCause(errs, fieldPath, message) {
				t.Errorf("%s:%d: want a refusal on %s containing %q; got %v", corpusFile, e.Line, fieldPath, message, errs)
			}
		})
	}
	for _, e := range accepted {
		desc, kind, spec := e.Args[0].(string), e.Args[1].(string), e.Args[2].(string)
		t.Run(desc, func(t *testing.T) {
			if _, errs := adm.Admit(ctx, corpusObject(t, kind, spec), nil); len(errs) > 0 {
				t.Errorf("%s:%d: the API server accepts it; plan refuses it: %v", corpusFile, e.Line, errs)
			}
		})
	}
	for _, e := range immutable {
		desc, kind, spec, value, fieldPath, message := e.Args[0].(string), e.Args[1].(string), e.Args[2].(string), e.Args[3], e.Args[4].(string), e.Args[5].(string)
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
				t.Errorf("%s:%d: want the update refused on %s containing %q; got %v", corpusFile, e.Line, fieldPath, message, errs)
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
			t.Errorf("internal/plan/crds/%s differs from %s: run make manifests, or go generate ./internal/plan, and commit internal/plan/crds", filepath.Base(path), path)
		}
	}
	entries, _ := embeddedCRDs.ReadDir("crds")
	if len(entries) != len(want) {
		t.Errorf("%d embedded CRDs, %d in config/crd/bases: run make manifests, or go generate ./internal/plan", len(entries), len(want))
	}
}
