// Package dataverse is the operator's client of the Dataverse Web API (OData v4 at
// <environment URL>/api/data/v9.2/) and of the one Power Platform admin API call it needs
// (addUser). It holds no Kubernetes types. The HTTP machinery — tokens, the limiter per
// environment, retries honouring Retry-After, MaxWait, lost answers, host pinning, metrics — is
// internal/webapi's, shared with the Microsoft Graph client (internal/graph); this package names
// the service (its errors, headers, metric names) and builds its URLs.
//
// Wiring: one Connector per manager (NewConnector with Options bound to flags by BindFlags, the
// HTTP client from NewHTTPClient, and the manager's metrics registry), then per Environment a
// Client from Connector.Environment(url, credential) and, for interactive users,
// Connector.Admin(credential).AddUser.
//
// Credentials come from a Secret whose data CredentialFromSecret reads:
//
//	tenantId       the Entra ID tenant (directory) id
//	clientId       the app registration's application (client) id
//	clientSecret   a client secret of that app registration, or
//	federatedTokenFile  instead of clientSecret: the path of a projected service account token
//	               the app registration trusts (workload identity federation)
//
// Tokens are asked for the scope <environment URL>/.default (Dataverse) and
// https://service.powerapps.com/.default (admin API). AZURE_AUTHORITY_HOST selects another login
// host; for one that is not a public cloud's, instance discovery is turned off so MSAL never asks
// login.microsoftonline.com about it.
//
// Behaviour on the wire:
//   - collections are read page by page through @odata.nextLink with Prefer: odata.maxpagesize
//     (never $skip), and a nextLink is followed only on the environment's own host;
//   - writes that must not race carry If-Match with the record's @odata.etag; a stale one is
//     ErrPreconditionFailed, and RetryConflict re-reads and tries again;
//   - errors are *Error values matching ErrNotFound, ErrDuplicate, ErrPreconditionFailed,
//     ErrThrottled (RetryAfter set), ErrUnauthorized, ErrForbidden, ErrBadRequest, ErrServer or
//     ErrRateLimited with errors.Is, keeping the service's code and message;
//   - 429 is retried after Retry-After; a 5xx or no answer (dropped connection, attempt timeout)
//     is retried with exponential backoff only when resending cannot do a thing twice (reads,
//     PATCH, DELETE, ReplacePrivilegesRole, team membership actions); a create, a $ref
//     association or addUser whose outcome is unknown is not resent and answers ErrAnswerLost;
//   - no wait inside the client is longer than --dataverse-max-wait (default 5s): a longer
//     Retry-After or backoff returns the last error, a longer limiter wait returns
//     ErrRateLimited (nothing sent), both with the wait in RetryAfter(err);
//   - each environment has a token bucket (--dataverse-requests-per-minute) and a cap on requests
//     in flight (--dataverse-max-concurrent, below the service's 52);
//   - metrics dataverse_requests_total{environment,operation,code},
//     dataverse_request_duration_seconds, dataverse_throttled_total, dataverse_retries_total and
//     dataverse_limiter_wait_seconds.
package dataverse
