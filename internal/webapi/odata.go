package webapi

import (
	"context"
	"encoding/json"
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

// Delta is what a change-tracking read returned: the rows created or changed (all of them on a
// first read), the ids of the rows deleted since the token, and the deltaLink to read next.
type Delta[T any] struct {
	Rows    []T
	Deleted []string
	Link    string
}

// ListDelta reads a change-tracking collection to its last page (Microsoft Learn, "Use change
// tracking to synchronize data with external systems"): first is the collection's URL (sent with
// Prefer: odata.track-changes) or a deltaLink from an earlier read. Entries whose @odata.context
// ends in /$deletedEntity are deleted rows (their "id"); the deltaLink comes on the last page.
func ListDelta[T any](ctx context.Context, t *Transport, op, first string, header http.Header) (Delta[T], error) {
	var d Delta[T]
	h := header.Clone()
	if h == nil {
		h = http.Header{}
	}
	// One Prefer header, its preferences comma-separated (RFC 7240).
	h.Set("Prefer", strings.Join(append([]string{"odata.track-changes"}, h.Values("Prefer")...), ","))
	next := first
	for pages := 0; next != ""; pages++ {
		if pages > maxPages {
			return d, t.errorf(op, "more than %d pages; the service keeps sending nextLinks", maxPages)
		}
		var p struct {
			Value     []json.RawMessage `json:"value"`
			NextLink  string            `json:"@odata.nextLink"`
			DeltaLink string            `json:"@odata.deltaLink"`
		}
		c := &Call{Op: op, Method: http.MethodGet, URL: next, Idempotent: true, Out: &p, Header: h}
		if err := t.Do(ctx, c); err != nil {
			return d, err
		}
		for _, raw := range p.Value {
			var head struct {
				Context string `json:"@odata.context"`
				ID      string `json:"id"`
			}
			if err := json.Unmarshal(raw, &head); err != nil {
				return d, t.errorf(op, "a row of the answer is not an object: %v", err)
			}
			if strings.HasSuffix(head.Context, "/$deletedEntity") {
				d.Deleted = append(d.Deleted, head.ID)
				continue
			}
			var row T
			if err := json.Unmarshal(raw, &row); err != nil {
				return d, t.errorf(op, "decoding a row: %v", err)
			}
			d.Rows = append(d.Rows, row)
		}
		next, d.Link = p.NextLink, p.DeltaLink
	}
	if d.Link == "" {
		return d, t.errorf(op, "the last page carries no @odata.deltaLink: the service did not apply odata.track-changes")
	}
	return d, nil
}
