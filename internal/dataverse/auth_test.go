package dataverse_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

// hostRecorder remembers every host a request went to, to prove nothing left for a public login
// host.
type hostRecorder struct {
	mu    sync.Mutex
	hosts map[string]int
	paths []string
	next  http.RoundTripper
}

func (h *hostRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.hosts[r.URL.Host]++
	h.paths = append(h.paths, r.URL.Path)
	h.mu.Unlock()
	return h.next.RoundTrip(r)
}

// TestAzidentityAgainstEmulator: with AZURE_AUTHORITY_HOST at the emulator over TLS, the
// client-secret and workload-identity credentials azidentity builds get their tokens from the
// emulator's token endpoint, and every request (discovery included) stays on the emulator.
func TestAzidentityAgainstEmulator(t *testing.T) {
	emu := emulator.New(emulator.Config{
		Environments:  []emulator.EnvironmentConfig{{Name: "contoso"}},
		ClientSecrets: map[string]string{emulator.OperatorApplicationID: "s3cret"},
	})
	srv := httptest.NewTLSServer(emu)
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	rec := &hostRecorder{hosts: map[string]int{}, next: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	hc := &http.Client{Transport: rec}
	t.Setenv("AZURE_AUTHORITY_HOST", srv.URL)

	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("eyJhbGciOiJSUzI1NiJ9.e30.sig"), 0o600); err != nil {
		t.Fatal(err)
	}
	tenant := "72f988bf-86f1-41af-91ab-2d7cd011db47"
	for _, tc := range []struct {
		name   string
		secret map[string][]byte
	}{
		{"client secret", map[string][]byte{"tenantId": []byte(tenant), "clientId": []byte(emulator.OperatorApplicationID), "clientSecret": []byte("s3cret")}},
		{"workload identity", map[string][]byte{"tenantId": []byte(tenant), "clientId": []byte(emulator.OperatorApplicationID), "federatedTokenFile": []byte(tokenFile)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cred, err := dataverse.CredentialFromSecret(tc.secret, dataverse.CredentialOptions{HTTPClient: hc})
			ok(t, err)
			opts := dataverse.DefaultOptions()
			opts.PowerPlatformAPIURL = srv.URL
			conn, err := dataverse.NewConnector(opts, hc, prometheus.NewRegistry())
			ok(t, err)
			cl, err := conn.Environment(srv.URL+"/env/contoso", cred)
			ok(t, err)
			who := must(cl.WhoAmI(context.Background()))
			if who.UserID == "" {
				t.Fatalf("whoami %+v", who)
			}
			// The admin API takes a token of its own scope.
			admin, err := conn.Admin(cred)
			ok(t, err)
			ok(t, admin.AddUser(context.Background(), emu.EnvironmentID("contoso"), "0f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a"))
		})
	}
	u, _ := url.Parse(srv.URL)
	if d := cmp.Diff([]string{u.Host}, keys(rec.hosts)); d != "" {
		t.Fatalf("hosts contacted (-want +got):\n%s", d)
	}
	var sawDiscovery, sawToken bool
	for _, p := range rec.paths {
		sawDiscovery = sawDiscovery || strings.HasSuffix(p, "/v2.0/.well-known/openid-configuration")
		sawToken = sawToken || strings.HasSuffix(p, "/oauth2/v2.0/token")
	}
	if !sawDiscovery || !sawToken {
		t.Fatalf("azidentity did not use the emulator's discovery and token endpoints: %v", rec.paths)
	}

	// A wrong secret is refused by the token endpoint: Unauthorized, not retried forever.
	cred, err := dataverse.CredentialFromSecret(map[string][]byte{"tenantId": []byte(tenant), "clientId": []byte(emulator.OperatorApplicationID), "clientSecret": []byte("wrong")},
		dataverse.CredentialOptions{HTTPClient: hc})
	ok(t, err)
	opts := dataverse.DefaultOptions()
	opts.MaxRetries = 0
	conn, err := dataverse.NewConnector(opts, hc, nil)
	ok(t, err)
	cl, err := conn.Environment(srv.URL+"/env/contoso", cred)
	ok(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cl.WhoAmI(ctx); !errors.Is(err, dataverse.ErrUnauthorized) {
		t.Fatalf("wrong secret: %v", err)
	}
}

func keys(m map[string]int) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestCredentialFromSecretRefuses names what the Secret lacks.
func TestCredentialFromSecretRefuses(t *testing.T) {
	t.Setenv("AZURE_AUTHORITY_HOST", "https://127.0.0.1:1/")
	for _, tc := range []struct {
		name string
		data map[string][]byte
		want string
	}{
		{"empty", nil, "credentials secret lacks tenantId, clientId, clientSecret or federatedTokenFile"},
		{"no secret", map[string][]byte{"tenantId": []byte("t"), "clientId": []byte("c")}, "credentials secret lacks clientSecret or federatedTokenFile"},
		{"both", map[string][]byte{"tenantId": []byte("t"), "clientId": []byte("c"), "clientSecret": []byte("s"), "federatedTokenFile": []byte("/f")},
			"credentials secret holds both clientSecret and federatedTokenFile; keep one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dataverse.CredentialFromSecret(tc.data, dataverse.CredentialOptions{})
			got := ""
			if err != nil {
				got = err.Error()
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("(-want +got):\n%s", d)
			}
		})
	}
	// An http authority host is refused (azidentity requires https).
	if _, err := dataverse.CredentialFromSecret(map[string][]byte{"tenantId": []byte("t"), "clientId": []byte("c"), "clientSecret": []byte("s")},
		dataverse.CredentialOptions{AuthorityHost: "http://127.0.0.1:1"}); err == nil {
		t.Fatal("http authority host accepted")
	}
}
