package emulator

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Error codes (docs/design.md, "Sync target"; Microsoft Learn "Web service error codes").
const (
	codeNotFound      = "0x80040217"
	codeDuplicate     = "0x80040237"
	codeStaleETag     = "0x80060882"
	codeInvalidArg    = "0x80040203"
	codeBadQuery      = "0x80060888"
	codeNotInOrg      = "0x80072560"
	codeUnexpected    = "0x80040216"
	maxPageSize       = 5000
	apiRoot           = "/api/data/v9.2/"
	msgInteractiveOff = "The isdisabled of a user synchronized from Microsoft Entra ID cannot be changed here: it follows the user's sign-in, license and security group membership in Entra ID."
)

type apiErr struct {
	status        int
	code, message string
}

func (e *apiErr) Error() string { return e.message }

func errf(status int, code, format string, a ...any) *apiErr {
	return &apiErr{status: status, code: code, message: fmt.Sprintf(format, a...)}
}

func notFound(entity, id string) *apiErr {
	return errf(http.StatusNotFound, codeNotFound, "%s With Id = %s Does Not Exist", entity, id)
}

var entityNames = map[string]string{
	"systemusers": "systemuser", "roles": "role", "teams": "team", "businessunits": "businessunit",
	"privileges": "privilege", "privilegeobjecttypecodes": "privilegeobjecttypecode",
}

// resource is a parsed Web API path: set, set(key), set(key)/nav, set(key)/nav/$ref,
// set(key)/Microsoft.Dynamics.CRM.Action, or a function call.
type resource struct {
	set, key, altField, nav string
	ref                     bool
}

func parseResource(p string) (resource, error) {
	var r resource
	head, tail, _ := strings.Cut(p, "/")
	if i := strings.IndexByte(head, '('); i >= 0 {
		if !strings.HasSuffix(head, ")") {
			return r, fmt.Errorf("bad key in %q", head)
		}
		r.set = head[:i]
		k := head[i+1 : len(head)-1]
		if f, v, ok := strings.Cut(k, "="); ok {
			r.altField = strings.ToLower(f)
			k = strings.Trim(v, "'")
		}
		r.key = strings.ToLower(k)
	} else {
		r.set = head
	}
	if tail != "" {
		nav, rest, _ := strings.Cut(tail, "/")
		r.nav = nav
		if rest == "$ref" {
			r.ref = true
		} else if rest != "" {
			return r, fmt.Errorf("unsupported path %q", p)
		}
	}
	return r, nil
}

func (e *Emulator) serveDataverse(w http.ResponseWriter, r *http.Request, env *environment, rest string, tok token) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, codeInvalidArg, err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.cfg.Now()
	e.syncEntra(env, now)
	caller := env.appUser(tok.clientID)
	if caller == nil {
		// An app registration without an application user in the environment (docs/design.md,
		// "Sync target": "the app registration must exist as an application user with a role in
		// the environment").
		writeError(w, http.StatusForbidden, codeNotInOrg, "The user is not a member of the organization.")
		return
	}
	base := "https://" + r.Host + "/env/" + env.name + apiRoot
	if aerr := e.route(w, r, env, rest, body, base, caller, now); aerr != nil {
		writeError(w, aerr.status, aerr.code, aerr.message)
	}
}

