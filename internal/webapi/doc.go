// Package webapi is the HTTP machinery the operator's clients of Microsoft's web APIs share: the
// Dataverse Web API and admin API client (internal/dataverse) and the Microsoft Graph client
// (internal/graph). It holds no Kubernetes types and knows no service's resources; each client
// names its service (Service: its name in errors, the prefix of its flags, its headers, how it
// decodes an error answer into its own typed errors, its metric names) and builds its URLs.
//
// What it does for every request:
//   - a token per scope from an azcore.TokenCredential, sent only to the host the client was made
//     for (a nextLink or a URL elsewhere is refused, so the token never leaves that host);
//   - a limiter per key (an environment, the admin API, a tenant): a token bucket for the rate and a
//     cap on requests in flight (Engine.Transport);
//   - a timeout per attempt, retries of what may be retried (a 429 after its Retry-After; a 5xx,
//     a dropped connection or a timed-out attempt only for idempotent calls), exponential backoff
//     with jitter otherwise; a change that is not idempotent and whose outcome is unknown is never
//     resent: it answers the client's ErrAnswerLost;
//   - no wait inside the client longer than Limits.MaxWait (or the context's deadline): a longer
//     Retry-After or backoff returns the last error, a longer limiter wait the client's
//     ErrRateLimited (nothing sent), both with the wait in RetryAfter(err);
//   - an answer body read up to MaxBody;
//   - metrics <prefix>_requests_total, <prefix>_request_duration_seconds, <prefix>_throttled_total,
//     <prefix>_retries_total and <prefix>_limiter_wait_seconds, by the client's key label.
//
// OData helpers (List, Query, QuoteString) serve both services, which speak OData v4 JSON and page
// only through @odata.nextLink. Credentials come from a Secret's data (CredentialFromSecret) and
// every request goes through NewHTTPClient, which honours HTTPS_PROXY/NO_PROXY and SSL_CERT_FILE.
package webapi
