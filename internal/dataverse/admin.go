package dataverse

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// AdminClient calls the Power Platform admin API (api.bap.microsoft.com) for the one thing the Web
// API cannot do: bring an Entra ID user into an environment.
type AdminClient struct {
	t    *webapi.Transport
	base string
}

// Admin returns an admin API client authenticated by cred for the admin API's scope.
func (c *Connector) Admin(cred azcore.TokenCredential) (*AdminClient, error) {
	u, err := url.Parse(c.opts.PowerPlatformAPIURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("power platform API URL %q: must be an absolute https URL", c.opts.PowerPlatformAPIURL)
	}
	host := strings.ToLower(u.Host)
	return &AdminClient{
		t: c.engine.Transport(webapi.Endpoint{Key: "admin:" + host, Label: "admin:" + host, Name: host, Host: host,
			Scope: PowerPlatformAPIScope, Cred: cred}),
		base: strings.TrimRight(u.String(), "/"),
	}, nil
}

// AddUser asks the service to sync an Entra ID user into the environment. The user shows up in
// systemusers only later (minutes on the real service): read it back by its object id. It is sent
// as a change that is not resent: a 5xx or a lost answer is ErrAnswerLost (asking again is
// harmless, but the caller decides, after looking the user up).
func (a *AdminClient) AddUser(ctx context.Context, environmentID, objectID string) error {
	if err := checkIDs("AddUser", objectID); err != nil {
		return err
	}
	u, err := a.environmentURL("AddUser", environmentID, "/addUser?api-version=2023-06-01")
	if err != nil {
		return err
	}
	return a.t.Do(ctx, &webapi.Call{Op: "AddUser", Method: http.MethodPost, URL: u, Body: map[string]string{"objectId": objectID}})
}

// SecurityGroup is the Entra security group that gates the environment, as the admin API reports
// it in properties.linkedEnvironmentMetadata.securityGroupId of GET
// …/scopes/admin/environments/{id} (Microsoft's Terraform provider for Power Platform reads the
// same field); "" when it has none (absent, empty or the zero GUID).
func (a *AdminClient) SecurityGroup(ctx context.Context, environmentID string) (string, error) {
	u, err := a.environmentURL("SecurityGroup", environmentID, "?api-version=2021-04-01")
	if err != nil {
		return "", err
	}
	var env struct {
		Properties struct {
			LinkedEnvironmentMetadata struct {
				SecurityGroupID string `json:"securityGroupId"`
			} `json:"linkedEnvironmentMetadata"`
		} `json:"properties"`
	}
	if err := a.t.Do(ctx, &webapi.Call{Op: "GetEnvironment", Method: http.MethodGet, URL: u, Idempotent: true, Out: &env}); err != nil {
		return "", err
	}
	id := strings.ToLower(env.Properties.LinkedEnvironmentMetadata.SecurityGroupID)
	if id == "00000000-0000-0000-0000-000000000000" {
		id = ""
	}
	return id, nil
}

// environmentURL is the admin API's URL of an environment, with suffix (a path and the query).
func (a *AdminClient) environmentURL(op, environmentID, suffix string) (string, error) {
	if environmentID == "" || strings.ContainsAny(environmentID, "/?#") {
		return "", fmt.Errorf("dataverse %s: bad environment id %q", op, environmentID)
	}
	return a.base + "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/" + url.PathEscape(environmentID) + suffix, nil
}
