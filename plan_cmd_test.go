package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Exit codes a CI job gates on: 0 nothing refused or Stalled, 1 something would be refused or
// Stalled, 2 usage or input errors.
func TestPlanExitCodes(t *testing.T) {
	clean := t.TempDir()
	if err := os.WriteFile(filepath.Join(clean, "env.yaml"), []byte(`apiVersion: access.accessplane.io/v1alpha1
kind: Environment
metadata:
  name: fab
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		args       []string
		code       int
		stdout     string
		stderrPart string
	}{
		{"no -f", nil, 2, "", "-f is required"},
		{"unknown output", []string{"-f", clean, "-o", "yaml"}, 2, "", `unknown output "yaml"`},
		{"--base with --cluster", []string{"-f", clean, "--base", clean, "--cluster"}, 2, "", "exclusive"},
		{"a file that does not exist", []string{"-f", filepath.Join(clean, "nope.yaml")}, 2, "", "nope.yaml: cannot read: no such file or directory"},
		{"nothing refused or Stalled", []string{"-f", clean}, 0, "Plan: 0 refused at admission; 4 objects: 4 Ready, 0 Stalled", ""},
		{"the samples hold users beyond the limits on purpose", []string{"-f", "config/samples", "-n", "contoso"}, 1, "3 Stalled", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runPlan(c.args, &stdout, &stderr); code != c.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, c.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), c.stdout) {
				t.Errorf("stdout does not contain %q:\n%s", c.stdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), c.stderrPart) {
				t.Errorf("stderr does not contain %q:\n%s", c.stderrPart, stderr.String())
			}
		})
	}
}
