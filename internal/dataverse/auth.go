package dataverse

import (
	"net/http"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// Keys of the credentials Secret (Environment.spec.dataverse.credentialsSecretRef).
const (
	SecretTenantID           = webapi.SecretTenantID
	SecretClientID           = webapi.SecretClientID
	SecretClientSecret       = webapi.SecretClientSecret
	SecretFederatedTokenFile = webapi.SecretFederatedTokenFile
)

// CredentialOptions configure CredentialFromSecret (webapi.CredentialOptions).
type CredentialOptions = webapi.CredentialOptions

// NewHTTPClient is the client every Dataverse, admin API and login request goes through
// (webapi.NewHTTPClient): HTTPS_PROXY/NO_PROXY and the system trust store (SSL_CERT_FILE).
func NewHTTPClient() *http.Client { return webapi.NewHTTPClient() }

// CredentialFromSecret builds the credential a Secret's data describes (webapi.CredentialFromSecret):
// a client secret or workload identity.
func CredentialFromSecret(data map[string][]byte, o CredentialOptions) (azcore.TokenCredential, error) {
	return webapi.CredentialFromSecret(data, o)
}
