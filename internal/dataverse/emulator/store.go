package emulator

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

var guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// record is one row as the service would serialize it (lower-case logical names, lookups as
// _<name>_value).
type record map[string]any

func (r record) str(k string) string { s, _ := r[k].(string); return s }

func (r record) num(k string) int {
	switch v := r[k].(type) {
	case int:
		return v
	case float64:
		return int(v)
	}
	return 0
}

func (r record) clone() record {
	c := make(record, len(r))
	for k, v := range r {
		c[k] = v
	}
	return c
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatGUID(b[:])
}

// nameGUID is stable for a name: privilege ids are the same in every environment, as the
// platform's are.
func nameGUID(name string) string {
	h := sha1.Sum([]byte("dataverse-emulator/" + name))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return formatGUID(h[:16])
}

func formatGUID(b []byte) string {
	s := hex.EncodeToString(b)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}

// Access rights (privilege.accessright), docs/design.md, "Sync target".
const (
	rightRead     = 1
	rightWrite    = 2
	rightAppend   = 4
	rightAppendTo = 16
	rightCreate   = 32
	rightDelete   = 65536
	rightShare    = 262144
	rightAssign   = 524288
)

var rightVerbs = []struct {
	verb  string
	right int
}{
	{"Create", rightCreate}, {"Read", rightRead}, {"Write", rightWrite}, {"Delete", rightDelete},
	{"Append", rightAppend}, {"AppendTo", rightAppendTo}, {"Assign", rightAssign}, {"Share", rightShare},
}

// catalogTable is a table with privileges: its logical name, schema name (which privilege names
// carry) and whether records are owned by the organization (then only Global depth, and no Assign
// or Share: there is no owner to assign or share from).
type catalogTable struct {
	logical, schema string
	orgOwned        bool
}

// The tables the samples (config/samples) and the tests (controllers/, internal/access) name,
// plus the ones new roles get default privileges on and the security tables themselves.
var catalogTables = []catalogTable{
	{"account", "Account", false}, {"contact", "Contact", false}, {"lead", "Lead", false},
	{"opportunity", "Opportunity", false}, {"quote", "Quote", false}, {"incident", "Incident", false},
	{"invoice", "Invoice", false}, {"campaign", "Campaign", false}, {"task", "Task", false},
	{"knowledgearticle", "KnowledgeArticle", false}, {"product", "Product", true},
	{"transactioncurrency", "TransactionCurrency", true}, {"webresource", "WebResource", true},
	{"systemuser", "User", false}, {"team", "Team", false}, {"role", "Role", false},
	{"businessunit", "BusinessUnit", false}, {"sdkmessage", "SdkMessage", true},
	{"sdkmessageprocessingstep", "SdkMessageProcessingStep", false},
	{"sdkmessageprocessingstepimage", "SdkMessageProcessingStepImage", false},
	{"pluginassembly", "PluginAssembly", true}, {"plugintype", "PluginType", true},
	{"sharepointdata", "SharePointData", false}, {"sharepointdocument", "SharePointDocument", false},
}

// Miscellaneous and privacy privileges: no table, Global only (SR3).
var miscPrivileges = []string{
	"ExportToExcel", "Print", "GoOffline", "SyncToOutlook", "DocumentGeneration", "MailMerge",
	"ExportCustomizations", "ImportCustomizations", "PublishCustomizations", "PublishArticles",
	"BulkDelete", "ActOnBehalfOfAnotherUser", "UseOfficeApps", "PublishDuplicateRule",
}

// defaultRolePrivileges are what a new role already holds at Global: SDK message and plug-in reads
// and the legacy SharePoint integration (observed on the real service; docs/design.md, "Sync
// target": "A new role already holds a few default privileges").
var defaultRolePrivileges = []string{
	"prvReadSdkMessage", "prvReadSdkMessageProcessingStep", "prvReadSdkMessageProcessingStepImage",
	"prvReadPluginAssembly", "prvReadPluginType", "prvReadSharePointData", "prvWriteSharePointData",
	"prvCreateSharePointData", "prvReadSharePointDocument",
}

type privilege struct {
	id, name string
	right    int
	table    string // logical name; "" for miscellaneous
	orgOnly  bool
}

type catalog struct {
	privs  []privilege
	byName map[string]*privilege
	byID   map[string]*privilege
}