func (e *Emulator) route(w http.ResponseWriter, r *http.Request, env *environment, rest string, body []byte, base string, caller record, now time.Time) *apiErr {
	q := r.URL.Query()
	if q.Has("$skip") {
		// Microsoft Learn, "Page results using OData": Dataverse does not support $skip.
		return errf(http.StatusBadRequest, codeBadQuery, "The query parameter $skip is not supported")
	}
	switch {
	case rest == "WhoAmI" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, map[string]any{
			"@odata.context": base + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
			"BusinessUnitId": caller.str("_businessunitid_value"), "UserId": caller.str("systemuserid"), "OrganizationId": env.orgID,
		})
		return nil
	case strings.HasPrefix(rest, "EntityDefinitions(") && r.Method == http.MethodGet:
		return e.entityDefinition(w, env, rest, base)
	case strings.HasPrefix(rest, "RetrieveRolePrivilegesRole(") && r.Method == http.MethodGet:
		arg := strings.TrimSuffix(strings.TrimPrefix(rest, "RetrieveRolePrivilegesRole("), ")")
		id := strings.ToLower(strings.TrimPrefix(arg, "RoleId="))
		return e.retrieveRolePrivileges(w, env, id, base)
	}
	if rows, ok := env.intersectRows(rest); ok {
		if r.Method != http.MethodGet {
			// The intersect tables are written through their relationships' $ref only.
			return errf(http.StatusMethodNotAllowed, codeBadQuery, "%s not allowed on %s", r.Method, rest)
		}
		return e.writeList(w, r, rest, rows, base)
	}
	res, err := parseResource(rest)
	if err != nil {
		return errf(http.StatusBadRequest, codeBadQuery, "%v", err)
	}
	if _, ok := keys[res.set]; !ok {
		return errf(http.StatusNotFound, codeBadQuery, "Resource not found for the segment '%s'.", res.set)
	}
	if res.key == "" {
		switch r.Method {
		case http.MethodGet:
			if q.Has("$deltatoken") || wantsTrackChanges(r.Header.Values("Prefer")) || q.Has(trackParam) {
				return e.writeDelta(w, r, env, res.set, base)
			}
			rows := make([]record, 0, len(env.sets[res.set]))
			for _, rec := range env.sets[res.set] {
				rows = append(rows, rec)
			}
			return e.writeList(w, r, res.set, rows, base)
		case http.MethodPost:
			return e.create(w, env, res.set, body, base, now)
		}
		return errf(http.StatusMethodNotAllowed, codeBadQuery, "%s not allowed on %s", r.Method, res.set)
	}
	rec, aerr := env.lookup(res)
	if aerr != nil {
		return aerr
	}
	id := rec.str(keys[res.set])
	switch {
	case res.nav == "" && r.Method == http.MethodGet:
		writeJSON(w, http.StatusOK, project(rec, keys[res.set], q.Get("$select"), base+"$metadata#"+res.set+"/$entity"))
		return nil
	case res.nav == "" && r.Method == http.MethodPatch:
		return e.update(w, r, env, res.set, rec, body, now)
	case res.nav == "" && r.Method == http.MethodDelete:
		return e.delete(w, env, res.set, id)
	case strings.HasPrefix(res.nav, "Microsoft.Dynamics.CRM.") && r.Method == http.MethodPost:
		return e.action(w, env, res.set, id, strings.TrimPrefix(res.nav, "Microsoft.Dynamics.CRM."), body)
	case res.ref && r.Method == http.MethodPost:
		return e.associate(w, env, res.set, id, res.nav, body)
	case res.ref && r.Method == http.MethodDelete:
		return e.disassociate(w, env, res.set, id, res.nav, q.Get("$id"))
	case !res.ref && r.Method == http.MethodGet:
		set, ids, aerr := env.navigate(res.set, id, res.nav)
		if aerr != nil {
			return aerr
		}
		rows := make([]record, 0, len(ids))
		for id := range ids {
			if rec := env.sets[set][id]; rec != nil {
				rows = append(rows, rec)
			}
		}
		return e.writeList(w, r, set, rows, base)
	}
	return errf(http.StatusMethodNotAllowed, codeBadQuery, "%s not allowed on %s", r.Method, rest)
}

func (env *environment) lookup(res resource) (record, *apiErr) {
	if res.altField == "" {
		if rec := env.sets[res.set][res.key]; rec != nil {
			return rec, nil
		}
		return nil, notFound(entityNames[res.set], res.key)
	}
	// Alternate key, e.g. systemusers(azureactivedirectoryobjectid=<guid>).
	if res.set != "systemusers" || res.altField != "azureactivedirectoryobjectid" {
		return nil, errf(http.StatusBadRequest, codeBadQuery, "%s is not an alternate key of %s", res.altField, res.set)
	}
	for _, rec := range env.sets[res.set] {
		if strings.EqualFold(rec.str(res.altField), res.key) {
			return rec, nil
		}
	}
	return nil, errf(http.StatusNotFound, codeNotFound, "A record with the specified key values does not exist in %s entity", entityNames[res.set])
}

func (env *environment) appUser(clientID string) record {
	for _, u := range env.sets["systemusers"] {
		if strings.EqualFold(u.str("applicationid"), clientID) && u.num("deletedstate") == 0 {
			return u
		}
	}
	return nil
}

