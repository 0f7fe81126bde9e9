package access

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

var allBuiltIns = []v1alpha1.BuiltInRole{
	v1alpha1.BuiltInSystemAdministrator, v1alpha1.BuiltInSystemCustomizer, v1alpha1.BuiltInBasicUser,
	v1alpha1.BuiltInEnvironmentMaker, v1alpha1.BuiltInSalesperson, v1alpha1.BuiltInCommonDataServiceUser,
}

func TestBuiltInRoleSpecSystemAdministrator(t *testing.T) {
	want := v1alpha1.SecurityRoleSpec{
		EnvironmentName:            "contoso",
		RoleName:                   "System Administrator",
		BuiltIn:                    v1alpha1.BuiltInSystemAdministrator,
		MemberPrivilegeInheritance: v1alpha1.InheritDirectUserBasicAndTeam,
	}
	got := BuiltInRoleSpec("contoso", v1alpha1.BuiltInSystemAdministrator)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SR7 built-in System Administrator spec mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]v1alpha1.EffectiveTable{{Table: AllTables, Privileges: privs(org, org, org, org, org, org, org, org)}}, ExpandRole(&got)); diff != "" {
		t.Errorf("SR7 System Administrator holds every privilege at Organization on every table (-want +got):\n%s", diff)
	}
}

func TestBuiltInRoleSpecs(t *testing.T) {
	wantNames := map[v1alpha1.BuiltInRole]string{
		v1alpha1.BuiltInSystemAdministrator:   "System Administrator",
		v1alpha1.BuiltInSystemCustomizer:      "System Customizer",
		v1alpha1.BuiltInBasicUser:             "Basic User",
		v1alpha1.BuiltInEnvironmentMaker:      "Environment Maker",
		v1alpha1.BuiltInSalesperson:           "Salesperson",
		v1alpha1.BuiltInCommonDataServiceUser: "Common Data Service User",
	}
	for _, role := range allBuiltIns {
		spec := BuiltInRoleSpec("fabrikam", role)
		t.Run("SR7 "+string(role)+" is built in, named and DirectUserBasicAndTeam", func(t *testing.T) {
			got := [4]string{spec.EnvironmentName, spec.RoleName, string(spec.BuiltIn), string(spec.MemberPrivilegeInheritance)}
			want := [4]string{"fabrikam", wantNames[role], string(role), string(v1alpha1.InheritDirectUserBasicAndTeam)}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
		t.Run("SR8 "+string(role)+" reads webresource", func(t *testing.T) {
			if !HasWebResourceRead(&spec) {
				t.Errorf("built-in %s has no Read on webresource", role)
			}
		})
		if role == v1alpha1.BuiltInSystemAdministrator {
			continue
		}
		t.Run("SR8 "+string(role)+" lists Read on webresource itself", func(t *testing.T) {
			found := false
			for _, et := range ExpandRole(&spec) {
				found = found || (et.Table == WebResourceTable && et.Privileges.Read.Rank() > 0)
			}
			if !found {
				t.Errorf("built-in %s does not list Read on webresource", role)
			}
			if len(spec.Tables) < 4 {
				t.Errorf("built-in %s lists only %d tables", role, len(spec.Tables))
			}
		})
		t.Run("SR3 "+string(role)+" organization-owned tables and named privileges take only Organization or None", func(t *testing.T) {
			var bad []string
			for _, tp := range spec.Tables {
				if tp.Ownership != v1alpha1.OwnershipOrganization {
					continue
				}
				e := ExpandTable(tp)
				for _, p := range Privileges {
					if l := LevelOf(e, p); l != org && l != none {
						bad = append(bad, tp.Table+"/"+string(p)+"="+string(l))
					}
				}
			}
			for _, np := range append(append([]v1alpha1.NamedPrivilege(nil), spec.MiscellaneousPrivileges...), spec.PrivacyPrivileges...) {
				if np.Level != org && np.Level != none {
					bad = append(bad, np.Name+"="+string(np.Level))
				}
			}
			if diff := cmp.Diff([]string(nil), bad); diff != "" {
				t.Errorf("levels outside Organization/None (-want +got):\n%s", diff)
			}
		})
		t.Run("SR4 "+string(role)+" tables are sorted and either a preset or Custom with privileges", func(t *testing.T) {
			for i, tp := range spec.Tables {
				if i > 0 && spec.Tables[i-1].Table >= tp.Table {
					t.Errorf("tables not sorted: %q before %q", spec.Tables[i-1].Table, tp.Table)
				}
				if (tp.PermissionSetting == v1alpha1.PermissionCustom) != (tp.Privileges != nil) {
					t.Errorf("table %q: permissionSetting %q with privileges %v breaks SR4 exclusivity", tp.Table, tp.PermissionSetting, tp.Privileges)
				}
			}
		})
	}
}

func TestBuiltInSalespersonLevels(t *testing.T) {
	spec := BuiltInRoleSpec("contoso", v1alpha1.BuiltInSalesperson)
	got := map[string]v1alpha1.TablePrivileges{}
	for _, et := range ExpandRole(&spec) {
		got[et.Table] = et.Privileges
	}
	collaborate := privs(usr, org, usr, usr, org, org, usr, usr)
	private := privs(usr, usr, usr, usr, usr, usr, usr, usr)
	want := map[string]v1alpha1.TablePrivileges{
		"account": collaborate, "contact": collaborate,
		"activitypointer": private, "lead": private, "opportunity": private,
		"webresource": privs(none, org, none, none, none, none, none, none),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SR4 Salesperson expansion mismatch (-want +got):\n%s", diff)
	}
}
