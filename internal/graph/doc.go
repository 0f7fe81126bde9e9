// Package graph is the operator's client of Microsoft Graph v1.0 for the Entra ID facts that
// decide enablement (EN1): a person's sign-in and licenses, direct membership of groups, and the
// tenant's license units. It holds no Kubernetes types. The HTTP machinery (tokens, limiter,
// retries, MaxWait, lost answers, metrics) is internal/webapi's, shared with internal/dataverse.
//
// Wiring: one Connector per manager (NewConnector with Options bound to flags by BindFlags —
// --graph-url and --graph-requests-per-minute, --graph-burst, --graph-max-concurrent,
// --graph-timeout, --graph-max-retries, --graph-max-wait — the HTTP client from
// webapi.NewHTTPClient, which honours HTTPS_PROXY/NO_PROXY and SSL_CERT_FILE, and the manager's
// metrics registry), then per tenant a Client from Connector.Tenant(tenantID, credential). The
// credential is webapi.CredentialFromSecret's (the same Secret keys as Dataverse's: tenantId,
// clientId, clientSecret or federatedTokenFile); tokens are asked for Scope,
// https://graph.microsoft.com/.default.
//
// Operations and the application permission each needs (Permission(op); a 403's *Error names
// it): User and Users (User.Read.All); GroupMembers, GroupsByName, Group, ResolveGroup
// (GroupMember.Read.All); AddMember, RemoveMember (GroupMember.ReadWrite.All); SubscribedSkus
// (Organization.Read.All); AssignLicense (LicenseAssignment.ReadWrite.All).
//
// Behaviour on the wire:
//   - collections are read page by page through @odata.nextLink, followed only on Graph's host;
//   - person reads in bulk go in POST /$batch requests of at most 20, each sub-answer checked on
//     its own (404 absent, 429 sent again after its Retry-After, anything else an error);
//   - a member is removed only with DELETE /groups/{id}/members/{userId}/$ref (the client has no
//     other DELETE: without /$ref the same URL deletes the user); "already a member" and "not a
//     member" answers count as done;
//   - errors are *Error values matching ErrNotFound, ErrForbidden, ErrThrottled, ErrUnauthorized,
//     ErrBadRequest (with ErrNoUsageLocation, ErrNoLicensesLeft or ErrLicenseByGroup for
//     AssignLicense), ErrServer, ErrAnswerLost or ErrRateLimited with errors.Is, keeping Graph's
//     code, message and request id;
//   - AddMember and AssignLicense are not resent after an unknown outcome (ErrAnswerLost); reads,
//     $batch reads and RemoveMember are;
//   - each tenant has a token bucket and a cap on requests in flight; metrics
//     graph_requests_total{tenant,operation,code}, graph_request_duration_seconds,
//     graph_throttled_total, graph_retries_total and graph_limiter_wait_seconds.
package graph
