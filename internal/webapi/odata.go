package webapi

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// Page is one answer of an OData collection query.
type Page[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"@odata.nextLink"`
}

// maxPages stops a service that keeps sending nextLinks.
const maxPages = 100000

// List reads every page of a collection, following @odata.nextLink only (neither Dataverse nor
// Graph directory objects support $skip), with header on every request (Dataverse's Prefer:
// odata.maxpagesize). A nextLink is followed only on the transport's host.
func List[T any](ctx context.Context, t *Transport, op, first string, header http.Header) ([]T, error) {
	var all []T
	next := first
	for pages := 0; next != ""; pages++ {
		if pages > maxPages {
			return nil, t.errorf(op, "more than %d pages; the service keeps sending nextLinks", maxPages)
		}
		var p Page[T]
		c := &Call{Op: op, Method: http.MethodGet, URL: next, Idempotent: true, Out: &p, Header: header}
		if err := t.Do(ctx, c); err != nil {
			return nil, err
		}
		all = append(all, p.Value...)
		next = p.NextLink
	}
	return all, nil
}

// Query builds <base><path>?<params> (params as name, value pairs) with OData's own escaping of
// the values: spaces as %20, quotes kept as %27. Names are written as given ($select, $filter).
func Query(base, path string, params ...string) string {
	if len(params) == 0 {
		return base + path
	}
	var b strings.Builder
	b.WriteString(base)
	b.WriteString(path)
	for i := 0; i+1 < len(params); i += 2 {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(params[i])
		b.WriteByte('=')
		b.WriteString(EscapeQuery(params[i+1]))
	}
	return b.String()
}

// EscapeQuery escapes a query value, spaces as %20 (OData's parsers do not all read + as a space).
func EscapeQuery(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// QuoteString makes an OData string literal: single quotes doubled, in single quotes.
func QuoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