// writeList filters, projects and pages: the page size is Prefer: odata.maxpagesize (at most
// 5,000), acknowledged by Preference-Applied; the next page is only reachable through
// @odata.nextLink (Microsoft Learn, "Page results using OData").
func (e *Emulator) writeList(w http.ResponseWriter, r *http.Request, set string, rows []record, base string) *apiErr {
	return e.writePage(w, r, set, rows, base, nil)
}

// deltaPage is what a change-tracking read adds to its pages: the rows deleted since its token
// and the deltaLink, both on the last page only.
type deltaPage struct {
	deleted []map[string]any
	link    string
	// at is the version the read started at, carried on its nextLinks (trackParam).
	at int
}

func (e *Emulator) writePage(w http.ResponseWriter, r *http.Request, set string, rows []record, base string, delta *deltaPage) *apiErr {
	q := r.URL.Query()
	if f := q.Get("$filter"); f != "" {
		ex, err := parseFilter(f)
		if err != nil {
			return errf(http.StatusBadRequest, codeBadQuery, "Invalid $filter: %v", err)
		}
		kept := rows[:0]
		for _, rec := range rows {
			if ex.eval(rec) {
				kept = append(kept, rec)
			}
		}
		rows = kept
	}
	key := keys[set]
	if key == "" {
		key = intersectKeys[set]
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].str(key) < rows[j].str(key) })
	if after := q.Get("$skiptoken"); after != "" {
		i := sort.Search(len(rows), func(i int) bool { return rows[i].str(key) > after })
		rows = rows[i:]
	}
	if top := q.Get("$top"); top != "" {
		n, err := strconv.Atoi(top)
		if err != nil || n < 0 {
			return errf(http.StatusBadRequest, codeBadQuery, "Invalid $top")
		}
		rows = rows[:min(n, len(rows))]
	}
	size := maxPageSize
	var applied []string
	if n, ok := maxPageSizePreference(r.Header.Values("Prefer")); ok {
		if n > 0 && n <= maxPageSize {
			size = n
			applied = append(applied, "odata.maxpagesize="+strconv.Itoa(n))
		}
	}
	out := map[string]any{"@odata.context": base + "$metadata#" + set}
	if delta != nil {
		out["@odata.context"] = base + "$metadata#" + set + "/$delta"
		if wantsTrackChanges(r.Header.Values("Prefer")) {
			applied = append(applied, "odata.track-changes")
		}
	}
	if len(applied) > 0 {
		w.Header().Set("Preference-Applied", strings.Join(applied, ","))
	}
	page := rows[:min(size, len(rows))]
	vals := make([]map[string]any, len(page), len(page)+1)
	for i, rec := range page {
		vals[i] = project(rec, key, q.Get("$select"), "")
	}
	if len(rows) > size {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Set("$skiptoken", page[len(page)-1].str(key))
		if delta != nil {
			nq.Set(trackParam, strconv.Itoa(delta.at))
		}
		u := *r.URL
		u.RawQuery = strings.ReplaceAll(nq.Encode(), "+", "%20")
		out["@odata.nextLink"] = "https://" + r.Host + u.RequestURI()
	} else if delta != nil {
		vals = append(vals, delta.deleted...)
		out["@odata.deltaLink"] = delta.link
	}
	out["value"] = vals
	writeJSON(w, http.StatusOK, out)
	return nil
}

func maxPageSizePreference(prefs []string) (int, bool) {
	for _, p := range prefs {
		for _, part := range strings.Split(p, ",") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(part), "odata.maxpagesize="); ok {
				n, err := strconv.Atoi(v)
				return n, err == nil
			}
		}
	}
	return 0, false
}

// project renders a record: every field, or the $select ones plus the key, always with
// @odata.etag.
func project(rec record, key, sel, context string) map[string]any {
	out := map[string]any{"@odata.etag": etag(rec)}
	if context != "" {
		out["@odata.context"] = context
	}
	if sel == "" {
		for k, v := range rec {
			out[k] = v
		}
		return out
	}
	out[key] = rec[key]
	for _, f := range strings.Split(sel, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if v, ok := rec[f]; ok {
			out[f] = v
		}
	}
	return out
}