func buildCatalog() *catalog {
	c := &catalog{byName: map[string]*privilege{}, byID: map[string]*privilege{}}
	for _, t := range catalogTables {
		for _, v := range rightVerbs {
			if t.orgOwned && (v.right == rightAssign || v.right == rightShare) {
				continue
			}
			name := "prv" + v.verb + t.schema
			c.privs = append(c.privs, privilege{id: nameGUID(name), name: name, right: v.right, table: t.logical, orgOnly: t.orgOwned})
		}
	}
	for _, m := range miscPrivileges {
		name := "prv" + m
		c.privs = append(c.privs, privilege{id: nameGUID(name), name: name, orgOnly: true})
	}
	for i := range c.privs {
		p := &c.privs[i]
		c.byName[strings.ToLower(p.name)] = p
		c.byID[p.id] = p
	}
	return c
}

var theCatalog = buildCatalog()

// Depths: Basic 0, Local 1, Deep 2, Global 3 (docs/design.md, "Sync target").
var depthNames = []string{"Basic", "Local", "Deep", "Global"}

// commonExtras are fields every record carries, null or not, so the client meets what a real
// answer looks like.
var commonExtras = []string{
	"overriddencreatedon", "importsequencenumber", "timezoneruleversionnumber",
	"utcconversiontimezonecode", "_createdonbehalfby_value", "_modifiedonbehalfby_value",
}

var setExtras = map[string][]string{
	"systemusers": {
		"address1_addressid", "address1_city", "address1_country", "address1_county", "address1_fax",
		"address1_latitude", "address1_line1", "address1_line2", "address1_line3", "address1_longitude",
		"address1_name", "address1_postalcode", "address1_postofficebox", "address1_stateorprovince",
		"address1_telephone1", "address2_city", "address2_country", "address2_line1", "address2_postalcode",
		"applicationiduri", "azurestate", "caltype", "defaultfilterspopulated", "defaultmailbox",
		"disabledreason", "employeeid", "entityimage_url", "firstname", "governmentid", "homephone",
		"identityid", "internalemailaddress", "jobtitle", "lastname", "middlename", "mobilealertemail",
		"mobilephone", "nickname", "personalemailaddress", "photourl", "preferredaddresscode",
		"preferredemailcode", "preferredphonecode", "_queueid_value", "salutation", "setupuser",
		"sharepointemailaddress", "skills", "_territoryid_value", "title", "windowsliveid",
		"yammeremailaddress", "yammeruserid", "yomifirstname", "yomifullname", "yomilastname",
		"_positionid_value", "_calendarid_value", "_siteid_value", "_parentsystemuserid_value",
		"isemailaddressapprovedbyo365admin", "isintegrationuser", "issyncwithdirectory",
		"msdyn_agentType", "msdyn_botapplicationid", "msdyn_gdproptout", "userlicensetype",
		"userpuid", "passporthi", "passportlo", "incomingemaildeliverymethod", "outgoingemaildeliverymethod",
		"emailrouteraccessapproval", "invitestatuscode", "isactivedirectoryuser", "exchangerate",
		"_transactioncurrencyid_value", "traversedpath", "stageid", "processid",
	},
	"roles": {
		"appliesto", "canbedeleted", "componentstate", "description", "iscustomizable", "isautoassigned",
		"overwritetime", "roleidunique", "_roletemplateid_value", "solutionid", "summaryofcoretablepermissions",
		"_solutionid_value", "issyncwithdirectory",
	},
	"teams": {
		"administratorid", "delegatedauthorizationid", "description", "emailaddress", "exchangerate",
		"isemailaddressapprovedbyo365admin", "_queueid_value", "_regardingobjectid_value",
		"_teamtemplateid_value", "traversedpath", "stageid", "processid", "yominame",
		"_transactioncurrencyid_value", "isdefault",
	},
	"businessunits": {
		"address1_city", "address1_country", "address1_line1", "address1_postalcode", "costcenter",
		"creditlimit", "description", "divisionname", "emailaddress", "exchangerate", "fileasname",
		"ftpsiteurl", "inheritancemask", "_calendarid_value", "stockexchange", "tickersymbol",
		"websiteurl", "workflowsuspended", "_transactioncurrencyid_value", "disabledreason",
	},
	"privileges":               {"isdisabledwhenintegrated", "ismanaged", "solutionid", "componentstate", "overwritetime", "privilegerowid"},
	"privilegeobjecttypecodes": {"privilegeobjecttypecoderowid", "solutionid", "componentstate", "overwritetime", "ismanaged"},
}

