package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/plan"
	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

// TestPlanScale is `manager plan` on the bench's default workload written to files: 20
// environments x 250 PlatformUsers (5,000), 500 ApplicationUsers, 200 roles, 100 teams. It runs
// the real binary, alone and against a base in which one role is lower (so every holder's access
// changes), and prints the wall time and the peak RSS of each run. It asserts only a generous
// bound, since CI machines are shared.
func TestPlanScale(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the manager and plans 5,000 users")
	}
	ctx := context.Background()
	root, err := localcluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	bin := filepath.Join(work, "manager")
	if err := localcluster.BuildManager(ctx, root, bin); err != nil {
		t.Fatal(err)
	}
	size := Size{Environments: 20, UsersPerEnvironment: 250, NonInteractivePerEnv: 10, ApplicationUsers: 500, Roles: 200, Teams: 100}
	objs, exp := workload("", size)
	head, base := filepath.Join(work, "head"), filepath.Join(work, "base")
	writeObjects(t, head, objs, nil)
	// The base differs in one role: its contact read is at User instead of ParentChildBusinessUnits.
	writeObjects(t, base, objs, func(o client.Object) {
		if r, ok := o.(*accessv1alpha1.SecurityRole); ok && r.Name == "env-00-role-00" {
			r.Spec.Tables[2].Privileges = &accessv1alpha1.TablePrivileges{Read: accessv1alpha1.AccessUser, Write: accessv1alpha1.AccessBasic}
		}
	})

	var figures []string
	for _, run := range []struct {
		name string
		args []string
	}{
		{"plan", []string{"plan", "-f", head, "-n", "bench", "-o", "json"}},
		{"plan --base", []string{"plan", "-f", head, "--base", base, "-n", "bench", "-o", "json"}},
	} {
		cmd := exec.CommandContext(ctx, bin, run.args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		start := time.Now()
		err := cmd.Run()
		elapsed := time.Since(start)
		var exit *exec.ExitError
		if err != nil && (!errors.As(err, &exit) || exit.ExitCode() != 1) {
			t.Fatalf("%s: %v\n%s", run.name, err, stderr.String())
		}
		peakRSS := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
		var rep plan.Report
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("%s: the output is not the JSON report: %v", run.name, err)
		}
		stalled := map[string]int{}
		for _, o := range rep.Objects {
			if o.Stalled {
				stalled[o.Reason]++
			}
		}
		if stalled[accessv1alpha1.ReasonNonInteractiveLimitReached] != exp.LimitReached || stalled[accessv1alpha1.ReasonSeatsExhausted] != exp.SeatsExhausted {
			t.Errorf("%s: Stalled %v, want %d NonInteractiveLimitReached and %d SeatsExhausted, as the bench's live run", run.name, stalled, exp.LimitReached, exp.SeatsExhausted)
		}
		line := fmt.Sprintf("%-12s %6d objects  %6.2f s  peak RSS %4d MiB", run.name, rep.Summary.Objects, elapsed.Seconds(), peakRSS/1024)
		if rep.Diff != nil {
			if len(rep.Diff.Access) == 0 {
				t.Errorf("%s: raising one role changed no principal's access", run.name)
			}
			line += fmt.Sprintf("  (%d principals' access changes)", len(rep.Diff.Access))
		}
		figures = append(figures, line)
		if elapsed > 2*time.Minute {
			t.Errorf("%s took %s: plan should finish in seconds", run.name, elapsed)
		}
	}
	t.Logf("manager plan on the bench workload (%d users, %d roles):\n%s", size.Environments*size.UsersPerEnvironment, size.Roles, strings.Join(figures, "\n"))
}

// writeObjects writes objs as YAML, one file per environment in workload order, after edit.
func writeObjects(t *testing.T, dir string, objs []client.Object, edit func(client.Object)) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]*bytes.Buffer{}
	var order []string
	for _, o := range objs {
		o = o.DeepCopyObject().(client.Object)
		if edit != nil {
			edit(o)
		}
		env := o.GetName()
		if e, ok := o.(*accessv1alpha1.Environment); !ok {
			env = reflect.ValueOf(o).Elem().FieldByName("Spec").FieldByName("EnvironmentName").String()
		} else {
			env = e.Name
		}
		m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			t.Fatal(err)
		}
		delete(m, "status")
		md := m["metadata"].(map[string]interface{})
		delete(md, "creationTimestamp")
		m["apiVersion"] = accessv1alpha1.GroupVersion.String()
		m["kind"] = reflect.TypeOf(o).Elem().Name()
		data, err := yaml.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		b := files[env]
		if b == nil {
			b = &bytes.Buffer{}
			files[env] = b
			order = append(order, env)
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	for i, env := range order {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d-%s.yaml", i, env)), files[env].Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