// navigate lists the ids on the other side of a collection-valued navigation property.
func (env *environment) navigate(set, id, nav string) (string, map[string]bool, *apiErr) {
	switch {
	case set == "systemusers" && nav == "systemuserroles_association":
		return "roles", env.userRoles[id], nil
	case set == "teams" && nav == "teamroles_association":
		return "roles", env.teamRoles[id], nil
	case set == "teams" && nav == "teammembership_association":
		return "systemusers", env.teamMembers[id], nil
	case set == "systemusers" && nav == "teammembership_association":
		teams := map[string]bool{}
		for t, m := range env.teamMembers {
			if m[id] {
				teams[t] = true
			}
		}
		return "teams", teams, nil
	case set == "roles" && nav == "systemuserroles_association":
		users := map[string]bool{}
		for u, m := range env.userRoles {
			if m[id] {
				users[u] = true
			}
		}
		return "systemusers", users, nil
	}
	return "", nil, errf(http.StatusBadRequest, codeBadQuery, "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'", nav, entityNames[set])
}

// bindID reads "<set>(<id>)" out of an @odata.bind or @odata.id value (relative or absolute).
func bindID(v any, want string) (string, bool) {
	s, ok := v.(string)
	if !ok {
		return "", false
	}
	i := strings.LastIndex(s, want+"(")
	if i < 0 || !strings.HasSuffix(s, ")") {
		return "", false
	}
	id := strings.ToLower(s[i+len(want)+1 : len(s)-1])
	return id, guidRE.MatchString(id)
}

func decodeBody(body []byte) (map[string]any, *apiErr) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, errf(http.StatusBadRequest, codeBadQuery, "Invalid JSON in the request body: %v", err)
	}
	return m, nil
}

func (env *environment) boundUnit(m map[string]any, field string, required bool) (string, *apiErr) {
	v, ok := m[field+"@odata.bind"]
	if !ok {
		if required {
			return "", errf(http.StatusBadRequest, codeInvalidArg, "%s is required", field)
		}
		return "", nil
	}
	id, ok := bindID(v, "businessunits")
	if !ok {
		return "", errf(http.StatusBadRequest, codeBadQuery, "bad %s@odata.bind %v", field, v)
	}
	if env.sets["businessunits"][id] == nil {
		return "", notFound("businessunit", id)
	}
	return id, nil
}

func intField(m map[string]any, k string, def int) (int, *apiErr) {
	v, ok := m[k]
	if !ok || v == nil {
		return def, nil
	}
	f, ok := v.(float64)
	if !ok || f != float64(int(f)) {
		return 0, errf(http.StatusBadRequest, codeBadQuery, "%s must be an integer", k)
	}
	return int(f), nil
}