// keys is each set's primary key.
var keys = map[string]string{
	"systemusers": "systemuserid", "roles": "roleid", "teams": "teamid", "businessunits": "businessunitid",
	"privileges": "privilegeid", "privilegeobjecttypecodes": "privilegeobjecttypecodeid",
}

// intersectKeys are the N:N intersect tables, read flat and paged like any table: one row per
// association, with both ids (docs/design.md, "Observing at scale"; the intersect entities
// systemuserroles, teammembership and teamroles, whose entity sets are systemuserrolescollection,
// teammemberships and teamrolescollection).
var intersectKeys = map[string]string{
	"systemuserrolescollection": "systemuserroleid",
	"teammemberships":           "teammembershipid",
	"teamrolescollection":       "teamroleid",
	"roleprivilegescollection":  "roleprivilegeid",
}

// intersectRows are the rows of an intersect table named by set (false: set is not one). A row's
// id is derived from the pair, so it is the same on every read.
func (env *environment) intersectRows(set string) ([]record, bool) {
	var assoc map[string]map[string]bool
	var left, right string
	switch set {
	case "systemuserrolescollection":
		assoc, left, right = env.userRoles, "systemuserid", "roleid"
	case "teammemberships":
		assoc, left, right = env.teamMembers, "teamid", "systemuserid"
	case "teamrolescollection":
		assoc, left, right = env.teamRoles, "teamid", "roleid"
	case "roleprivilegescollection":
		// roleid, privilegeid and the depth as a bit mask (1 Basic, 2 Local, 4 Deep, 8 Global:
		// the SDK's PrivilegeDepth masks, as the intersect table roleprivileges stores it).
		rows := []record{}
		for role, privs := range env.rolePrivs {
			for priv, depth := range privs {
				rows = append(rows, record{"roleprivilegeid": nameGUID(set + "/" + role + "/" + priv), "roleid": role, "privilegeid": priv,
					"privilegedepthmask": 1 << depth, "versionnumber": env.version})
			}
		}
		return rows, true
	default:
		return nil, false
	}
	key := intersectKeys[set]
	rows := []record{}
	for a, bs := range assoc {
		for b, on := range bs {
			if on {
				rows = append(rows, record{key: nameGUID(set + "/" + a + "/" + b), left: a, right: b, "versionnumber": env.version})
			}
		}
	}
	return rows, true
}

// EntraUser is a person as one environment's Dataverse sees it from Entra ID, given as the outcome
// of Entra's rules (sign-in allowed, license, security group): Dataverse copies Disabled into
// isdisabled and Licensed into islicensed. It predates the tenant directory (DirectoryUser), which
// holds the facts themselves and from which Dataverse derives the outcome; a person is one or the
// other.
type EntraUser struct {
	ObjectID  string `json:"objectId"`
	UPN       string `json:"userPrincipalName"`
	FirstName string `json:"firstName,omitempty"`
	LastName  string `json:"lastName,omitempty"`
	Disabled  bool   `json:"disabled"`
	Licensed  bool   `json:"licensed"`
}

type environment struct {
	name, envID, orgName, orgID string
	version                     int
	sets                        map[string]map[string]record
	rolePrivs                   map[string]map[string]int // role -> privilege -> depth
	userRoles                   map[string]map[string]bool
	teamRoles                   map[string]map[string]bool
	teamMembers                 map[string]map[string]bool
	entra                       map[string]*EntraUser
	pending                     map[string]time.Time // object id -> when the sync lands
	rootBU                      string
	operatorUser                string
	allowRolesOnDisabled        bool
	entraSyncDelay              time.Duration // 0: Config.EntraSyncDelay
	securityGroup               string        // object id of the environment's security group; "": none
	nextEntraSync               time.Time     // when the background sync runs next (Config.EntraSyncInterval)
	// change tracking (Learn, "Use change tracking to synchronize data with external systems"):
	// the rows deleted from each set with the version of their deletion, the oldest version a
	// delta token may name (older tokens have expired), and the tables whose ChangeTrackingEnabled
	// is false (logical names).
	deleted    map[string][]tombstone
	deltaFloor int
	untracked  map[string]bool
	// limits bookkeeping
	recent   []time.Time
	inFlight int
	busy     []execution // time spent serving, for the execution-time limit
}

