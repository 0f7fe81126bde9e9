package main

import (
	"bytes"
	"strings"
	"testing"
)

// Bad input to manager export is a usage error (exit 2) that names the flag and what to give;
// missing credentials fail before any request (exit 1). No case gets as far as a client: the
// URL is a reserved .invalid host all the same. The export against the emulator is
// test/e2e/export_test.go.
func TestExportUsage(t *testing.T) {
	for _, env := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"} {
		t.Setenv(env, "")
	}
	ok := []string{"--url", "https://contoso.crm.invalid", "-n", "contoso", "--name", "contoso-sales"}
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no --url", []string{"-n", "contoso", "--name", "contoso-sales", "-o", "out"}, 2, "--url is required"},
		{"not https", []string{"--url", "http://contoso.crm.invalid", "-n", "contoso", "--name", "x", "-o", "out"}, 2, "only https URLs are read"},
		{"no namespace", []string{"--url", "https://contoso.crm.invalid", "--name", "x", "-o", "out"}, 2, "--namespace is required"},
		{"no name", []string{"--url", "https://contoso.crm.invalid", "-n", "contoso", "-o", "out"}, 2, "--name is required"},
		{"no -o", ok, 2, "-o is required: the directory to write (or --dry-run)"},
		{"no credentials", append(ok, "--dry-run"), 1, "no credentials: pass --credentials-secret, or set AZURE_TENANT_ID"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runExport(c.args, &stdout, &stderr); code != c.code {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, c.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), c.want) {
				t.Errorf("stderr lacks %q:\n%s", c.want, stderr.String())
			}
		})
	}
}