// create answers 204 with OData-EntityId (Microsoft Learn, "Create a table row using the Web API").
func (e *Emulator) create(w http.ResponseWriter, env *environment, set string, body []byte, base string, now time.Time) *apiErr {
	m, aerr := decodeBody(body)
	if aerr != nil {
		return aerr
	}
	var id string
	switch set {
	case "systemusers":
		app, _ := m["applicationid"].(string)
		if !guidRE.MatchString(app) {
			return errf(http.StatusBadRequest, codeInvalidArg, "Only application users (applicationid) are created here; people come from Microsoft Entra ID through the admin API's addUser")
		}
		if env.appUser(app) != nil {
			return errf(http.StatusBadRequest, codeDuplicate, "An application user with applicationid %s already exists", app)
		}
		bu, aerr := env.boundUnit(m, "businessunitid", true)
		if aerr != nil {
			return aerr
		}
		id = newGUID()
		u := env.userRecord(id, "", "# "+strings.ToLower(app)[:8], newGUID(), app, 4, false, bu)
		env.put(set, u, now)
	case "roles":
		name, _ := m["name"].(string)
		if strings.TrimSpace(name) == "" {
			return errf(http.StatusBadRequest, codeInvalidArg, "name is required")
		}
		bu, aerr := env.boundUnit(m, "businessunitid", true)
		if aerr != nil {
			return aerr
		}
		if env.roleByName(name, bu) != "" {
			return errf(http.StatusBadRequest, codeDuplicate, "A role named %q already exists in this business unit", name)
		}
		inh, aerr := intField(m, "isinherited", 1)
		if aerr != nil {
			return aerr
		}
		id = env.createRole(name, bu, inh, now)
	case "teams":
		name, _ := m["name"].(string)
		if strings.TrimSpace(name) == "" {
			return errf(http.StatusBadRequest, codeInvalidArg, "name is required")
		}
		bu, aerr := env.boundUnit(m, "businessunitid", false)
		if aerr != nil {
			return aerr
		}
		if bu == "" {
			bu = env.rootBU
		}
		tt, aerr := intField(m, "teamtype", 0)
		if aerr != nil {
			return aerr
		}
		mt, aerr := intField(m, "membershiptype", 0)
		if aerr != nil {
			return aerr
		}
		group, _ := m["azureactivedirectoryobjectid"].(string)
		group = strings.ToLower(group)
		if (tt == 2 || tt == 3) != guidRE.MatchString(group) {
			return errf(http.StatusBadRequest, codeInvalidArg, "azureactivedirectoryobjectid is required for Entra group teams (teamtype 2, 3) and only for them")
		}
		for _, t := range env.sets["teams"] {
			if strings.EqualFold(t.str("name"), name) && t.str("_businessunitid_value") == bu {
				return errf(http.StatusBadRequest, codeDuplicate, "A team named %q already exists in this business unit", name)
			}
			if group != "" && t.str("azureactivedirectoryobjectid") == group && t.num("membershiptype") == mt {
				return errf(http.StatusBadRequest, codeDuplicate, "A team for group %s with membership type %d already exists", group, mt)
			}
		}
		id = newGUID()
		var g any
		if group != "" {
			g = group
		}
		env.put(set, record{"teamid": id, "name": name, "teamtype": tt, "_businessunitid_value": bu,
			"azureactivedirectoryobjectid": g, "membershiptype": mt, "isdefault": false}, now)
	case "businessunits":
		name, _ := m["name"].(string)
		if strings.TrimSpace(name) == "" {
			return errf(http.StatusBadRequest, codeInvalidArg, "name is required")
		}
		parent, aerr := env.boundUnit(m, "parentbusinessunitid", true)
		if aerr != nil {
			return aerr
		}
		for _, b := range env.sets["businessunits"] {
			if strings.EqualFold(b.str("name"), name) {
				return errf(http.StatusBadRequest, codeDuplicate, "A business unit named %q already exists", name)
			}
		}
		id = env.createBU(name, parent, now)
	default:
		return errf(http.StatusMethodNotAllowed, codeBadQuery, "Create is not supported on %s", set)
	}
	w.Header().Set("OData-EntityId", base+set+"("+id+")")
	w.Header().Set("OData-Version", "4.0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// checkIfMatch: a stale If-Match answers 412 0x80060882 (Microsoft Learn, "Perform conditional
// operations using the Web API").
func checkIfMatch(r *http.Request, rec record) *apiErr {
	im := r.Header.Get("If-Match")
	if im == "" || im == "*" {
		return nil
	}
	if im != etag(rec) {
		return errf(http.StatusPreconditionFailed, codeStaleETag, "The version of the existing record doesn't match the RowVersion property provided.")
	}
	return nil
}

var updatable = map[string]map[string]bool{
	"systemusers":   {"accessmode": true, "isdisabled": true, "firstname": true, "lastname": true, "title": true, "mobilephone": true, "address1_city": true, "jobtitle": true, "internalemailaddress": true},
	"roles":         {"name": true, "isinherited": true, "description": true},
	"teams":         {"name": true, "description": true, "membershiptype": true},
	"businessunits": {"name": true, "description": true},
}

func (e *Emulator) update(w http.ResponseWriter, r *http.Request, env *environment, set string, rec record, body []byte, now time.Time) *apiErr {
	if aerr := checkIfMatch(r, rec); aerr != nil {
		return aerr
	}
	m, aerr := decodeBody(body)
	if aerr != nil {
		return aerr
	}
	next := rec.clone()
	id := rec.str(keys[set])
	for k, v := range m {
		switch {
		case k == "businessunitid@odata.bind" && set != "businessunits":
			bu, aerr := env.boundUnit(m, "businessunitid", true)
			if aerr != nil {
				return aerr
			}
			next["_businessunitid_value"] = bu
		case updatable[set][k]:
			if f, ok := v.(float64); ok {
				next[k] = int(f)
			} else {
				next[k] = v
			}
		default:
			return errf(http.StatusBadRequest, codeBadQuery, "Invalid property '%s' was found in entity 'Microsoft.Dynamics.CRM.%s'.", k, entityNames[set])
		}
	}
	switch set {
	case "systemusers":
		isApp := rec.str("applicationid") != ""
		if _, ok := m["isdisabled"]; ok && !isApp {
			// docs/design.md, "Sync target": a PATCH of isdisabled on an interactive user is refused (400).
			return errf(http.StatusBadRequest, codeInvalidArg, msgInteractiveOff)
		}
		if mode := next.num("accessmode"); mode < 0 || mode > 5 || (isApp && mode != 4) {
			return errf(http.StatusBadRequest, codeInvalidArg, "accessmode %d is not valid for this user", mode)
		}
		if next["_businessunitid_value"] != rec["_businessunitid_value"] {
			// Moving a user to another business unit removes its security roles.
			delete(env.userRoles, id)
		}
	case "roles":
		if v := next.num("isinherited"); v != 0 && v != 1 {
			return errf(http.StatusBadRequest, codeInvalidArg, "isinherited must be 0 or 1, got %d", v)
		}
		if rec["ismanaged"] == true && (next.str("name") != rec.str("name") || (rec.str("name") == "System Administrator" && next.num("isinherited") != rec.num("isinherited"))) {
			return errf(http.StatusBadRequest, codeInvalidArg, "The System Administrator role's name and member privilege inheritance cannot be changed")
		}
		if next.str("name") != rec.str("name") && env.roleByName(next.str("name"), rec.str("_businessunitid_value")) != "" {
			return errf(http.StatusBadRequest, codeDuplicate, "A role named %q already exists in this business unit", next.str("name"))
		}
	}
	env.put(set, next, now)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (e *Emulator) delete(w http.ResponseWriter, env *environment, set, id string) *apiErr {
	rec := env.sets[set][id]
	switch set {
	case "systemusers":
		if rec.str("applicationid") == "" {
			return errf(http.StatusBadRequest, codeInvalidArg, "Users synchronized from Microsoft Entra ID cannot be deleted")
		}
		if rec["isdisabled"] != true {
			return errf(http.StatusBadRequest, codeInvalidArg, "Disable the application user before deleting it")
		}
		delete(env.userRoles, id)
		for _, m := range env.teamMembers {
			delete(m, id)
		}
	case "roles":
		if rec["ismanaged"] == true || rec.str("_parentrootroleid_value") != id {
			return errf(http.StatusBadRequest, codeInvalidArg, "Managed and inherited roles cannot be deleted")
		}
		for cid, c := range env.sets["roles"] {
			if c.str("_parentrootroleid_value") == id {
				env.dropRole(cid)
			}
		}
	case "teams":
		if rec["isdefault"] == true {
			return errf(http.StatusBadRequest, codeInvalidArg, "The default team of a business unit cannot be deleted")
		}
		delete(env.teamRoles, id)
		delete(env.teamMembers, id)
	default:
		return errf(http.StatusMethodNotAllowed, codeBadQuery, "Delete is not supported on %s by the emulator", set)
	}
	env.forget(set, id)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// forget removes a row and keeps its tombstone for delta reads.
func (env *environment) forget(set, id string) {
	if env.sets[set][id] == nil {
		return
	}
	delete(env.sets[set], id)
	env.deleted[set] = append(env.deleted[set], tombstone{id: id, version: env.nextVersion()})
}

func (env *environment) dropRole(id string) {
	env.forget("roles", id)
	delete(env.rolePrivs, id)
	for _, m := range env.userRoles {
		delete(m, id)
	}
	for _, m := range env.teamRoles {
		delete(m, id)
	}
}

func parseDepth(v any) (int, bool) {
	switch d := v.(type) {
	case float64:
		if d >= 0 && d <= 3 && d == float64(int(d)) {
			return int(d), true
		}
	case string:
		for i, n := range depthNames {
			if strings.EqualFold(n, d) {
				return i, true
			}
		}
		if n, err := strconv.Atoi(d); err == nil && n >= 0 && n <= 3 {
			return n, true
		}
	}
	return 0, false
}

func (e *Emulator) action(w http.ResponseWriter, env *environment, set, id, name string, body []byte) *apiErr {
	m, aerr := decodeBody(body)
	if aerr != nil {
		return aerr
	}
	switch {
	case set == "roles" && name == "ReplacePrivilegesRole":
		role := env.sets["roles"][id]
		if role.str("name") == "System Administrator" && role["ismanaged"] == true {
			return errf(http.StatusBadRequest, codeInvalidArg, "The privileges of the System Administrator role cannot be changed")
		}
		if role.str("_parentrootroleid_value") != id {
			return errf(http.StatusBadRequest, codeInvalidArg, "Change the privileges of the root role, not its inherited copy")
		}
		list, _ := m["Privileges"].([]any)
		privs := map[string]int{}
		for _, it := range list {
			p, _ := it.(map[string]any)
			pid, _ := p["PrivilegeId"].(string)
			pid = strings.ToLower(pid)
			cp := theCatalog.byID[pid]
			if cp == nil {
				return notFound("privilege", pid)
			}
			d, ok := parseDepth(p["Depth"])
			if !ok {
				return errf(http.StatusBadRequest, codeBadQuery, "Invalid Depth %v", p["Depth"])
			}
			if cp.orgOnly && d != 3 {
				return errf(http.StatusBadRequest, codeInvalidArg, "Privilege %s can only be granted at Global depth", cp.name)
			}
			privs[pid] = d
		}
		env.setRolePrivs(id, privs)
	case set == "teams" && (name == "AddMembersTeam" || name == "RemoveMembersTeam"):
		team := env.sets["teams"][id]
		if tt := team.num("teamtype"); tt != 0 && tt != 1 {
			return errf(http.StatusBadRequest, codeInvalidArg, "Members of a Microsoft Entra group team come from the group")
		}
		list, _ := m["Members"].([]any)
		var ids []string
		for _, it := range list {
			u, _ := it.(map[string]any)
			uid, _ := u["systemuserid"].(string)
			uid = strings.ToLower(uid)
			if env.sets["systemusers"][uid] == nil {
				return notFound("systemuser", uid)
			}
			ids = append(ids, uid)
		}
		if env.teamMembers[id] == nil {
			env.teamMembers[id] = map[string]bool{}
		}
		for _, uid := range ids {
			if name == "AddMembersTeam" {
				env.teamMembers[id][uid] = true
			} else {
				delete(env.teamMembers[id], uid)
			}
		}
	default:
		return errf(http.StatusBadRequest, codeBadQuery, "Unknown action %s on %s", name, set)
	}
	env.nextVersion()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (e *Emulator) retrieveRolePrivileges(w http.ResponseWriter, env *environment, id, base string) *apiErr {
	role := env.sets["roles"][id]
	if role == nil {
		return notFound("role", id)
	}
	type rp struct {
		Depth                  string `json:"Depth"`
		PrivilegeID            string `json:"PrivilegeId"`
		BusinessUnitID         string `json:"BusinessUnitId"`
		PrivilegeName          string `json:"PrivilegeName"`
		RecordFilterID         any    `json:"RecordFilterId"`
		RecordFilterUniqueName any    `json:"RecordFilterUniqueName"`
	}
	out := []rp{}
	for pid, d := range env.rolePrivs[id] {
		out = append(out, rp{Depth: depthNames[d], PrivilegeID: pid, BusinessUnitID: role.str("_businessunitid_value"), PrivilegeName: theCatalog.byID[pid].name})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PrivilegeName < out[j].PrivilegeName })
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": base + "$metadata#Microsoft.Dynamics.CRM.RetrieveRolePrivilegesRoleResponse",
		"RolePrivileges": out,
	})
	return nil
}

// associate handles POST …/systemuserroles_association/$ref and …/teamroles_association/$ref
// (Microsoft Learn, "Associate and disassociate table rows using the Web API").
func (e *Emulator) associate(w http.ResponseWriter, env *environment, set, id, nav string, body []byte) *apiErr {
	m, aerr := decodeBody(body)
	if aerr != nil {
		return aerr
	}
	roleID, ok := bindID(m["@odata.id"], "roles")
	if !ok {
		return errf(http.StatusBadRequest, codeBadQuery, "@odata.id must name roles(<id>)")
	}
	role := env.sets["roles"][roleID]
	if role == nil {
		return notFound("role", roleID)
	}
	principal := env.sets[set][id]
	var assoc map[string]map[string]bool
	switch {
	case set == "systemusers" && nav == "systemuserroles_association":
		assoc = env.userRoles
		if principal["isdisabled"] == true && !env.allowRolesOnDisabled {
			return errf(http.StatusBadRequest, codeInvalidArg, "Security roles cannot be assigned to a disabled user in this environment")
		}
	case set == "teams" && nav == "teamroles_association":
		assoc = env.teamRoles
		if principal.num("teamtype") == 1 {
			return errf(http.StatusBadRequest, codeInvalidArg, "Access teams cannot hold security roles")
		}
	default:
		return errf(http.StatusBadRequest, codeBadQuery, "Cannot associate %s through %s", set, nav)
	}
	if role.str("_businessunitid_value") != principal.str("_businessunitid_value") {
		// Roles are assigned from the principal's own business unit (its inherited copy).
		return errf(http.StatusBadRequest, codeInvalidArg, "The role %s is not in the business unit of the %s", roleID, entityNames[set])
	}
	if assoc[id][roleID] {
		return errf(http.StatusBadRequest, codeDuplicate, "Cannot insert duplicate key.")
	}
	if assoc[id] == nil {
		assoc[id] = map[string]bool{}
	}
	assoc[id][roleID] = true
	env.nextVersion()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (e *Emulator) disassociate(w http.ResponseWriter, env *environment, set, id, nav, ref string) *apiErr {
	roleID, ok := bindID(ref, "roles")
	if !ok {
		return errf(http.StatusBadRequest, codeBadQuery, "$id must name roles(<id>)")
	}
	switch {
	case set == "systemusers" && nav == "systemuserroles_association":
		delete(env.userRoles[id], roleID)
	case set == "teams" && nav == "teamroles_association":
		delete(env.teamRoles[id], roleID)
	default:
		return errf(http.StatusBadRequest, codeBadQuery, "Cannot disassociate %s through %s", set, nav)
	}
	env.nextVersion()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// syncEntra lands the users addUser asked for once their delay has passed, and runs the
// background sync when its interval has passed (entrasync.go).
func (e *Emulator) syncEntra(env *environment, now time.Time) {
	for oid, due := range env.pending {
		if now.Before(due) {
			continue
		}
		delete(env.pending, oid)
		if e.dir.knows(oid) {
			e.followDirectory(env, oid, now, true)
			continue
		}
		eu := env.entra[oid]
		if eu == nil {
			eu = &EntraUser{ObjectID: oid, UPN: "user-" + oid[:8] + "@" + strings.ToLower(env.orgName) + ".onmicrosoft.com", FirstName: "User", LastName: oid[:8], Licensed: true}
			env.entra[oid] = eu
		}
		env.applyEntra(eu, now)
	}
	e.backgroundSync(env, now)
}

// applyEntra writes an Entra user's facts into its systemusers record, creating it if needed.
func (env *environment) applyEntra(eu *EntraUser, now time.Time) {
	for _, u := range env.sets["systemusers"] {
		if u.str("azureactivedirectoryobjectid") == eu.ObjectID {
			next := u.clone()
			next["domainname"], next["firstname"], next["lastname"] = eu.UPN, eu.FirstName, eu.LastName
			next["fullname"] = strings.TrimSpace(eu.FirstName + " " + eu.LastName)
			next["isdisabled"], next["islicensed"] = eu.Disabled, eu.Licensed
			env.put("systemusers", next, now)
			return
		}
	}
	u := env.userRecord(newGUID(), eu.UPN, strings.TrimSpace(eu.FirstName+" "+eu.LastName), eu.ObjectID, "", 0, eu.Disabled, env.rootBU)
	u["firstname"], u["lastname"], u["islicensed"] = eu.FirstName, eu.LastName, eu.Licensed
	u["internalemailaddress"], u["windowsliveid"] = eu.UPN, eu.UPN
	env.put("systemusers", u, now)
}