// tombstone is a row deleted from a set at a version, for delta reads.
type tombstone struct {
	id      string
	version int
}

type execution struct {
	at time.Time
	d  time.Duration
}

func (e *environment) nextVersion() int { e.version++; return e.version }

// put stores a record with the common fields, the set's extras as null, and a new version.
func (e *environment) put(set string, r record, now time.Time) record {
	for _, f := range commonExtras {
		if _, ok := r[f]; !ok {
			r[f] = nil
		}
	}
	for _, f := range setExtras[set] {
		if _, ok := r[f]; !ok {
			r[f] = nil
		}
	}
	ts := now.UTC().Format(time.RFC3339)
	if _, ok := r["createdon"]; !ok {
		r["createdon"] = ts
		r["_createdby_value"] = e.operatorUser
		r["_organizationid_value"] = e.orgID
	}
	r["modifiedon"] = ts
	r["_modifiedby_value"] = e.operatorUser
	r["versionnumber"] = e.nextVersion()
	e.sets[set][r.str(keys[set])] = r
	return r
}

func etag(r record) string { return fmt.Sprintf(`W/"%d"`, r.num("versionnumber")) }

func newEnvironment(cfg EnvironmentConfig, now time.Time, operatorAppID string) *environment {
	e := &environment{
		name: cfg.Name, envID: cfg.EnvironmentID, orgName: cfg.OrganizationName, orgID: nameGUID("org/" + cfg.Name),
		sets:      map[string]map[string]record{},
		rolePrivs: map[string]map[string]int{}, userRoles: map[string]map[string]bool{},
		teamRoles: map[string]map[string]bool{}, teamMembers: map[string]map[string]bool{},
		entra: map[string]*EntraUser{}, pending: map[string]time.Time{},
		allowRolesOnDisabled: cfg.AllowRoleAssignmentOnDisabledUsers,
		entraSyncDelay:       cfg.EntraSyncDelay,
		deleted:              map[string][]tombstone{}, untracked: map[string]bool{},
	}
	for _, t := range cfg.UntrackedTables {
		e.untracked[strings.ToLower(t)] = true
	}
	for s := range keys {
		e.sets[s] = map[string]record{}
	}
	e.operatorUser = nameGUID("operator/" + cfg.Name)
	for _, p := range theCatalog.privs {
		e.put("privileges", record{
			"privilegeid": p.id, "name": p.name, "accessright": p.right,
			"canbebasic": !p.orgOnly, "canbelocal": !p.orgOnly, "canbedeep": !p.orgOnly, "canbeglobal": true,
			"canbeentityreference": false, "canbeparententityreference": false,
		}, now)
		if p.table != "" {
			id := nameGUID("potc/" + p.name)
			e.put("privilegeobjecttypecodes", record{
				"privilegeobjecttypecodeid": id, "objecttypecode": p.table, "_privilegeid_value": p.id,
			}, now)
		}
	}
	// One root business unit named after the organization, not "root" (docs/design.md, "Sync target").
	e.rootBU = e.createBU(cfg.OrganizationName, "", now)
	// The built-in roles every environment has; managed, so the operator adopts, never changes.
	for _, name := range []string{"System Administrator", "System Customizer", "Basic User", "Environment Maker", "Salesperson", "Common Data Service User", "Delegate"} {
		id := e.createRole(name, e.rootBU, 1, now)
		e.sets["roles"][id]["ismanaged"] = true
		if name == "System Administrator" {
			all := map[string]int{}
			for _, p := range theCatalog.privs {
				all[p.id] = 3
			}
			e.setRolePrivs(id, all)
		}
	}
	// SYSTEM and INTEGRATION exist in every organization; then the operator's own application
	// user, without which the real service answers 403 to everything.
	e.put("systemusers", e.userRecord(nameGUID("system/"+cfg.Name), "", "SYSTEM", "", "", 3, false, e.rootBU), now)
	e.put("systemusers", e.userRecord(nameGUID("integration/"+cfg.Name), "", "INTEGRATION", "", "", 0, true, e.rootBU), now)
	op := e.userRecord(e.operatorUser, "", "# dataverse-access-operator", "", operatorAppID, 4, false, e.rootBU)
	e.put("systemusers", op, now)
	e.userRoles[e.operatorUser] = map[string]bool{e.roleByName("System Administrator", e.rootBU): true}
	return e
}

