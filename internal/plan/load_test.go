package plan

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const goodRole = `apiVersion: access.accessplane.io/v1alpha1
kind: SecurityRole
metadata:
  name: ok
spec:
  environmentName: fab
`

// Input errors name the file and line and say what to change; every one of a run is reported.
func TestInputErrors(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		// want are the errors, with DIR for the temporary directory.
		want []string
	}{
		{
			name:  "a file that does not exist",
			files: nil,
			want:  []string{"DIR/missing.yaml: cannot read: no such file or directory: pass an existing file or directory to -f"},
		},
		{
			name:  "YAML that does not parse, on the line the parser names, in the second document",
			files: map[string]string{"bad.yaml": goodRole + "---\n# second\nkind: SecurityRole\nmetadata:\n  name: [unclosed\n"},
			want:  []string{"DIR/bad.yaml:11: not YAML: did not find expected ',' or ']'"},
		},
		{
			name:  "an unknown kind of this operator's group",
			files: map[string]string{"a.yaml": "apiVersion: access.accessplane.io/v1alpha1\nkind: PlatformUsr\nmetadata:\n  name: x\n"},
			want:  []string{"DIR/a.yaml:1: unknown kind PlatformUsr in access.accessplane.io/v1alpha1: use one of ApplicationUser (access.accessplane.io/v1alpha1), Environment (access.accessplane.io/v1alpha1), PlatformUser (access.accessplane.io/v1alpha1), SecurityRole (access.accessplane.io/v1alpha1), Team (access.accessplane.io/v1alpha1)"},
		},
		{
			name:  "a version the CRDs do not serve",
			files: map[string]string{"a.yaml": "apiVersion: access.accessplane.io/v1\nkind: PlatformUser\nmetadata:\n  name: x\n"},
			want:  []string{"DIR/a.yaml:1: unknown kind PlatformUser in access.accessplane.io/v1: use one of ApplicationUser (access.accessplane.io/v1alpha1), Environment (access.accessplane.io/v1alpha1), PlatformUser (access.accessplane.io/v1alpha1), SecurityRole (access.accessplane.io/v1alpha1), Team (access.accessplane.io/v1alpha1)"},
		},
		{
			name:  "no kind, no name, not a mapping: all reported at once",
			files: map[string]string{"a.yaml": "metadata:\n  name: x\n---\napiVersion: access.accessplane.io/v1alpha1\nkind: Team\n---\n- a list\n"},
			want: []string{
				"DIR/a.yaml:7: not a Kubernetes object: a document must be a mapping with apiVersion, kind and metadata",
				"DIR/a.yaml:1: apiVersion or kind is missing: every object needs both, e.g. apiVersion: access.accessplane.io/v1alpha1 and kind: PlatformUser",
				"DIR/a.yaml:4: Team has no metadata.name: give it a name",
			},
		},
		{
			name:  "the same object twice",
			files: map[string]string{"a.yaml": goodRole, "b.yaml": "# again\n" + goodRole},
			want:  []string{"DIR/b.yaml:2: SecurityRole ok is also defined at DIR/a.yaml:1: keep one of them"},
		},
	}
	adm := testAdmission(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			paths := []string{filepath.Join(dir, "missing.yaml")}
			if c.files != nil {
				paths = []string{dir}
			}
			for name, content := range c.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Run(context.Background(), Options{Files: paths, Admission: adm})
			var ie InputErrors
			if !errors.As(err, &ie) {
				t.Fatalf("want input errors, got %v", err)
			}
			var got []string
			for _, e := range ie {
				got = append(got, strings.ReplaceAll(e.Error(), dir, "DIR"))
			}
			if d := cmp.Diff(c.want, got); d != "" {
				t.Errorf("input errors (-want +got):\n%s", d)
			}
		})
	}
}

// A refusal points at the line of the field it names, or of its closest parent in the file.
func TestRefusalLines(t *testing.T) {
	dir := t.TempDir()
	content := `# users
apiVersion: access.accessplane.io/v1alpha1
kind: PlatformUser
metadata:
  name: robot
spec:
  environmentName: fab
  userName: robot@fab.example.com
  accessMode: NonInteractive
  license: PLAN
---
apiVersion: access.accessplane.io/v1alpha1
kind: SecurityRole
metadata:
  name: r
spec:
  environmentName: fab
  tables:
  - table: account
    permissionSetting: Collaborate
    privileges:
      read: Organization
  - table: contact
    privileges:
      read: Everyone
  lisence: x
`
	if err := os.WriteFile(filepath.Join(dir, "objs.yaml"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := Run(context.Background(), Options{Files: []string{dir}, Admission: testAdmission(t)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rep.Refused {
		got = append(got, strings.ReplaceAll(refusalWhere(r), dir, "DIR")+" "+r.Field)
	}
	want := []string{
		"DIR/objs.yaml:10 spec.license",
		"DIR/objs.yaml:26 spec.lisence",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("refusal lines (-want +got):\n%s", d)
	}
	if !rep.Failed() {
		t.Error("a refusal is a failure: exit code 1")
	}
	// The unknown field is the API server's first answer (strict decoding); once fixed, the
	// schema and CEL errors of the same object follow. Check them on the object without it.
	fixed := strings.Replace(content, "  lisence: x\n", "", 1)
	if err := os.WriteFile(filepath.Join(dir, "objs.yaml"), []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err = Run(context.Background(), Options{Files: []string{dir}, Admission: testAdmission(t)})
	if err != nil {
		t.Fatal(err)
	}
	got = nil
	for _, r := range rep.Refused {
		got = append(got, strings.ReplaceAll(refusalWhere(r), dir, "DIR")+" "+r.Field)
	}
	want = []string{
		"DIR/objs.yaml:10 spec.license",
		"DIR/objs.yaml:25 spec.tables[1].privileges.read",
		"DIR/objs.yaml:12 <nil>",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("refusal lines (-want +got):\n%s", d)
	}
}

// A kustomization is built as kubectl apply -k would build it, and each object is traced back to
// its file, so its refusals still get a line. Objects of other APIs are listed, not judged.
func TestKustomizationAndOtherAPIs(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"kustomization.yaml": "resources:\n- users.yaml\n- namespace.yaml\ncommonLabels:\n  team: sales\n",
		"namespace.yaml":     "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: sales\n",
		"users.yaml": `apiVersion: access.accessplane.io/v1alpha1
kind: PlatformUser
metadata:
  name: robot
spec:
  environmentName: fab
  userName: robot@fab.example.com
  accessMode: NonInteractive
  license: PLAN
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Run(context.Background(), Options{Files: []string{dir}, Admission: testAdmission(t)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Refused) != 1 {
		t.Fatalf("want one refusal, got %+v", rep.Refused)
	}
	r := rep.Refused[0]
	if got := strings.ReplaceAll(refusalWhere(r), dir, "DIR"); got != "DIR/users.yaml:9" || r.Field != "spec.license" {
		t.Errorf("refusal at %s on %s, want DIR/users.yaml:9 on spec.license", got, r.Field)
	}
	if len(rep.Ignored) != 1 || rep.Ignored[0].Kind != "Namespace" {
		t.Errorf("want the Namespace listed as not planned, got %+v", rep.Ignored)
	}
}
