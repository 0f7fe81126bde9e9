package access

import "github.com/accessplane/dataverse-access-operator/api/v1alpha1"

// BuiltInRoleSpec returns the spec of a built-in role the Environment creates and keeps. The
// product does not publish its predefined roles privilege by privilege, so these are our reading
// of them, small on purpose (only the tables the rules and the samples need):
//
//   - System Administrator: everything at Organization on every table (SR7), so no table list;
//     member's privilege inheritance fixed at DirectUserBasicAndTeam.
//   - System Customizer: the customization tables (webresource, systemform, savedquery, solution)
//     FullAccess; account and contact Private (its own records only); ExportCustomizations,
//     ImportCustomizations and PublishCustomizations; ExportToExcel and Print.
//   - Basic User: account, contact, activitypointer and annotation Private; systemuser and
//     webresource Reference; ExportToExcel and Print.
//   - Environment Maker: canvasapp, workflow and connectionreference Private (makes apps, flows
//     and connections); solution FullAccess; webresource Reference; no customer data.
//   - Salesperson: account and contact Collaborate; lead, opportunity and activitypointer
//     Private; webresource Reference; ExportToExcel, Print, SyncToOutlook and GoOffline.
//   - Common Data Service User: account and contact read, append and appendTo at BusinessUnit,
//     create, write, delete, assign and share at User; activitypointer Private; webresource
//     Reference; ExportToExcel and Print.
//
// Every role but System Administrator lists Read on webresource (SR8), organization-owned tables
// take only Organization or None (SR3), and all use DirectUserBasicAndTeam (SR7). An unknown role
// gets an empty spec of that builtIn.
func BuiltInRoleSpec(environment string, role v1alpha1.BuiltInRole) v1alpha1.SecurityRoleSpec {
	spec := v1alpha1.SecurityRoleSpec{
		EnvironmentName:            environment,
		RoleName:                   BuiltInDisplayName(role),
		BuiltIn:                    role,
		MemberPrivilegeInheritance: v1alpha1.InheritDirectUserBasicAndTeam,
	}
	webresource := orgTable(WebResourceTable, v1alpha1.PermissionReference)
	switch role {
	case v1alpha1.BuiltInSystemCustomizer:
		spec.Tables = []v1alpha1.TablePermission{
			preset("account", v1alpha1.PermissionPrivate),
			preset("contact", v1alpha1.PermissionPrivate),
			orgTable("savedquery", v1alpha1.PermissionFullAccess),
			orgTable("solution", v1alpha1.PermissionFullAccess),
			orgTable("systemform", v1alpha1.PermissionFullAccess),
			orgTable(WebResourceTable, v1alpha1.PermissionFullAccess),
		}
		spec.MiscellaneousPrivileges = named("ExportCustomizations", "ImportCustomizations", "PublishCustomizations")
		spec.PrivacyPrivileges = named("ExportToExcel", "Print")
	case v1alpha1.BuiltInBasicUser:
		spec.Tables = []v1alpha1.TablePermission{
			preset("account", v1alpha1.PermissionPrivate),
			preset("activitypointer", v1alpha1.PermissionPrivate),
			preset("annotation", v1alpha1.PermissionPrivate),
			preset("contact", v1alpha1.PermissionPrivate),
			preset("systemuser", v1alpha1.PermissionReference),
			webresource,
		}
		spec.PrivacyPrivileges = named("ExportToExcel", "Print")
	case v1alpha1.BuiltInEnvironmentMaker:
		spec.Tables = []v1alpha1.TablePermission{
			preset("canvasapp", v1alpha1.PermissionPrivate),
			preset("connectionreference", v1alpha1.PermissionPrivate),
			orgTable("solution", v1alpha1.PermissionFullAccess),
			webresource,
			preset("workflow", v1alpha1.PermissionPrivate),
		}
	case v1alpha1.BuiltInSalesperson:
		spec.Tables = []v1alpha1.TablePermission{
			preset("account", v1alpha1.PermissionCollaborate),
			preset("activitypointer", v1alpha1.PermissionPrivate),
			preset("contact", v1alpha1.PermissionCollaborate),
			preset("lead", v1alpha1.PermissionPrivate),
			preset("opportunity", v1alpha1.PermissionPrivate),
			webresource,
		}
		spec.PrivacyPrivileges = named("ExportToExcel", "GoOffline", "Print", "SyncToOutlook")
	case v1alpha1.BuiltInCommonDataServiceUser:
		readUnitWriteOwn := &v1alpha1.TablePrivileges{
			Create: v1alpha1.AccessUser, Read: v1alpha1.AccessBusinessUnit, Write: v1alpha1.AccessUser,
			Delete: v1alpha1.AccessUser, Append: v1alpha1.AccessBusinessUnit, AppendTo: v1alpha1.AccessBusinessUnit,
			Assign: v1alpha1.AccessUser, Share: v1alpha1.AccessUser,
		}
		spec.Tables = []v1alpha1.TablePermission{
			custom("account", readUnitWriteOwn),
			preset("activitypointer", v1alpha1.PermissionPrivate),
			custom("contact", readUnitWriteOwn),
			webresource,
		}
		spec.PrivacyPrivileges = named("ExportToExcel", "Print")
	}
	return spec
}

// BuiltInDisplayName is the name the product shows for a built-in role.
func BuiltInDisplayName(role v1alpha1.BuiltInRole) string {
	switch role {
	case v1alpha1.BuiltInSystemAdministrator:
		return "System Administrator"
	case v1alpha1.BuiltInSystemCustomizer:
		return "System Customizer"
	case v1alpha1.BuiltInBasicUser:
		return "Basic User"
	case v1alpha1.BuiltInEnvironmentMaker:
		return "Environment Maker"
	case v1alpha1.BuiltInSalesperson:
		return "Salesperson"
	case v1alpha1.BuiltInCommonDataServiceUser:
		return "Common Data Service User"
	}
	return string(role)
}

func preset(table string, s v1alpha1.PermissionSetting) v1alpha1.TablePermission {
	return v1alpha1.TablePermission{Table: table, Ownership: v1alpha1.OwnershipUserOrTeam, PermissionSetting: s}
}

func orgTable(table string, s v1alpha1.PermissionSetting) v1alpha1.TablePermission {
	return v1alpha1.TablePermission{Table: table, Ownership: v1alpha1.OwnershipOrganization, PermissionSetting: s}
}

func custom(table string, tp *v1alpha1.TablePrivileges) v1alpha1.TablePermission {
	cp := *tp
	return v1alpha1.TablePermission{Table: table, Ownership: v1alpha1.OwnershipUserOrTeam, PermissionSetting: v1alpha1.PermissionCustom, Privileges: &cp}
}

func named(names ...string) []v1alpha1.NamedPrivilege {
	out := make([]v1alpha1.NamedPrivilege, 0, len(names))
	for _, n := range names {
		out = append(out, v1alpha1.NamedPrivilege{Name: n, Level: v1alpha1.AccessOrganization})
	}
	return out
}
