package webapi

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Keys of a credentials Secret (Environment.spec.dataverse.credentialsSecretRef, and the Entra
// target's, which defaults to it: one app registration usually serves Dataverse and Graph).
const (
	SecretTenantID           = "tenantId"
	SecretClientID           = "clientId"
	SecretClientSecret       = "clientSecret"
	SecretFederatedTokenFile = "federatedTokenFile"
)

// maxIdleConnsPerHost keeps as many connections open per host as the busiest service takes
// requests in flight (Dataverse's 52, Microsoft Learn "Service protection API limits").
const maxIdleConnsPerHost = 52

// NewHTTPClient is the client every Dataverse, admin API, Graph and login request goes through: the proxy
// from HTTPS_PROXY/NO_PROXY (enterprise clusters reach Microsoft through one) and the system trust
// store, which Go reads from SSL_CERT_FILE/SSL_CERT_DIR when set. No overall timeout here: each
// request carries its own through its context.
func NewHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          256,
		// The default of 2 idle connections per host would make every request above two in flight
		// open a new TLS connection.
		MaxIdleConnsPerHost: maxIdleConnsPerHost,
	}}
}

// publicLoginHosts are the Entra ID authority hosts of the public and national clouds (the hosts
// MSAL trusts without instance discovery).
var publicLoginHosts = map[string]bool{
	"login.microsoftonline.com": true, "login.microsoft.com": true, "login.windows.net": true,
	"sts.windows.net": true, "login.microsoftonline.us": true, "login-us.microsoftonline.com": true,
	"login.usgovcloudapi.net": true, "login.chinacloudapi.cn": true, "login.partner.microsoftonline.cn": true,
	"login.microsoftonline.de": true,
}

// CredentialOptions configure CredentialFromSecret.
type CredentialOptions struct {
	// HTTPClient carries token requests (nil: NewHTTPClient()).
	HTTPClient *http.Client
	// AuthorityHost is the Entra ID login host URL; empty means AZURE_AUTHORITY_HOST, then the
	// public cloud's.
	AuthorityHost string
}

// authorityHost resolves the login host and whether instance discovery must be off: for a host
// that is not a public cloud's (a sovereign deployment, or the emulator), MSAL would otherwise ask
// login.microsoftonline.com about it first.
func (o CredentialOptions) authorityHost() (host string, disableDiscovery bool, err error) {
	host = o.AuthorityHost
	if host == "" {
		host = os.Getenv("AZURE_AUTHORITY_HOST")
	}
	if host == "" {
		return cloud.AzurePublic.ActiveDirectoryAuthorityHost, false, nil
	}
	u, err := url.Parse(host)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", false, fmt.Errorf("authority host %q: must be an https URL", host)
	}
	if !strings.HasSuffix(host, "/") {
		host += "/"
	}
	return host, !publicLoginHosts[strings.ToLower(u.Hostname())], nil
}

// CredentialFromSecret builds the credential a Secret's data describes:
//   - tenantId, clientId, clientSecret: an app registration's client secret;
//   - tenantId, clientId, federatedTokenFile: workload identity, the path of a projected service
//     account token the app registration federates with.
func CredentialFromSecret(data map[string][]byte, o CredentialOptions) (azcore.TokenCredential, error) {
	get := func(k string) string { return strings.TrimSpace(string(data[k])) }
	tenant, client, secret, tokenFile := get(SecretTenantID), get(SecretClientID), get(SecretClientSecret), get(SecretFederatedTokenFile)
	var missing []string
	if tenant == "" {
		missing = append(missing, SecretTenantID)
	}
	if client == "" {
		missing = append(missing, SecretClientID)
	}
	if secret == "" && tokenFile == "" {
		missing = append(missing, SecretClientSecret+" or "+SecretFederatedTokenFile)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("credentials secret lacks %s", strings.Join(missing, ", "))
	}
	if secret != "" && tokenFile != "" {
		return nil, errors.New("credentials secret holds both clientSecret and federatedTokenFile; keep one")
	}
	host, noDiscovery, err := o.authorityHost()
	if err != nil {
		return nil, err
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = NewHTTPClient()
	}
	co := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: host},
		Transport: hc,
	}
	if secret != "" {
		return azidentity.NewClientSecretCredential(tenant, client, secret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions: co, DisableInstanceDiscovery: noDiscovery,
		})
	}
	return azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
		ClientOptions: co, DisableInstanceDiscovery: noDiscovery,
		TenantID: tenant, ClientID: client, TokenFilePath: tokenFile,
	})
}
