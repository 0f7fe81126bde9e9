package emulator

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// --- Entra ID: the discovery documents and token endpoint azidentity/MSAL ask for ---

// serveOpenIDConfiguration answers /{tenant}/v2.0/.well-known/openid-configuration. MSAL checks
// that the issuer is on the authority's host.
func (e *Emulator) serveOpenIDConfiguration(w http.ResponseWriter, r *http.Request) {
	tenant, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	host := "https://" + r.Host + "/" + tenant
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                host + "/v2.0",
		"token_endpoint":                        host + "/oauth2/v2.0/token",
		"authorization_endpoint":                host + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         host + "/oauth2/v2.0/devicecode",
		"jwks_uri":                              "https://" + r.Host + "/" + tenant + "/discovery/v2.0/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "emulator",
	})
}

// serveInstanceDiscovery answers /common/discovery/instance for a client that did not turn
// instance discovery off and was pointed here for it.
func (e *Emulator) serveInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": "https://" + r.Host + "/common/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata":                  []map[string]any{{"preferred_network": r.Host, "preferred_cache": r.Host, "aliases": []string{r.Host}}},
	})
}

// serveToken is the client credentials grant: a client secret or a client assertion (workload
// identity). It issues an opaque token for the one scope asked.
func (e *Emulator) serveToken(w http.ResponseWriter, r *http.Request) {
	oauthErr := func(status int, code, desc string) {
		writeJSON(w, status, map[string]any{"error": code, "error_description": desc, "error_codes": []int{7000215}})
	}
	if r.Method != http.MethodPost {
		oauthErr(http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthErr(http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthErr(http.StatusBadRequest, "unsupported_grant_type", "the emulator issues client credentials tokens only, not "+gt)
		return
	}
	client := r.PostForm.Get("client_id")
	secret := r.PostForm.Get("client_secret")
	assertion := r.PostForm.Get("client_assertion")
	if client == "" || (secret == "" && assertion == "") {
		oauthErr(http.StatusBadRequest, "invalid_client", "client_id and a client_secret or client_assertion are required")
		return
	}
	if secret != "" && len(e.cfg.ClientSecrets) > 0 && e.cfg.ClientSecrets[client] != secret {
		oauthErr(http.StatusUnauthorized, "invalid_client", "AADSTS7000215: Invalid client secret provided.")
		return
	}
	scope := ""
	for _, s := range strings.Fields(r.PostForm.Get("scope")) {
		if strings.HasSuffix(s, "/.default") {
			scope = s
		}
	}
	if scope == "" {
		oauthErr(http.StatusBadRequest, "invalid_scope", "a <resource>/.default scope is required")
		return
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	raw := "emu." + hex.EncodeToString(b[:])
	e.mu.Lock()
	e.tokens[raw] = token{scope: scope, clientID: strings.ToLower(client), expires: e.cfg.Now().Add(time.Hour)}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": raw,
	})
}

// --- Power Platform admin API ---

// serveAdminAPI: GET …/environments/{id}?api-version=… (the environment and its security group);
// POST …/environments/{id}/addUser?api-version=… {"objectId"} answers 200 at once;
// the user appears in systemusers after EntraSyncDelay (the environment's, else the Config's), however
// often addUser is asked again meanwhile (docs/design.md, "Sync target": interactive users
// arrive from Entra ID after a delay).
func (e *Emulator) serveAdminAPI(w http.ResponseWriter, r *http.Request, env *environment, rest string) {
	if r.URL.Query().Get("api-version") == "" {
		writeError(w, http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter is required.")
		return
	}
	if rest == "" && r.Method == http.MethodGet {
		// GET …/scopes/admin/environments/{id}: the environment, with the security group that
		// gates it in properties.linkedEnvironmentMetadata.securityGroupId (absent when none; the
		// shape Microsoft's Terraform provider and admin scripts read).
		e.mu.Lock()
		meta := map[string]any{"instanceUrl": "/env/" + env.name}
		if env.securityGroup != "" {
			meta["securityGroupId"] = env.securityGroup
		}
		e.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{
			"id":   "/providers/Microsoft.BusinessAppPlatform/scopes/admin/environments/" + env.envID,
			"name": env.envID, "type": "Microsoft.BusinessAppPlatform/scopes/environments",
			"properties": map[string]any{"displayName": env.orgName, "linkedEnvironmentMetadata": meta},
		})
		return
	}
	if rest != "addUser" || r.Method != http.MethodPost {
		writeError(w, http.StatusNotFound, "", "the emulator serves only GET of an environment and POST addUser of the admin API")
		return
	}
	var body struct {
		ObjectID string `json:"objectId"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil || !guidRE.MatchString(body.ObjectID) {
		writeError(w, http.StatusBadRequest, "InvalidRequestContent", "objectId must be a GUID")
		return
	}
	delay := e.cfg.EntraSyncDelay
	if env.entraSyncDelay > 0 {
		delay = env.entraSyncDelay
	}
	oid := strings.ToLower(body.ObjectID)
	e.mu.Lock()
	// Asking again while the sync is under way does not restart it.
	if _, underway := env.pending[oid]; !underway {
		env.pending[oid] = e.cfg.Now().Add(delay)
	}
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{})
}

// --- the emulator's own controls, for tests and demos ---

func (e *Emulator) serveControl(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/_emulator/")
	parts := strings.Split(p, "/")
	decode := func(v any) bool {
		if err := json.NewDecoder(io.LimitReader(r.Body, 16<<20)).Decode(v); err != nil {
			writeError(w, http.StatusBadRequest, "", err.Error())
			return false
		}
		return true
	}
	reply := func(v any, err error) {
		if err != nil {
			writeError(w, http.StatusBadRequest, "", err.Error())
			return
		}
		if v == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
	switch {
	case p == "state" && r.Method == http.MethodGet:
		reply(e.Dump(), nil)
	case p == "requests" && r.Method == http.MethodGet:
		reply(e.Requests(), nil)
	case p == "requests" && r.Method == http.MethodDelete:
		e.ClearRequests()
		reply(nil, nil)
	case p == "faults" && r.Method == http.MethodPost:
		var f Fault
		if decode(&f) {
			e.AddFault(f)
			reply(nil, nil)
		}
	case p == "faults" && r.Method == http.MethodDelete:
		e.ClearFaults()
		reply(nil, nil)
	case p == "limits" && r.Method == http.MethodPut:
		var l Limits
		if decode(&l) {
			e.SetLimits(l)
			reply(nil, nil)
		}
	case len(parts) == 3 && parts[0] == "environments" && parts[2] == "spend" && r.Method == http.MethodPost:
		var b struct {
			Requests int `json:"requests"`
		}
		if decode(&b) {
			reply(nil, e.Spend(parts[1], b.Requests))
		}
	case len(parts) == 3 && parts[0] == "environments" && parts[2] == "entra-users" && r.Method == http.MethodPost:
		var u EntraUser
		if decode(&u) {
			reply(nil, e.SetEntraUser(parts[1], u))
		}
	case len(parts) == 3 && parts[0] == "environments" && parts[2] == "users" && r.Method == http.MethodPost:
		var u map[string]any
		if decode(&u) {
			id, err := e.AddUnmanagedUser(parts[1], u)
			reply(map[string]string{"systemuserid": id}, err)
		}
	case len(parts) == 4 && parts[0] == "environments" && r.Method == http.MethodPatch:
		var f map[string]any
		if decode(&f) {
			reply(nil, e.Patch(parts[1], parts[2], parts[3], f))
		}
	case len(parts) == 5 && parts[0] == "environments" && parts[2] == "systemusers" && parts[4] == "system-administrator" && r.Method == http.MethodPost:
		reply(nil, e.GrantSystemAdministrator(parts[1], parts[3]))
	case len(parts) == 5 && parts[0] == "environments" && parts[2] == "roles" && parts[4] == "privileges" && r.Method == http.MethodPut:
		var privs map[string]string
		if decode(&privs) {
			reply(nil, e.SetRolePrivileges(parts[1], parts[3], privs))
		}
	case len(parts) == 3 && parts[0] == "environments" && parts[2] == "security-group" && r.Method == http.MethodPut:
		var b struct {
			SecurityGroupID string `json:"securityGroupId"`
		}
		if decode(&b) {
			reply(nil, e.SetSecurityGroup(parts[1], b.SecurityGroupID))
		}
	case len(parts) == 3 && parts[0] == "environments" && parts[2] == "expire-delta-tokens" && r.Method == http.MethodPost:
		reply(nil, e.ExpireDeltaTokens(parts[1]))
	case len(parts) == 3 && parts[0] == "environments" && parts[2] == "entra-sync" && r.Method == http.MethodPost:
		reply(nil, e.SyncEntra(parts[1]))
	case p == "entra-sync" && r.Method == http.MethodPost:
		reply(nil, e.SyncEntra(""))
	case parts[0] == "directory" || parts[0] == "graph":
		e.serveDirectoryControl(w, r, parts, decode, reply)
	default:
		http.NotFound(w, r)
	}
}

// serveDirectoryControl: the tenant directory's and Graph's controls (README of
// hack/dataverse-emulator lists them).
func (e *Emulator) serveDirectoryControl(w http.ResponseWriter, r *http.Request, parts []string, decode func(any) bool, reply func(any, error)) {
	m, n := r.Method, len(parts)
	at := func(i int, s string) bool { return n > i && parts[i] == s }
	dir := at(0, "directory")
	switch {
	case n == 1 && at(0, "directory") && m == http.MethodGet:
		reply(e.Directory(), nil)
	case n == 1 && at(0, "directory") && m == http.MethodPost:
		var s DirectorySeed
		if decode(&s) {
			reply(nil, e.SeedDirectory(s))
		}
	case n == 1 && at(0, "directory") && m == http.MethodDelete:
		e.ResetDirectory()
		reply(nil, nil)
	case n == 2 && dir && at(1, "users") && m == http.MethodPost:
		var u DirectoryUser
		if decode(&u) {
			id, err := e.AddEntraUser(u)
			reply(map[string]string{"id": id}, err)
		}
	case n == 3 && dir && at(1, "users") && m == http.MethodPatch:
		var b struct {
			AccountEnabled   *bool              `json:"accountEnabled"`
			UsageLocation    *string            `json:"usageLocation"`
			AssignedLicenses *[]AssignedLicense `json:"assignedLicenses"`
		}
		if !decode(&b) {
			return
		}
		var err error
		if b.AccountEnabled != nil {
			err = e.SetAccountEnabled(parts[2], *b.AccountEnabled)
		}
		if err == nil && b.UsageLocation != nil {
			err = e.SetUsageLocation(parts[2], *b.UsageLocation)
		}
		if err == nil && b.AssignedLicenses != nil {
			err = e.SetDirectLicenses(parts[2], *b.AssignedLicenses)
		}
		reply(nil, err)
	case n == 3 && dir && at(1, "users") && m == http.MethodDelete:
		reply(nil, e.DeleteEntraUser(parts[2]))
	case n == 2 && dir && at(1, "groups") && m == http.MethodPost:
		var g DirectoryGroup
		if decode(&g) {
			id, err := e.AddGroup(g)
			reply(map[string]string{"id": id}, err)
		}
	case n == 4 && dir && at(1, "groups") && at(3, "members") && m == http.MethodPost:
		var b struct {
			ID string `json:"id"`
		}
		if decode(&b) {
			reply(nil, e.AddGroupMember(parts[2], b.ID))
		}
	case n == 5 && dir && at(1, "groups") && at(3, "members") && m == http.MethodDelete:
		reply(nil, e.RemoveGroupMember(parts[2], parts[4]))
	case n == 4 && dir && at(1, "groups") && at(3, "licenses") && m == http.MethodPut:
		var l []AssignedLicense
		if decode(&l) {
			reply(nil, e.SetGroupLicenses(parts[2], l))
		}
	case n == 2 && dir && at(1, "skus") && m == http.MethodPost:
		var s SubscribedSku
		if decode(&s) {
			id, err := e.AddSku(s)
			reply(map[string]string{"skuId": id}, err)
		}
	case n == 3 && dir && at(1, "skus") && m == http.MethodPatch:
		var b struct {
			PrepaidUnits PrepaidUnits `json:"prepaidUnits"`
		}
		if decode(&b) {
			reply(nil, e.SetSkuUnits(parts[2], b.PrepaidUnits))
		}
	case n == 2 && at(0, "graph") && at(1, "permissions") && m == http.MethodGet:
		e.mu.Lock()
		apps := map[string][]string{}
		for c, p := range e.dir.perms {
			apps[c] = append([]string{}, p...)
		}
		e.mu.Unlock()
		reply(map[string]any{"default": DefaultGraphPermissions, "apps": apps}, nil)
	case n == 3 && at(0, "graph") && at(1, "permissions") && m == http.MethodPut:
		var p []string
		if decode(&p) {
			if p == nil {
				p = []string{}
			}
			e.SetAppPermissions(parts[2], p)
			reply(nil, nil)
		}
	case n == 3 && at(0, "graph") && at(1, "permissions") && m == http.MethodDelete:
		e.SetAppPermissions(parts[2], nil)
		reply(nil, nil)
	case n == 2 && at(0, "graph") && at(1, "limits") && m == http.MethodPut:
		var l GraphLimits
		if decode(&l) {
			e.SetGraphLimits(l)
			reply(nil, nil)
		}
	default:
		http.NotFound(w, r)
	}
}

// AddFault queues a misbehaviour for the next matching requests.
func (e *Emulator) AddFault(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = append(e.faults, &f)
}

// ClearFaults drops the queued faults.
func (e *Emulator) ClearFaults() { e.mu.Lock(); e.faults = nil; e.mu.Unlock() }

// SetLimits switches the service protection limits on or off.
func (e *Emulator) SetLimits(l Limits) { e.mu.Lock(); e.cfg.Limits = l; e.mu.Unlock() }

// Requests returns a copy of the request log (Dataverse, admin API and Graph, the requests inside a
// Graph $batch each on its own; not the login host).
func (e *Emulator) Requests() []LoggedRequest {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]LoggedRequest, len(e.log))
	for i, l := range e.log {
		out[i] = *l
	}
	return out
}

// ClearRequests empties the request log.
func (e *Emulator) ClearRequests() { e.mu.Lock(); e.log = nil; e.mu.Unlock() }

// Writes counts the logged requests that could change something (anything but GET), for "no
// writes after convergence" assertions. A Graph $batch is not one: the requests inside it are
// logged on their own and counted by their own method.
func Writes(log []LoggedRequest) []LoggedRequest {
	var out []LoggedRequest
	for _, l := range log {
		if l.Method != http.MethodGet && !(l.Environment == GraphEnvironment && l.BatchID == "" && strings.HasPrefix(l.Path, graphPrefix+"$batch")) {
			out = append(out, l)
		}
	}
	return out
}

type envErr string

func (e envErr) Error() string { return string(e) }

func (e *Emulator) env(name string) (*environment, error) {
	env := e.envs[strings.ToLower(name)]
	if env == nil {
		return nil, envErr("no environment " + name)
	}
	return env, nil
}

// SetEntraUser adds or changes a person as one environment sees it from Entra ID, given as the
// outcome (EntraUser.Disabled, Licensed). A user already in the environment gets the change at
// once, as a directory sync would bring it (sign-in blocked or unlicensed: isdisabled). Such a
// person is not in the tenant directory: Graph does not know it. An object id that is in the
// directory is refused: change the facts there (SetAccountEnabled, AddGroupMember, …).
//
// Deprecated: put the person in the tenant directory with AddEntraUser (or a DirectorySeed), name
// the environment's security group (EnvironmentConfig.SecurityGroupID), and let Dataverse derive
// isdisabled from sign-in, license and membership.
func (e *Emulator) SetEntraUser(envName string, u EntraUser) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	env, err := e.env(envName)
	if err != nil {
		return err
	}
	if !guidRE.MatchString(u.ObjectID) {
		return envErr("objectId must be a GUID")
	}
	u.ObjectID = strings.ToLower(u.ObjectID)
	if e.dir.knows(u.ObjectID) {
		return envErr("object " + u.ObjectID + " is in the tenant directory: change its sign-in, licenses or memberships there")
	}
	env.entra[u.ObjectID] = &u
	for _, rec := range env.sets["systemusers"] {
		if rec.str("azureactivedirectoryobjectid") == u.ObjectID {
			env.applyEntra(&u, e.cfg.Now())
		}
	}
	return nil
}

// AddUnmanagedUser puts a user straight into an environment, as another admin or an earlier sync
// would have: fields are systemusers columns (domainname, accessmode, applicationid, …).
func (e *Emulator) AddUnmanagedUser(envName string, fields map[string]any) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	env, err := e.env(envName)
	if err != nil {
		return "", err
	}
	id := newGUID()
	domain, _ := fields["domainname"].(string)
	obj, _ := fields["azureactivedirectoryobjectid"].(string)
	app, _ := fields["applicationid"].(string)
	u := env.userRecord(id, domain, domain, obj, app, 0, false, env.rootBU)
	for k, v := range fields {
		if f, ok := v.(float64); ok {
			v = int(f)
		}
		u[strings.ToLower(k)] = v
	}
	env.put("systemusers", u, e.cfg.Now())
	return id, nil
}

// Patch changes fields of a record behind the operator's back (another admin's edit): any column,
// no rules, a new version (so the operator's ETag goes stale).
func (e *Emulator) Patch(envName, set, id string, fields map[string]any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	env, err := e.env(envName)
	if err != nil {
		return err
	}
	rec := env.sets[set][strings.ToLower(id)]
	if rec == nil {
		return envErr("no " + set + " " + id)
	}
	next := rec.clone()
	for k, v := range fields {
		if f, ok := v.(float64); ok {
			v = int(f)
		}
		next[strings.ToLower(k)] = v
	}
	env.put(set, next, e.cfg.Now())
	return nil
}

// GrantSystemAdministrator assigns a person the System Administrator role of its business unit,
// as the service does itself for a Global or Service administrator of the tenant (docs/design.md,
// AM9: "it automatically assigns the user the System Administrator security role"). The emulator
// knows no directory roles, so a test or the demo says who is one.
func (e *Emulator) GrantSystemAdministrator(envName, userID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	env, err := e.env(envName)
	if err != nil {
		return err
	}
	id := strings.ToLower(userID)
	user := env.sets["systemusers"][id]
	if user == nil {
		return envErr("no systemusers " + userID)
	}
	for rid, r := range env.sets["roles"] {
		if r.str("name") == "System Administrator" && r.str("_businessunitid_value") == user.str("_businessunitid_value") {
			if env.userRoles[id] == nil {
				env.userRoles[id] = map[string]bool{}
			}
			env.userRoles[id][rid] = true
			env.nextVersion()
			return nil
		}
	}
	return envErr("no System Administrator role in the business unit of " + userID)
}

// SetRolePrivileges replaces a role's privileges behind the operator's back: privilege name to
// depth (Basic, Local, Deep, Global).
func (e *Emulator) SetRolePrivileges(envName, roleID string, privs map[string]string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	env, err := e.env(envName)
	if err != nil {
		return err
	}
	roleID = strings.ToLower(roleID)
	if env.sets["roles"][roleID] == nil {
		return envErr("no role " + roleID)
	}
	m := map[string]int{}
	for n, d := range privs {
		p := theCatalog.byName[strings.ToLower(n)]
		if p == nil {
			return envErr("no privilege " + n)
		}
		depth, ok := parseDepth(d)
		if !ok {
			return envErr("bad depth " + d)
		}
		m[p.id] = depth
	}
	env.setRolePrivs(roleID, m)
	rec := env.sets["roles"][roleID].clone()
	env.put("roles", rec, e.cfg.Now())
	return nil
}

// Dump is everything the emulator holds, readable: for the demo and for tests.
type Dump struct {
	Environments []EnvironmentDump `json:"environments"`
	// Directory is the tenant directory shared by the environments.
	Directory *DirectoryDump `json:"directory"`
}

// EnvironmentDump is one environment's content.
type EnvironmentDump struct {
	Name          string               `json:"name"`
	EnvironmentID string               `json:"environmentId"`
	Organization  string               `json:"organization"`
	BusinessUnits []map[string]any     `json:"businessUnits"`
	Users         []map[string]any     `json:"users"`
	Roles         []map[string]any     `json:"roles"`
	Teams         []map[string]any     `json:"teams"`
	PendingEntra  map[string]time.Time `json:"pendingEntraSync,omitempty"`
	// SecurityGroupID is the environment's security group in the tenant directory.
	SecurityGroupID string `json:"securityGroupId,omitempty"`
}

// Dump returns the state of every environment, with the extra null columns left out.
func (e *Emulator) Dump() Dump {
	e.mu.Lock()
	defer e.mu.Unlock()
	var d Dump
	names := make([]string, 0, len(e.envs))
	for n := range e.envs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		env := e.envs[n]
		e.syncEntra(env, e.cfg.Now())
		ed := EnvironmentDump{Name: env.name, EnvironmentID: env.envID, Organization: env.orgName, PendingEntra: map[string]time.Time{}, SecurityGroupID: env.securityGroup}
		for k, v := range env.pending {
			ed.PendingEntra[k] = v
		}
		ed.BusinessUnits = env.compact("businessunits", "businessunitid", "name", "_parentbusinessunitid_value")
		ed.Users = env.compact("systemusers", "systemuserid", "domainname", "fullname", "azureactivedirectoryobjectid", "applicationid", "accessmode", "isdisabled", "islicensed", "_businessunitid_value")
		for _, u := range ed.Users {
			u["roles"] = env.roleNames(env.userRoles[u["systemuserid"].(string)])
		}
		ed.Roles = env.compact("roles", "roleid", "name", "_businessunitid_value", "isinherited", "ismanaged", "_parentrootroleid_value")
		for _, r := range ed.Roles {
			privs := map[string]string{}
			for pid, depth := range env.rolePrivs[r["roleid"].(string)] {
				privs[theCatalog.byID[pid].name] = depthNames[depth]
			}
			if r["name"] == "System Administrator" {
				r["privileges"] = "all at Global"
			} else {
				r["privileges"] = privs
			}
		}
		ed.Teams = env.compact("teams", "teamid", "name", "teamtype", "_businessunitid_value", "azureactivedirectoryobjectid", "membershiptype", "isdefault")
		for _, t := range ed.Teams {
			id := t["teamid"].(string)
			t["roles"] = env.roleNames(env.teamRoles[id])
			var members []string
			for u := range env.teamMembers[id] {
				members = append(members, env.sets["systemusers"][u].str("domainname"))
			}
			sort.Strings(members)
			t["members"] = members
		}
		d.Environments = append(d.Environments, ed)
	}
	d.Directory = e.dir.dump()
	return d
}

func (env *environment) compact(set string, fields ...string) []map[string]any {
	var out []map[string]any
	for _, rec := range env.sets[set] {
		m := map[string]any{"@odata.etag": etag(rec)}
		for _, f := range fields {
			m[f] = rec[f]
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i][fields[0]].(string) < out[j][fields[0]].(string) })
	return out
}

func (env *environment) roleNames(ids map[string]bool) []string {
	var out []string
	for id := range ids {
		out = append(out, env.sets["roles"][id].str("name"))
	}
	sort.Strings(out)
	return out
}
