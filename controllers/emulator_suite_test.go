package controllers_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/accessplane/dataverse-access-operator/controllers"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
	"github.com/accessplane/dataverse-access-operator/internal/dvsync"
	"github.com/accessplane/dataverse-access-operator/internal/entrasync"
	"github.com/accessplane/dataverse-access-operator/internal/graph"
	"github.com/prometheus/client_golang/prometheus"
)

// The in-process Dataverse emulator every manager of the suite reaches over real HTTPS. Tests
// add their own environments to it (one per spec), so specs never share records.
var (
	emu            *emulator.Emulator
	emulatorServer *httptest.Server
)

const staticToken = "controllers-suite-token"

func startEmulator() {
	emu = emulator.New(emulator.Config{StaticTokens: []string{staticToken}})
	emulatorServer = httptest.NewTLSServer(emu)
}

// staticCredential hands out the emulator's static token: nothing in a test reaches a login host.
type staticCredential struct{}

func (staticCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: staticToken, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// emulatorHTTPClient trusts the emulator's test CA, and nothing else.
func emulatorHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: emulatorServer.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}}
}

func dataversePool(secrets client.Reader) *dvsync.Pool {
	opts := dataverse.DefaultOptions()
	opts.PowerPlatformAPIURL = emulatorServer.URL
	opts.RequestsPerMinute = 60000
	opts.Burst = 1000
	opts.BackoffBase, opts.BackoffMax = 10*time.Millisecond, 200*time.Millisecond
	conn, err := dataverse.NewConnector(opts, emulatorHTTPClient(), prometheus.NewRegistry())
	Expect(err).NotTo(HaveOccurred())
	p := dvsync.NewPool(conn, controllers.SecretsFrom(secrets))
	p.Credential = func(map[string][]byte) (azcore.TokenCredential, error) { return staticCredential{}, nil }
	// Users added from Entra ID are looked for again within a second: specs that wait for one set
	// their emulated environment's Entra sync delay to a few seconds.
	p.EntraSyncWait = time.Second
	return p
}

// entraPool is the Entra ID target's pool over the emulator's Graph (/graph/v1.0), with its
// static token: nothing reaches Microsoft Graph or a login host.
func entraPool(secrets client.Reader) *entrasync.Pool {
	opts := graph.DefaultOptions()
	opts.URL = emulatorServer.URL + "/graph/v1.0"
	opts.RequestsPerMinute = 60000
	opts.Burst = 1000
	opts.BackoffBase, opts.BackoffMax = 10*time.Millisecond, 200*time.Millisecond
	conn, err := graph.NewConnector(opts, emulatorHTTPClient(), prometheus.NewRegistry())
	Expect(err).NotTo(HaveOccurred())
	p := controllers.NewEntraPool(conn, secrets)
	p.Credential = func(map[string][]byte) (azcore.TokenCredential, error) { return staticCredential{}, nil }
	return p
}

// dataverseURL is the emulator's URL of environment name.
func dataverseURL(name string) string { return emulatorServer.URL + "/env/" + name }
