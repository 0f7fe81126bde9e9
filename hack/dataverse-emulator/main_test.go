package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
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
	return admin.AddUser(ctx, info.Environments[0].EnvironmentID, "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a")
}

func TestOutOfProcess(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--addr", "127.0.0.1:0", "--ca-file", ca, "--environments", "contoso,fabrikam=11111111-2222-4333-8444-555555555555=Fabrikam Inc",
			"--client-secrets", "5e1c7a3b-0d2f-4c8e-9a61-2b7d4f0e8c11=s3cret"}, w, io.Discard)
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("no first line: %v (%v)", err, <-done)
	}
	var info struct {
		URL          string
		Environments []struct{ Name, URL, EnvironmentID string }
	}
	if err := json.Unmarshal([]byte(line), &info); err != nil || len(info.Environments) != 2 || info.Environments[1].EnvironmentID != "11111111-2222-4333-8444-555555555555" {
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
