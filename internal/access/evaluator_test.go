package access

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
)

// tree: contoso is the root; sales and it below it; emea below sales.
var tree = butree.Tree{"contoso": "", "sales": "contoso", "emea": "sales", "it": "contoso"}

func role(name string, spec v1alpha1.SecurityRoleSpec) Role {
	return Role{Name: name, RoleName: name + "-display", Spec: spec}
}

func tables(tps ...v1alpha1.TablePermission) v1alpha1.SecurityRoleSpec {
	return v1alpha1.SecurityRoleSpec{Tables: tps}
}

func custom1(table string, tp v1alpha1.TablePrivileges) v1alpha1.TablePermission {
	return v1alpha1.TablePermission{Table: table, Privileges: &tp}
}

var (
	sysAdmin    = Role{Name: "contoso-system-administrator", RoleName: "System Administrator", Spec: BuiltInRoleSpec("contoso", v1alpha1.BuiltInSystemAdministrator)}
	webReader   = v1alpha1.TablePermission{Table: "webresource", PermissionSetting: v1alpha1.PermissionReference}
	direct      = func(r Role) Assignment { return Assignment{Role: r, Source: "Direct"} }
	emeaTeam    = &TeamRef{Name: "emea-group", BusinessUnit: "emea"}
	viaEMEATeam = func(r Role) Assignment { return Assignment{Role: r, Source: "Team/emea-group", Team: emeaTeam} }
)

// levels projects a result onto readable lines: every (table, privilege) and named privilege
// above None, with the granted level where the access mode lowers it.
func levels(r Result) []string {
	out := []string{"access " + string(r.Access)}
	for _, ta := range r.Tables {
		for _, pa := range ta.Privileges {
			if pa.Granted.Rank() == 0 && pa.Level.Rank() == 0 {
				continue
			}
			line := fmt.Sprintf("%s %s %s", ta.Table, pa.Privilege, pa.Level)
			if pa.Level != pa.Granted {
				line += " (granted " + string(pa.Granted) + ")"
			}
			out = append(out, line)
		}
	}
	for _, kind := range []struct {
		name string
		list []NamedAccess
	}{{"misc", r.Miscellaneous}, {"privacy", r.Privacy}} {
		for _, na := range kind.list {
			line := fmt.Sprintf("%s %s %s", kind.name, na.Name, na.Level)
			if na.Level != na.Granted {
				line += " (granted " + string(na.Granted) + ")"
			}
			out = append(out, line)
		}
	}
	return out
}

