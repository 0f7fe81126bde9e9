package emulator

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Change tracking, as Microsoft Learn describes it ("Use change tracking to synchronize data with
// external systems", Web API): a list read with Prefer: odata.track-changes returns every row and,
// on its last page, an @odata.deltaLink whose $deltatoken names the moment of the read; reading
// the deltaLink returns only the rows created or changed since, and one
// {"@odata.context": "…/$deletedEntity", "id", "reason": "deleted"} entry per row deleted since,
// with a new deltaLink. $filter, $expand, $orderby and $top are not allowed with it, and it
// works only for tables whose ChangeTrackingEnabled is true (EntityDefinitions). A token too old
// for the service's retention is refused, and the client reads in full again; the answer's
// exact code is not documented, so the emulator refuses it with 400 and the operator's client
// takes any 400, 404 or 410 to a deltaLink as expiry.

func escape(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }

// trackParam carries, on the nextLinks of a change-tracking read, the version the read started at
// (the deltaLink on its last page names it). The service's nextLinks are opaque; so is this.
const trackParam = "trackfrom"

func wantsTrackChanges(prefs []string) bool {
	for _, p := range prefs {
		for _, part := range strings.Split(p, ",") {
			if strings.TrimSpace(part) == "odata.track-changes" {
				return true
			}
		}
	}
	return false
}

// deltaToken renders a token as the service does: "<version>!<MM/dd/yyyy HH:mm:ss>".
func deltaToken(version int, at time.Time) string {
	return strconv.Itoa(version) + "!" + at.UTC().Format("01/02/2006 15:04:05")
}

func parseDeltaToken(tok string) (int, bool) {
	v, _, _ := strings.Cut(tok, "!")
	n, err := strconv.Atoi(v)
	return n, err == nil && n >= 0
}

// writeDelta serves a change-tracking read of a top-level set: in full with a first deltaLink, or
// what changed since a $deltatoken.
func (e *Emulator) writeDelta(w http.ResponseWriter, r *http.Request, env *environment, set, base string) *apiErr {
	q := r.URL.Query()
	logical := entityNames[set]
	if logical == "" || env.untracked[logical] {
		return errf(http.StatusBadRequest, codeBadQuery, "Change tracking is not enabled for the %s entity", logical)
	}
	for _, p := range []string{"$filter", "$expand", "$orderby", "$top"} {
		if q.Has(p) {
			return errf(http.StatusBadRequest, codeBadQuery, "The query parameter %s is not supported with change tracking", p)
		}
	}
	from := -1 // a full read
	if tok := q.Get("$deltatoken"); tok != "" {
		v, ok := parseDeltaToken(tok)
		if !ok || v < env.deltaFloor || v > env.version {
			return errf(http.StatusBadRequest, codeBadQuery, "The delta token %q is expired or not valid: read the table again with Prefer: odata.track-changes", tok)
		}
		from = v
	}
	at := env.version
	if s := q.Get(trackParam); s != "" {
		if n, err := strconv.Atoi(s); err == nil {
			at = n
		}
	}
	rows := make([]record, 0)
	for _, rec := range env.sets[set] {
		if from < 0 || rec.num("versionnumber") > from {
			rows = append(rows, rec)
		}
	}
	d := &deltaPage{at: at}
	if from >= 0 {
		for _, t := range env.deleted[set] {
			if t.version > from {
				d.deleted = append(d.deleted, map[string]any{"@odata.context": base + "$metadata#" + set + "/$deletedEntity", "id": t.id, "reason": "deleted"})
			}
		}
	}
	// As the service writes it: "$select" and "$deltatoken" unescaped, the values escaped.
	link := "https://" + r.Host + r.URL.Path + "?"
	if sel := q.Get("$select"); sel != "" {
		link += "$select=" + escape(sel) + "&"
	}
	d.link = link + "$deltatoken=" + escape(deltaToken(at, e.cfg.Now()))
	return e.writePage(w, r, set, rows, base, d)
}

// entityDefinition serves EntityDefinitions(LogicalName='<name>') with the columns the operator
// reads: LogicalName, EntitySetName and ChangeTrackingEnabled.
func (e *Emulator) entityDefinition(w http.ResponseWriter, env *environment, rest, base string) *apiErr {
	arg, _, _ := strings.Cut(strings.TrimPrefix(rest, "EntityDefinitions("), ")")
	name, ok := strings.CutPrefix(arg, "LogicalName=")
	name = strings.ToLower(strings.Trim(name, "'"))
	set := ""
	for s, n := range entityNames {
		if n == name {
			set = s
		}
	}
	if !ok || set == "" {
		return errf(http.StatusNotFound, codeNotFound, "Could not find an entity with the specified key values: %s", arg)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": base + "$metadata#EntityDefinitions(LogicalName,EntitySetName,ChangeTrackingEnabled)/$entity",
		"LogicalName":    name, "EntitySetName": set, "ChangeTrackingEnabled": !env.untracked[name],
		"MetadataId": nameGUID("entity/" + name),
	})
	return nil
}

// ExpireDeltaTokens makes every delta token handed out so far in an environment expired, as the
// end of the service's retention does.
func (e *Emulator) ExpireDeltaTokens(envName string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	env, err := e.env(envName)
	if err != nil {
		return err
	}
	env.deltaFloor = env.nextVersion()
	return nil
}

// SetChangeTracking turns a table's change tracking on or off in an environment (logical name:
// systemuser, team, role), as a maker does in the table's settings.
func (e *Emulator) SetChangeTracking(envName, logicalName string, on bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	env, err := e.env(envName)
	if err != nil {
		return err
	}
	env.untracked[strings.ToLower(logicalName)] = !on
	return nil
}
