package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

// TestMain doubles as the "manager" of TestOutOfProcess: run again with DVEMU_CHILD set, the test
// binary is a separate process that trusts the emulator only through SSL_CERT_FILE and logs in
// only through AZURE_AUTHORITY_HOST, as the manager will.
func TestMain(m *testing.M) {
	if os.Getenv("DVEMU_CHILD") != "" {
		if err := child(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println("ok")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func child() error {
	var info struct {
		Environments        []struct{ URL, EnvironmentID string }
		PowerPlatformAPIURL string
		GraphURL            string
		OperatorClientID    string
	}
	if err := json.Unmarshal([]byte(os.Getenv("DVEMU_CHILD")), &info); err != nil {
		return err
	}
	// Nothing test-only below: the system trust store, the proxy settings and azidentity.
	cred, err := dataverse.CredentialFromSecret(map[string][]byte{
		"tenantId": []byte("72f988bf-86f1-41af-91ab-2d7cd011db47"), "clientId": []byte(info.OperatorClientID), "clientSecret": []byte("s3cret"),
	}, dataverse.CredentialOptions{})
	if err != nil {
		return err
	}
	opts := dataverse.DefaultOptions()
	opts.PowerPlatformAPIURL = info.PowerPlatformAPIURL
	conn, err := dataverse.NewConnector(opts, nil, nil)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, env := range info.Environments {
		cl, err := conn.Environment(env.URL, cred)
		if err != nil {
			return err
		}
		if _, err := cl.WhoAmI(ctx); err != nil {
			return err
		}
	}
	admin, err := conn.Admin(cred)
	if err != nil {
		return err
	}
	if err := admin.AddUser(ctx, info.Environments[0].EnvironmentID, "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"); err != nil {
		return err
	}
	return graphChild(ctx, info.GraphURL, cred)
}

// graphChild reads the seeded tenant through Graph at --graph-url with a token for the Graph
// scope and a plain net/http client (system trust store, proxy settings): a person, a group by
// name, a membership added and added again.
func graphChild(ctx context.Context, graphURL string, cred azcore.TokenCredential) error {
	tk, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{emulator.GraphScope}})
	if err != nil {
		return err
	}
	call := func(method, path string, body any) (int, map[string]any, error) {
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, graphURL+"/"+path, rd)
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Authorization", "Bearer "+tk.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, nil
	}
	s, u, err := call("GET", "users/alice.johnson@contoso.com?$select=id,accountEnabled,assignedLicenses", nil)
	if err != nil || s != 200 || u["accountEnabled"] != true || len(u["assignedLicenses"].([]any)) != 1 {
		return fmt.Errorf("user: %d %v %v", s, u, err)
	}
	s, g, err := call("GET", "groups?$filter="+url.QueryEscape("displayName eq 'sg-contoso-sales'")+"&$select=id,securityEnabled", nil)
	if err != nil || s != 200 || len(g["value"].([]any)) != 1 {
		return fmt.Errorf("group: %d %v %v", s, g, err)
	}
	gid := g["value"].([]any)[0].(map[string]any)["id"].(string)
	ref := map[string]string{"@odata.id": "https://graph.microsoft.com/v1.0/directoryObjects/e0a1b2c3-0000-4000-8000-000000000002"}
	for _, want := range []int{204, 400} {
		if s, b, err := call("POST", "groups/"+gid+"/members/$ref", ref); err != nil || s != want {
			return fmt.Errorf("add member: %d, want %d: %v %v", s, want, b, err)
		}
	}
	return nil
}

func TestOutOfProcess(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--ca-file", ca,
			"--environments", "contoso,fabrikam=11111111-2222-4333-8444-555555555555=Fabrikam Inc=5a000000-0000-4000-8000-000000000001",
			"--client-secrets", "5e1c7a3b-0d2f-4c8e-9a61-2b7d4f0e8c11=s3cret",
			"--entra-directory", "testdata/directory.json", "--entra-sync-interval", "1m"}, w, io.Discard)
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no first line: %v (%v)", err, <-done)
	}
	var info struct {
		URL, GraphURL string
		Environments  []struct{ Name, URL, EnvironmentID, SecurityGroupID string }
	}
	if err := json.Unmarshal([]byte(line), &info); err != nil || len(info.Environments) != 2 || info.Environments[1].EnvironmentID != "11111111-2222-4333-8444-555555555555" ||
		info.Environments[1].SecurityGroupID != "5a000000-0000-4000-8000-000000000001" || info.GraphURL != info.URL+"/graph/v1.0" {
		t.Fatalf("first line %q: %v", line, err)
	}
	go io.Copy(io.Discard, out)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "DVEMU_CHILD="+line, "SSL_CERT_FILE="+ca, "AZURE_AUTHORITY_HOST="+info.URL+"/")
	res, err := cmd.CombinedOutput()
	if err != nil || string(res) != "ok\n" {
		t.Fatalf("the out-of-process client failed: %v\n%s", err, res)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestBadDirectorySeedIsAnError(t *testing.T) {
	dir := t.TempDir()
	for name, seed := range map[string]string{
		"unknown field":   `{"people":[]}`,
		"unknown SKU":     `{"users":[{"userPrincipalName":"a@contoso.com","assignedLicenses":[{"skuPartNumber":"NOPE"}]}]}`,
		"unknown member":  `{"groups":[{"displayName":"g","members":["nobody@contoso.com"]}]}`,
		"not JSON at all": `users:`,
	} {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(p, []byte(seed), 0o644); err != nil {
			t.Fatal(err)
		}
		err := run(context.Background(), []string{"--addr", "127.0.0.1:0", "--ca-file", filepath.Join(dir, "ca.pem"), "--entra-directory", p}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "directory") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