func TestEvaluateLevels(t *testing.T) {
	deleter := role("deleter", tables(webReader, custom1("account", v1alpha1.TablePrivileges{Delete: usr, Read: bu})))
	writer := role("writer", tables(custom1("account", v1alpha1.TablePrivileges{Write: v1alpha1.AccessLocal, Read: org})))
	legacyA := role("legacy-a", tables(webReader, custom1("contact", v1alpha1.TablePrivileges{Read: v1alpha1.AccessGlobal, Create: v1alpha1.AccessBasic})))
	legacyB := role("legacy-b", tables(custom1("contact", v1alpha1.TablePrivileges{Read: v1alpha1.AccessLocal, Create: v1alpha1.AccessDeep})))
	exporter := role("exporter", v1alpha1.SecurityRoleSpec{
		Tables:                  []v1alpha1.TablePermission{webReader, {Table: "lead", PermissionSetting: v1alpha1.PermissionPrivate}},
		MiscellaneousPrivileges: []v1alpha1.NamedPrivilege{{Name: "PublishArticles", Level: org}},
		PrivacyPrivileges:       []v1alpha1.NamedPrivilege{{Name: "ExportToExcel", Level: v1alpha1.AccessGlobal}},
	})
	leadOnly := []string{"lead create User", "lead read User", "lead write User", "lead delete User", "lead append User", "lead appendTo User", "lead assign User", "lead share User", "webresource read Organization"}
	cases := []struct {
		name string
		p    Principal
		opts Options
		want []string
	}{
		{"SR6 privileges of two roles add up: one grants Delete, the other Write, the higher Read wins",
			Principal{Name: "u", BusinessUnit: "sales", Enabled: true, Roles: []Assignment{direct(deleter), direct(writer)}}, Options{},
			[]string{"access Full", "account read Organization", "account write BusinessUnit", "account delete User", "webresource read Organization"}},
		{"SR2 legacy aliases are canonical and the higher level includes the lower",
			Principal{Name: "u", BusinessUnit: "sales", Enabled: true, Roles: []Assignment{direct(legacyA), direct(legacyB)}}, Options{},
			[]string{"access Full", "contact create ParentChildBusinessUnits", "contact read Organization", "webresource read Organization"}},
		{"AM1 ReadWrite, the default mode, gives Full access with named privileges",
			Principal{Name: "u", Enabled: true, Roles: []Assignment{direct(exporter)}}, Options{},
			append(append([]string{"access Full"}, leadOnly...), "misc PublishArticles Organization", "privacy ExportToExcel Organization")},
		{"AM4 Administrative reaches settings only: table and privacy privileges None, grants kept",
			Principal{Name: "u", AccessMode: v1alpha1.AccessModeAdministrative, Enabled: true, Roles: []Assignment{direct(exporter)}}, Options{},
			[]string{"access SettingsOnly",
				"lead create None (granted User)", "lead read None (granted User)", "lead write None (granted User)", "lead delete None (granted User)",
				"lead append None (granted User)", "lead appendTo None (granted User)", "lead assign None (granted User)", "lead share None (granted User)",
				"webresource read None (granted Organization)", "misc PublishArticles Organization", "privacy ExportToExcel None (granted Organization)"}},
		{"AM4 NonInteractive is Programmatic with the roles' levels",
			Principal{Name: "u", AccessMode: v1alpha1.AccessModeNonInteractive, Enabled: true, Roles: []Assignment{direct(exporter)}}, Options{},
			append(append([]string{"access Programmatic"}, leadOnly...), "misc PublishArticles Organization", "privacy ExportToExcel Organization")},
		{"AM4 AM7 an application user is Programmatic whatever its access mode",
			Principal{Name: "app", Application: true, AccessMode: v1alpha1.AccessModeReadWrite, Enabled: true, Roles: []Assignment{direct(exporter)}}, Options{},
			append(append([]string{"access Programmatic"}, leadOnly...), "misc PublishArticles Organization", "privacy ExportToExcel Organization")},
		{"AM4 EN5 an enabled user with no role reaches nothing: access None, as status.access says",
			Principal{Name: "u", Enabled: true}, Options{},
			[]string{"access None"}},
		{"AM4 a disabled user has access None and its levels still reported",
			Principal{Name: "u", Enabled: false, Roles: []Assignment{direct(exporter)}}, Options{},
			append(append([]string{"access None"}, leadOnly...), "misc PublishArticles Organization", "privacy ExportToExcel Organization")},
		{"AM9 AdministratorRole source with System Administrator gives Organization everywhere",
			Principal{Name: "u", BusinessUnit: "emea", Enabled: true, Roles: []Assignment{
				{Role: sysAdmin, Source: "AdministratorRole/GlobalAdministrator"}, direct(exporter)}}, Options{},
			[]string{"access Full",
				"* create Organization", "* read Organization", "* write Organization", "* delete Organization",
				"* append Organization", "* appendTo Organization", "* assign Organization", "* share Organization",
				"lead create Organization", "lead read Organization", "lead write Organization", "lead delete Organization",
				"lead append Organization", "lead appendTo Organization", "lead assign Organization", "lead share Organization",
				"webresource create Organization", "webresource read Organization", "webresource write Organization", "webresource delete Organization",
				"webresource append Organization", "webresource appendTo Organization", "webresource assign Organization", "webresource share Organization",
				"misc * Organization", "misc PublishArticles Organization", "privacy * Organization", "privacy ExportToExcel Organization"}},
		{"AM9 System Administrator covers a requested table no role lists",
			Principal{Name: "u", Enabled: true, Roles: []Assignment{{Role: sysAdmin, Source: "AdministratorRole/ServiceAdministrator"}}}, Options{Table: "invoice"},
			[]string{"access Full",
				"invoice create Organization", "invoice read Organization", "invoice write Organization", "invoice delete Organization",
				"invoice append Organization", "invoice appendTo Organization", "invoice assign Organization", "invoice share Organization"}},
		{"SR4 a table filter keeps one table and no named privileges",
			Principal{Name: "u", Enabled: true, Roles: []Assignment{direct(exporter), direct(deleter)}}, Options{Table: "account"},
			[]string{"access Full", "account read BusinessUnit", "account delete User"}},
		{"SR6 a table filter on a table no role lists gives None",
			Principal{Name: "u", Enabled: true, Roles: []Assignment{direct(exporter)}}, Options{Table: "invoice"},
			[]string{"access Full"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, levels(Evaluate(c.p, tree, c.opts))); diff != "" {
				t.Errorf("Evaluate mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateGrants(t *testing.T) {
	teamRole := func(inherit v1alpha1.MemberPrivilegeInheritance) Role {
		spec := tables(webReader, custom1("account", v1alpha1.TablePrivileges{Read: bu, Create: usr}))
		spec.MemberPrivilegeInheritance = inherit
		return Role{Name: "team-reader", RoleName: "Team Reader", Spec: spec}
	}
	salesManager := Role{Name: "sales-manager", RoleName: "Sales Manager", BusinessUnit: "sales",
		Spec: tables(webReader, custom1("account", v1alpha1.TablePrivileges{Read: v1alpha1.AccessDeep}))}
	user := func(as ...Assignment) Principal {
		return Principal{Name: "alice", BusinessUnit: "sales", Enabled: true, Roles: as}
	}
	teamGrant := func(l v1alpha1.AccessLevel) Grant {
		return Grant{Role: "team-reader", RoleName: "Team Reader", Source: "Team/emea-group", Level: l, Via: ViaTeam, Team: "emea-group", BusinessUnit: "emea"}
	}
	memberGrant := func(l v1alpha1.AccessLevel) Grant {
		return Grant{Role: "team-reader", RoleName: "Team Reader", Source: "Team/emea-group", Level: l, Via: ViaUser, Team: "emea-group", BusinessUnit: "sales"}
	}
	cases := []struct {
		name      string
		p         Principal
		table     string
		privilege Privilege
		want      PrivilegeAccess
	}{
		{"TM2 TeamPrivilegesOnly: levels above User are measured from the team's business unit",
			user(viaEMEATeam(teamRole(v1alpha1.InheritTeamPrivilegesOnly))), "account", Read,
			PrivilegeAccess{Privilege: Read, Level: bu, Granted: bu, Grants: []Grant{teamGrant(bu)}}},
		{"TM2 TeamPrivilegesOnly: User level covers records the team owns",
			user(viaEMEATeam(teamRole(v1alpha1.InheritTeamPrivilegesOnly))), "account", Create,
			PrivilegeAccess{Privilege: Create, Level: usr, Granted: usr, Grants: []Grant{teamGrant(usr)}}},
		{"TM3 DirectUserBasicAndTeam: the member holds each privilege directly at Basic (User) level only; the deeper level reaches it through the team",
			user(viaEMEATeam(teamRole(v1alpha1.InheritDirectUserBasicAndTeam))), "account", Read,
			PrivilegeAccess{Privilege: Read, Level: bu, Granted: bu, Grants: []Grant{teamGrant(bu), memberGrant(usr)}}},
		{"SR7 TM3 empty inheritance is DirectUserBasicAndTeam",
			user(viaEMEATeam(teamRole(""))), "account", Create,
			PrivilegeAccess{Privilege: Create, Level: usr, Granted: usr, Grants: []Grant{memberGrant(usr), teamGrant(usr)}}},
		{"TM2 a team source without a TeamRef is a team of the root unit",
			user(Assignment{Role: teamRole(v1alpha1.InheritTeamPrivilegesOnly), Source: "Team/hq"}), "account", Read,
			PrivilegeAccess{Privilege: Read, Level: bu, Granted: bu, Grants: []Grant{
				{Role: "team-reader", RoleName: "Team Reader", Source: "Team/hq", Level: bu, Via: ViaTeam, Team: "hq", BusinessUnit: "contoso"}}}},
		{"SR6 grants of a direct role and a team role are listed highest first",
			user(viaEMEATeam(teamRole(v1alpha1.InheritTeamPrivilegesOnly)), direct(salesManager)), "account", Read,
			PrivilegeAccess{Privilege: Read, Level: pcbu, Granted: pcbu, Grants: []Grant{
				{Role: "sales-manager", RoleName: "Sales Manager", Source: "Direct", Level: pcbu, Via: ViaUser, BusinessUnit: "sales"},
				teamGrant(bu)}}},
		{"SR7 TM3 System Administrator held through a team reaches the member directly (at User level) whatever its inheritance says",
			user(Assignment{Role: func() Role {
				r := sysAdmin
				r.Spec.MemberPrivilegeInheritance = v1alpha1.InheritTeamPrivilegesOnly
				return r
			}(), Source: "Team/emea-group", Team: emeaTeam}), "account", Delete,
			PrivilegeAccess{Privilege: Delete, Level: org, Granted: org, Grants: []Grant{
				{Role: "contoso-system-administrator", RoleName: "System Administrator", Source: "Team/emea-group", Level: org, Via: ViaTeam, Team: "emea-group", BusinessUnit: "emea"},
				{Role: "contoso-system-administrator", RoleName: "System Administrator", Source: "Team/emea-group", Level: usr, Via: ViaUser, Team: "emea-group", BusinessUnit: "sales"}}}},
		{"TM3 a direct DirectUserBasicAndTeam role is not capped: every level reaches the user directly",
			user(direct(teamRole(v1alpha1.InheritDirectUserBasicAndTeam))), "account", Read,
			PrivilegeAccess{Privilege: Read, Level: bu, Granted: bu, Grants: []Grant{
				{Role: "team-reader", RoleName: "Team Reader", Source: "Direct", Level: bu, Via: ViaUser, BusinessUnit: "sales"}}}},
		{"SR6 the same role through two sources gives one grant per source, no duplicates",
			user(direct(salesManager), direct(salesManager), Assignment{Role: salesManager, Source: "StubDefault"}), "account", Read,
			PrivilegeAccess{Privilege: Read, Level: pcbu, Granted: pcbu, Grants: []Grant{
				{Role: "sales-manager", RoleName: "Sales Manager", Source: "Direct", Level: pcbu, Via: ViaUser, BusinessUnit: "sales"},
				{Role: "sales-manager", RoleName: "Sales Manager", Source: "StubDefault", Level: pcbu, Via: ViaUser, BusinessUnit: "sales"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ta, found := Evaluate(c.p, tree, Options{}).Lookup(c.table)
			if !found {
				t.Fatalf("table %q not in result", c.table)
			}
			if diff := cmp.Diff(c.want, ta.Privilege(c.privilege)); diff != "" {
				t.Errorf("grants mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateTM2AndTM3Differ(t *testing.T) {
	eval := func(inherit v1alpha1.MemberPrivilegeInheritance) Result {
		spec := tables(webReader, custom1("account", v1alpha1.TablePrivileges{Read: bu}))
		spec.MemberPrivilegeInheritance = inherit
		r := Role{Name: "team-reader", Spec: spec}
		return Evaluate(Principal{Name: "alice", BusinessUnit: "sales", Enabled: true, Roles: []Assignment{viaEMEATeam(r)}}, tree, Options{})
	}
	if cmp.Diff(eval(v1alpha1.InheritTeamPrivilegesOnly), eval(v1alpha1.InheritDirectUserBasicAndTeam)) == "" {
		t.Error("TM2 TM3 the same team role gave the same evaluation with TeamPrivilegesOnly and DirectUserBasicAndTeam")
	}
}

func TestEvaluateNotes(t *testing.T) {
	noWeb := role("no-web", tables(v1alpha1.TablePermission{Table: "account", PermissionSetting: v1alpha1.PermissionFullAccess}))
	web := role("web", tables(webReader))
	emeaRole := Role{Name: "emea-only", RoleName: "EMEA Only", BusinessUnit: "emea", Spec: tables(webReader)}
	cases := []struct {
		name string
		p    Principal
		want []string
	}{
		{"SR8 no role reads webresource", Principal{Enabled: true, Roles: []Assignment{direct(noWeb)}}, []string{NoteNoWebResource}},
		{"SR8 one role reading webresource is enough", Principal{Enabled: true, Roles: []Assignment{direct(noWeb), direct(web)}}, nil},
		{"SR8 System Administrator reads webresource", Principal{Enabled: true, Roles: []Assignment{{Role: sysAdmin, Source: "AdministratorRole/GlobalAdministrator"}}}, []string{NoteAllTables}},
		{"EN5 no security role", Principal{Enabled: true}, []string{NoteNoRoles}},
		{"AM4 disabled Administrative", Principal{AccessMode: v1alpha1.AccessModeAdministrative, Roles: []Assignment{direct(web)}}, []string{NoteDisabled, NoteAdministrative}},
		{"AM4 NonInteractive", Principal{AccessMode: v1alpha1.AccessModeNonInteractive, Enabled: true, Roles: []Assignment{direct(web)}}, []string{NoteProgrammatic}},
		{"SR5 a role of a unit below the user's is out of reach",
			Principal{BusinessUnit: "sales", Enabled: true, Roles: []Assignment{direct(emeaRole)}},
			[]string{`role "EMEA Only" (Direct) belongs to business unit "emea", which is neither "sales" nor above it: the product refuses this assignment (SR5)`}},
		{"SR5 a role of a unit above the user's is available", Principal{BusinessUnit: "emea", Enabled: true, Roles: []Assignment{direct(emeaRole)}}, nil},
		{"SR5 a team's role is checked against the team's unit",
			Principal{BusinessUnit: "it", Enabled: true, Roles: []Assignment{viaEMEATeam(emeaRole)}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, Evaluate(c.p, tree, Options{}).Notes); diff != "" {
				t.Errorf("notes mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEvaluateIsDeterministic(t *testing.T) {
	a := role("a", v1alpha1.SecurityRoleSpec{
		Tables:            []v1alpha1.TablePermission{webReader, {Table: "contact", PermissionSetting: v1alpha1.PermissionCollaborate}},
		PrivacyPrivileges: []v1alpha1.NamedPrivilege{{Name: "Print"}, {Name: "ExportToExcel"}},
	})
	b := role("b", tables(custom1("contact", v1alpha1.TablePrivileges{Read: bu, Write: bu}), custom1("account", v1alpha1.TablePrivileges{Read: usr})))
	p := Principal{Name: "u", BusinessUnit: "sales", Enabled: true, Roles: []Assignment{direct(a), viaEMEATeam(b), {Role: sysAdmin, Source: "AdministratorRole/GlobalAdministrator"}}}
	q := p
	q.Roles = []Assignment{p.Roles[2], p.Roles[1], p.Roles[0]}
	first := Evaluate(p, tree, Options{})
	if diff := cmp.Diff(first, Evaluate(q, tree, Options{})); diff != "" {
		t.Errorf("SR6 role order changed the result (-first +reordered):\n%s", diff)
	}
	var names []string
	for _, ta := range first.Tables {
		names = append(names, ta.Table)
	}
	if diff := cmp.Diff([]string{"*", "account", "contact", "webresource"}, names); diff != "" {
		t.Errorf("SR6 tables not sorted (-want +got):\n%s", diff)
	}
}

func TestLookup(t *testing.T) {
	web := role("web", tables(webReader))
	r := Evaluate(Principal{Enabled: true, Roles: []Assignment{direct(web)}}, tree, Options{})
	ta, found := r.Lookup("invoice")
	if found {
		t.Error("SR6 Lookup found a table no role lists")
	}
	if diff := cmp.Diff(noneTable("invoice"), ta); diff != "" {
		t.Errorf("SR6 Lookup of an unlisted table mismatch (-want +got):\n%s", diff)
	}
	admin := Evaluate(Principal{Enabled: true, Roles: []Assignment{direct(sysAdmin)}}, tree, Options{})
	ta, found = admin.Lookup("invoice")
	if !found || ta.Table != "invoice" || ta.Privilege(Share).Level != org {
		t.Errorf("SR7 Lookup on System Administrator = %+v, %v; want invoice at Organization", ta, found)
	}
}