func (e *environment) roleByName(name, bu string) string {
	for id, r := range e.sets["roles"] {
		if strings.EqualFold(r.str("name"), name) && r.str("_businessunitid_value") == bu {
			return id
		}
	}
	return ""
}

func (e *environment) userRecord(id, domain, fullname, objectID, appID string, mode int, disabled bool, bu string) record {
	var app, obj any
	if appID != "" {
		app = strings.ToLower(appID)
	}
	if objectID != "" {
		obj = strings.ToLower(objectID)
	}
	return record{
		"systemuserid": id, "domainname": domain, "fullname": fullname, "azureactivedirectoryobjectid": obj,
		"applicationid": app, "accessmode": mode, "isdisabled": disabled, "islicensed": false, "deletedstate": 0,
		"_businessunitid_value": bu, "caltype": 0, "setupuser": false, "isintegrationuser": false,
		"issyncwithdirectory": appID == "", "userlicensetype": -1, "azurestate": 0,
	}
}

// createBU adds a unit with its default team, and copies every role of the units above into it:
// the platform keeps an inherited copy of each role in every descendant unit.
func (e *environment) createBU(name, parent string, now time.Time) string {
	id := newGUID()
	var p any
	if parent != "" {
		p = parent
	}
	e.put("businessunits", record{"businessunitid": id, "name": name, "_parentbusinessunitid_value": p, "isdisabled": false}, now)
	team := newGUID()
	e.put("teams", record{"teamid": team, "name": name, "teamtype": 0, "_businessunitid_value": id,
		"azureactivedirectoryobjectid": nil, "membershiptype": 0, "isdefault": true}, now)
	if parent != "" {
		for _, anc := range e.ancestors(id) {
			for rid, r := range e.sets["roles"] {
				if r.str("_businessunitid_value") == anc && r["_parentrootroleid_value"] == rid {
					e.copyRole(rid, id, now)
				}
			}
		}
	}
	return id
}

// ancestors lists the units above bu, nearest first.
func (e *environment) ancestors(bu string) []string {
	var out []string
	for cur := e.sets["businessunits"][bu].str("_parentbusinessunitid_value"); cur != ""; cur = e.sets["businessunits"][cur].str("_parentbusinessunitid_value") {
		out = append(out, cur)
	}
	return out
}

func (e *environment) descendants(bu string) []string {
	var out []string
	for id := range e.sets["businessunits"] {
		for _, a := range e.ancestors(id) {
			if a == bu {
				out = append(out, id)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// createRole adds a role with the default privileges, and its inherited copies below.
func (e *environment) createRole(name, bu string, inherited int, now time.Time) string {
	id := newGUID()
	e.put("roles", record{"roleid": id, "name": name, "_businessunitid_value": bu, "isinherited": inherited,
		"_parentrootroleid_value": id, "_parentroleid_value": nil, "ismanaged": false}, now)
	privs := map[string]int{}
	for _, n := range defaultRolePrivileges {
		privs[theCatalog.byName[strings.ToLower(n)].id] = 3
	}
	e.setRolePrivs(id, privs)
	for _, d := range e.descendants(bu) {
		e.copyRole(id, d, now)
	}
	return id
}

func (e *environment) copyRole(root, bu string, now time.Time) {
	src := e.sets["roles"][root]
	id := newGUID()
	e.put("roles", record{"roleid": id, "name": src.str("name"), "_businessunitid_value": bu, "isinherited": src["isinherited"],
		"_parentrootroleid_value": root, "_parentroleid_value": root, "ismanaged": src["ismanaged"]}, now)
	e.rolePrivs[id] = e.rolePrivs[root]
}

// setRolePrivs replaces a role's privileges; inherited copies share the map, as they share the
// privileges on the service.
func (e *environment) setRolePrivs(role string, privs map[string]int) {
	e.rolePrivs[role] = privs
	for id, r := range e.sets["roles"] {
		if r.str("_parentrootroleid_value") == role && id != role {
			e.rolePrivs[id] = privs
		}
	}
}
