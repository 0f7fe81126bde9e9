package access

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

const (
	none = v1alpha1.AccessNone
	usr  = v1alpha1.AccessUser
	bu   = v1alpha1.AccessBusinessUnit
	pcbu = v1alpha1.AccessParentChildBusinessUnits
	org  = v1alpha1.AccessOrganization
)

// privs builds TablePrivileges in product order: create read write delete append appendTo assign share.
func privs(c, r, w, d, ap, at, as, sh v1alpha1.AccessLevel) v1alpha1.TablePrivileges {
	return v1alpha1.TablePrivileges{Create: c, Read: r, Write: w, Delete: d, Append: ap, AppendTo: at, Assign: as, Share: sh}
}

func TestExpandTable(t *testing.T) {
	cases := []struct {
		name string
		in   v1alpha1.TablePermission
		want v1alpha1.TablePrivileges
	}{
		{"SR4 NoAccess is all None",
			v1alpha1.TablePermission{Table: "account", PermissionSetting: v1alpha1.PermissionNoAccess},
			privs(none, none, none, none, none, none, none, none)},
		{"SR4 FullAccess is all Organization",
			v1alpha1.TablePermission{Table: "account", PermissionSetting: v1alpha1.PermissionFullAccess},
			privs(org, org, org, org, org, org, org, org)},
		{"SR4 Collaborate is read append appendTo at Organization and the rest at User",
			v1alpha1.TablePermission{Table: "account", PermissionSetting: v1alpha1.PermissionCollaborate},
			privs(usr, org, usr, usr, org, org, usr, usr)},
		{"SR4 Private is all User",
			v1alpha1.TablePermission{Table: "account", PermissionSetting: v1alpha1.PermissionPrivate},
			privs(usr, usr, usr, usr, usr, usr, usr, usr)},
		{"SR4 Reference is read at Organization and the rest None",
			v1alpha1.TablePermission{Table: "account", PermissionSetting: v1alpha1.PermissionReference},
			privs(none, org, none, none, none, none, none, none)},
		{"SR4 Custom takes the privileges given and absent ones are None",
			v1alpha1.TablePermission{Table: "account", PermissionSetting: v1alpha1.PermissionCustom,
				Privileges: &v1alpha1.TablePrivileges{Read: bu, Write: usr}},
			privs(none, bu, usr, none, none, none, none, none)},
		{"SR4 empty setting is Custom",
			v1alpha1.TablePermission{Table: "account", Privileges: &v1alpha1.TablePrivileges{Delete: org}},
			privs(none, none, none, org, none, none, none, none)},
		{"SR4 Custom without privileges is all None",
			v1alpha1.TablePermission{Table: "account", PermissionSetting: v1alpha1.PermissionCustom},
			privs(none, none, none, none, none, none, none, none)},
		{"SR4 a preset wins over explicit privileges admission would refuse",
			v1alpha1.TablePermission{Table: "account", PermissionSetting: v1alpha1.PermissionReference,
				Privileges: &v1alpha1.TablePrivileges{Write: org}},
			privs(none, org, none, none, none, none, none, none)},
		{"SR2 legacy names Basic Local Deep Global become canonical",
			v1alpha1.TablePermission{Table: "account", Privileges: &v1alpha1.TablePrivileges{
				Create: v1alpha1.AccessBasic, Read: v1alpha1.AccessGlobal, Write: v1alpha1.AccessLocal, Delete: v1alpha1.AccessDeep}},
			privs(usr, org, bu, pcbu, none, none, none, none)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, ExpandTable(c.in)); diff != "" {
				t.Errorf("ExpandTable mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestExpandRole(t *testing.T) {
	cases := []struct {
		name string
		spec *v1alpha1.SecurityRoleSpec
		want []v1alpha1.EffectiveTable
	}{
		{"SR4 every listed table expanded and sorted by name",
			&v1alpha1.SecurityRoleSpec{Tables: []v1alpha1.TablePermission{
				{Table: "contact", PermissionSetting: v1alpha1.PermissionPrivate},
				{Table: "account", PermissionSetting: v1alpha1.PermissionReference},
				{Table: "lead", PermissionSetting: v1alpha1.PermissionNoAccess},
			}},
			[]v1alpha1.EffectiveTable{
				{Table: "account", Privileges: privs(none, org, none, none, none, none, none, none)},
				{Table: "contact", Privileges: privs(usr, usr, usr, usr, usr, usr, usr, usr)},
				{Table: "lead", Privileges: privs(none, none, none, none, none, none, none, none)},
			}},
		{"SR4 a role without tables expands to nothing", &v1alpha1.SecurityRoleSpec{}, nil},
		{"SR4 a nil spec expands to nothing", nil, nil},
		{"SR6 duplicate entries of a table add up",
			&v1alpha1.SecurityRoleSpec{Tables: []v1alpha1.TablePermission{
				{Table: "account", Privileges: &v1alpha1.TablePrivileges{Read: usr}},
				{Table: "account", Privileges: &v1alpha1.TablePrivileges{Read: v1alpha1.AccessLocal, Write: usr}},
			}},
			[]v1alpha1.EffectiveTable{{Table: "account", Privileges: privs(none, bu, usr, none, none, none, none, none)}}},
		{"SR7 System Administrator has Organization on listed tables and on all tables",
			&v1alpha1.SecurityRoleSpec{BuiltIn: v1alpha1.BuiltInSystemAdministrator, Tables: []v1alpha1.TablePermission{
				{Table: "account", PermissionSetting: v1alpha1.PermissionNoAccess},
			}},
			[]v1alpha1.EffectiveTable{
				{Table: AllTables, Privileges: privs(org, org, org, org, org, org, org, org)},
				{Table: "account", Privileges: privs(org, org, org, org, org, org, org, org)},
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, ExpandRole(c.spec)); diff != "" {
				t.Errorf("ExpandRole mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHasWebResourceRead(t *testing.T) {
	table := func(tp v1alpha1.TablePermission) *v1alpha1.SecurityRoleSpec {
		return &v1alpha1.SecurityRoleSpec{Tables: []v1alpha1.TablePermission{tp}}
	}
	cases := []struct {
		name string
		spec *v1alpha1.SecurityRoleSpec
		want bool
	}{
		{"SR8 Reference on webresource reads it", table(v1alpha1.TablePermission{Table: "webresource", PermissionSetting: v1alpha1.PermissionReference}), true},
		{"SR8 legacy Global read on webresource reads it", table(v1alpha1.TablePermission{Table: "webresource", Privileges: &v1alpha1.TablePrivileges{Read: v1alpha1.AccessGlobal}}), true},
		{"SR8 webresource with write but no read does not", table(v1alpha1.TablePermission{Table: "webresource", Privileges: &v1alpha1.TablePrivileges{Write: org}}), false},
		{"SR8 NoAccess on webresource does not", table(v1alpha1.TablePermission{Table: "webresource", PermissionSetting: v1alpha1.PermissionNoAccess}), false},
		{"SR8 a role that does not list webresource does not", table(v1alpha1.TablePermission{Table: "account", PermissionSetting: v1alpha1.PermissionFullAccess}), false},
		{"SR8 System Administrator reads it without listing it", &v1alpha1.SecurityRoleSpec{BuiltIn: v1alpha1.BuiltInSystemAdministrator}, true},
		{"SR8 a nil spec does not", nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := HasWebResourceRead(c.spec); got != c.want {
				t.Errorf("HasWebResourceRead = %v, want %v", got, c.want)
			}
		})
	}
}

func TestLevelOfIsCanonical(t *testing.T) {
	tp := v1alpha1.TablePrivileges{Read: v1alpha1.AccessDeep}
	got := map[Privilege]v1alpha1.AccessLevel{}
	for _, p := range Privileges {
		got[p] = LevelOf(tp, p)
	}
	want := map[Privilege]v1alpha1.AccessLevel{
		Create: none, Read: pcbu, Write: none, Delete: none, Append: none, AppendTo: none, Assign: none, Share: none,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("SR2 LevelOf mismatch (-want +got):\n%s", diff)
	}
}
