package v1alpha1_test

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// Valid starting points; each bad entry changes one thing.
const (
	userBase = `environmentName: contoso, userName: ada@contoso.com`
	appBase  = `environmentName: contoso, applicationId: 6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab`
	roleBase = `environmentName: contoso`
)

// Messages of the enum errors: the values each enum marker allows, in marker order.
const (
	envTypeValues     = `supported values: "Production", "Sandbox", "Trial", "Developer", "Default"`
	productValues     = `supported values: "Dynamics365", "PowerApps"`
	accessModeValues  = `supported values: "ReadWrite", "Administrative", "NonInteractive"`
	adminRoleValues   = `supported values: "GlobalAdministrator", "ServiceAdministrator", "BillingAdministrator", "PasswordAdministrator", "UserManagementAdministrator"`
	accessLevelValues = `supported values: "None", "User", "BusinessUnit", "ParentChildBusinessUnits", "Organization", "Basic", "Local", "Deep", "Global"`
	ownershipValues   = `supported values: "UserOrTeam", "Organization"`
	presetValues      = `supported values: "Custom", "NoAccess", "FullAccess", "Collaborate", "Private", "Reference"`
	inheritanceValues = `supported values: "DirectUserBasicAndTeam", "TeamPrivilegesOnly"`
	builtInValues     = `supported values: "SystemAdministrator", "SystemCustomizer", "BasicUser", "EnvironmentMaker", "Salesperson", "CommonDataServiceUser"`
	teamTypeValues    = `supported values: "Owner", "Access", "AADSecurityGroup", "AADOfficeGroup"`
	accessValues      = `supported values: "Full", "SettingsOnly", "Programmatic", "None"`
)

// Messages of the CEL rules (substrings of the markers' messages).
const (
	msgAM3               = "Administrative and NonInteractive users take no license (AM3): remove spec.license, or set spec.accessMode to ReadWrite"
	msgAM8Enabled        = "a stub user cannot be enabled (AM8): set spec.enabled to false"
	msgAM8License        = "a stub user takes no license (AM8): remove spec.license"
	msgSR3Table          = "an Organization-owned table takes only Organization or None on every privilege (SR3)"
	msgSR3Preset         = "an Organization-owned table takes only Organization or None (SR3), and the Collaborate and Private presets grant User level"
	msgSR3Named          = "miscellaneous and privacy privileges take only Organization or None (SR3): set level to Organization or None"
	msgSR4               = "permissionSetting and privileges are exclusive (SR4): remove privileges to use the preset, or set permissionSetting to Custom"
	msgSR7               = "System Administrator's member privilege inheritance is fixed at DirectUserBasicAndTeam (SR7)"
	msgTM4               = "Access teams hold no security roles (TM4): remove spec.securityRoles"
	msgGroupRequired     = "an AADSecurityGroup or AADOfficeGroup team takes its members from an Entra group (TM1): set spec.group"
	msgGroupForbidden    = "only AADSecurityGroup and AADOfficeGroup teams have a group: remove spec.group"
	msgGroupTeamMembers  = "the members of a group team are the users that list its group in securityGroups (TM1): remove spec.members"
	msgOneRoot           = "spec.businessUnits needs exactly one root unit, a unit without parent (EV2)"
	msgKnownParent       = "every parent in spec.businessUnits must be the name of a listed unit (EV2)"
	msgOwnParent         = "a business unit cannot be its own parent (EV2)"
	msgDNSLabel          = "should match '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'"
	msgObjectNameItem    = "should match '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$'"
	msgUPN               = `should match '^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$'`
	msgGUID              = "should match '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'"
	msgSKU               = "should match '^[A-Za-z0-9][A-Za-z0-9_.-]*$'"
	msgEnvImmutable      = "environmentName is immutable: create a new object for another environment"
	msgUserNameImmutable = "userName is immutable: create a new PlatformUser for another user"
	msgAppIDImmutable    = "applicationId is immutable: create a new ApplicationUser for another application"
	msgStubImmutable     = "stub is immutable: a stub user cannot become a real user or back"
)

// flowList renders n flow-style YAML items from a format with one %d.
func flowList(n int, format string) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(format, i)
	}
	return "[" + strings.Join(items, ", ") + "]"
}

var _ = Describe("Admission refuses every single-object mistake", Ordered, ContinueOnFailure, func() {
	var ns string
	BeforeAll(func() { ns = newNamespace("refused") })

	DescribeTable("a bad object is refused as Invalid, on the right field, with a message that says what to change",
		func(kind, spec, field, message string) {
			obj := newObject(kind, ns, spec)
			expectRefused(k8sClient.Create(ctx, obj), field, message)
		},

		// ---- PlatformUser: access modes and licenses (AM3) ----
		Entry("AM3: NonInteractive user with a license", "PlatformUser",
			`{`+userBase+`, accessMode: NonInteractive, license: DYN365_ENTERPRISE_SALES}`, "spec.license", msgAM3),
		Entry("AM3: Administrative user with a license", "PlatformUser",
			`{`+userBase+`, accessMode: Administrative, license: POWERAPPS_PER_USER}`, "spec.license", msgAM3),

		// ---- PlatformUser: stub users (AM8) ----
		Entry("AM8: stub user left at the default enabled: true", "PlatformUser",
			`{`+userBase+`, stub: true}`, "spec.enabled", msgAM8Enabled),
		Entry("AM8: stub user explicitly enabled", "PlatformUser",
			`{`+userBase+`, stub: true, enabled: true}`, "spec.enabled", msgAM8Enabled),
		Entry("AM8: stub user with a license", "PlatformUser",
			`{`+userBase+`, stub: true, enabled: false, license: DYN365_ENTERPRISE_SALES}`, "spec.license", msgAM8License),

		// ---- PlatformUser: enums, formats and bounds ----
		Entry("AM1: accessMode outside the enum", "PlatformUser",
			`{`+userBase+`, accessMode: ReadOnly}`, "spec.accessMode", accessModeValues),
		Entry("AM9: administratorRoles item outside the enum", "PlatformUser",
			`{`+userBase+`, administratorRoles: [TenantAdministrator]}`, "spec.administratorRoles[0]", adminRoleValues),
		Entry("AM9: administratorRoles listed twice", "PlatformUser",
			`{`+userBase+`, administratorRoles: [GlobalAdministrator, GlobalAdministrator]}`, "spec.administratorRoles[1]", "Duplicate value"),
		Entry("userName that is not a UPN (no @)", "PlatformUser",
			`{environmentName: contoso, userName: ada}`, "spec.userName", msgUPN),
		Entry("userName whose domain has no dot", "PlatformUser",
			`{environmentName: contoso, userName: ada@contoso}`, "spec.userName", msgUPN),
		Entry("userName longer than 113 characters", "PlatformUser",
			`{environmentName: contoso, userName: `+strings.Repeat("a", 102)+`@contoso.com}`, "spec.userName", "may not be more than 113"),
		Entry("userName missing", "PlatformUser",
			`{environmentName: contoso}`, "spec.userName", "Required value"),
		Entry("environmentName that is not a DNS label", "PlatformUser",
			`{environmentName: Contoso_Sales, userName: ada@contoso.com}`, "spec.environmentName", msgDNSLabel),
		Entry("environmentName longer than 63 characters", "PlatformUser",
			`{environmentName: `+strings.Repeat("c", 64)+`, userName: ada@contoso.com}`, "spec.environmentName", "may not be more than 63"),
		Entry("environmentName missing", "PlatformUser",
			`{userName: ada@contoso.com}`, "spec.environmentName", "Required value"),
		Entry("securityRoles item that is not an object name", "PlatformUser",
			`{`+userBase+`, securityRoles: [Sales Manager]}`, "spec.securityRoles[0]", msgObjectNameItem),
		Entry("securityRoles with more than 64 items", "PlatformUser",
			`{`+userBase+`, securityRoles: `+flowList(65, "role-%d")+`}`, "spec.securityRoles", "must have at most 64 items"),
		Entry("securityGroups listed twice", "PlatformUser",
			`{`+userBase+`, securityGroups: [sales, sales]}`, "spec.securityGroups[1]", "Duplicate value"),
		Entry("securityGroups item longer than 256 characters", "PlatformUser",
			`{`+userBase+`, securityGroups: [`+strings.Repeat("g", 257)+`]}`, "spec.securityGroups[0]", "may not be more than 256"),
		Entry("businessUnit that is not a DNS label", "PlatformUser",
			`{`+userBase+`, businessUnit: Sales_EMEA}`, "spec.businessUnit", msgDNSLabel),
		Entry("LI1: license SKU with spaces", "PlatformUser",
			`{`+userBase+`, license: Dynamics 365 Sales}`, "spec.license", msgSKU),
		Entry("profile.primaryEmail that is not an email address", "PlatformUser",
			`{`+userBase+`, profile: {primaryEmail: ada at contoso}}`, "spec.profile.primaryEmail", "should match"),
		Entry("profile.mainPhone with letters", "PlatformUser",
			`{`+userBase+`, profile: {mainPhone: call me maybe}}`, "spec.profile.mainPhone", "should match"),
		Entry("profile.firstName longer than 64 characters", "PlatformUser",
			`{`+userBase+`, profile: {firstName: `+strings.Repeat("A", 65)+`}}`, "spec.profile.firstName", "may not be more than 64"),

		// ---- ApplicationUser (AM7) ----
		Entry("AM7: applicationId that is not a GUID", "ApplicationUser",
			`{environmentName: contoso, applicationId: erp-integration}`, "spec.applicationId", msgGUID),
		Entry("AM7: applicationId GUID without dashes", "ApplicationUser",
			`{environmentName: contoso, applicationId: 6f1c2d3e4a5b4c6d8e7f0123456789ab}`, "spec.applicationId", msgGUID),
		Entry("AM7: applicationId missing", "ApplicationUser",
			`{environmentName: contoso}`, "spec.applicationId", "Required value"),
		Entry("AM7: description longer than 1024 characters", "ApplicationUser",
			`{`+appBase+`, description: `+strings.Repeat("d", 1025)+`}`, "spec.description", "may not be more than 1024"),
		Entry("AM7: securityRoles item that is not an object name", "ApplicationUser",
			`{`+appBase+`, securityRoles: [System Administrator]}`, "spec.securityRoles[0]", msgObjectNameItem),

		// ---- SecurityRole: Organization-owned tables and named privileges (SR3) ----
		Entry("SR3: organization-owned table with User level", "SecurityRole",
			`{`+roleBase+`, tables: [{table: transactioncurrency, ownership: Organization, privileges: {read: Organization, write: User}}]}`,
			"spec.tables[0].privileges", msgSR3Table),
		Entry("SR3: organization-owned table with the legacy Basic level (User)", "SecurityRole",
			`{`+roleBase+`, tables: [{table: transactioncurrency, ownership: Organization, privileges: {read: Global, share: Basic}}]}`,
			"spec.tables[0].privileges", msgSR3Table),
		Entry("SR3: organization-owned table with the legacy Local level (BusinessUnit)", "SecurityRole",
			`{`+roleBase+`, tables: [{table: transactioncurrency, ownership: Organization, privileges: {create: Local}}]}`,
			"spec.tables[0].privileges", msgSR3Table),
		Entry("SR3: organization-owned table with ParentChildBusinessUnits level", "SecurityRole",
			`{`+roleBase+`, tables: [{table: uom, ownership: Organization, privileges: {appendTo: ParentChildBusinessUnits}}]}`,
			"spec.tables[0].privileges", msgSR3Table),
		Entry("SR3: miscellaneous privilege with User level", "SecurityRole",
			`{`+roleBase+`, miscellaneousPrivileges: [{name: GoOffline, level: User}]}`,
			"spec.miscellaneousPrivileges[0].level", msgSR3Named),
		Entry("SR3: privacy privilege with BusinessUnit level", "SecurityRole",
			`{`+roleBase+`, privacyPrivileges: [{name: ExportToExcel, level: BusinessUnit}]}`,
			"spec.privacyPrivileges[0].level", msgSR3Named),
		Entry("SR3: privacy privilege with the legacy Deep level", "SecurityRole",
			`{`+roleBase+`, privacyPrivileges: [{name: Print, level: Deep}]}`,
			"spec.privacyPrivileges[0].level", msgSR3Named),
		Entry("SR3: Collaborate preset on an organization-owned table", "SecurityRole",
			`{`+roleBase+`, tables: [{table: transactioncurrency, ownership: Organization, permissionSetting: Collaborate}]}`,
			"spec.tables[0].permissionSetting", msgSR3Preset),
		Entry("SR3: Private preset on an organization-owned table", "SecurityRole",
			`{`+roleBase+`, tables: [{table: transactioncurrency, ownership: Organization, permissionSetting: Private}]}`,
			"spec.tables[0].permissionSetting", msgSR3Preset),

		// ---- SecurityRole: presets (SR4) ----
		Entry("SR4: Collaborate preset plus explicit privileges", "SecurityRole",
			`{`+roleBase+`, tables: [{table: account, permissionSetting: Collaborate, privileges: {read: Organization}}]}`,
			"spec.tables[0].privileges", msgSR4),
		Entry("SR4: FullAccess preset plus an empty privileges block", "SecurityRole",
			`{`+roleBase+`, tables: [{table: account, permissionSetting: FullAccess, privileges: {}}]}`,
			"spec.tables[0].privileges", msgSR4),
		Entry("SR4: permissionSetting outside the enum", "SecurityRole",
			`{`+roleBase+`, tables: [{table: account, permissionSetting: ReadOnly}]}`,
			"spec.tables[0].permissionSetting", presetValues),

		// ---- SecurityRole: inheritance (SR7) and built-in roles ----
		Entry("SR7: SystemAdministrator builtIn with TeamPrivilegesOnly", "SecurityRole",
			`{`+roleBase+`, builtIn: SystemAdministrator, memberPrivilegeInheritance: TeamPrivilegesOnly}`,
			"spec.memberPrivilegeInheritance", msgSR7),
		Entry("SR7: memberPrivilegeInheritance outside the enum", "SecurityRole",
			`{`+roleBase+`, memberPrivilegeInheritance: TeamOnly}`, "spec.memberPrivilegeInheritance", inheritanceValues),
		Entry("builtIn outside the enum", "SecurityRole",
			`{`+roleBase+`, builtIn: Auditor}`, "spec.builtIn", builtInValues),

		// ---- SecurityRole: access levels (SR2), tables and bounds ----
		Entry("SR2: table privilege level outside the enum", "SecurityRole",
			`{`+roleBase+`, tables: [{table: account, privileges: {read: Everyone}}]}`,
			"spec.tables[0].privileges.read", accessLevelValues),
		Entry("SR2: miscellaneous privilege level outside the enum", "SecurityRole",
			`{`+roleBase+`, miscellaneousPrivileges: [{name: MailMerge, level: Always}]}`,
			"spec.miscellaneousPrivileges[0].level", accessLevelValues),
		Entry("table ownership outside the enum", "SecurityRole",
			`{`+roleBase+`, tables: [{table: account, ownership: Team}]}`, "spec.tables[0].ownership", ownershipValues),
		Entry("the same table listed twice", "SecurityRole",
			`{`+roleBase+`, tables: [{table: account, permissionSetting: Reference}, {table: account, permissionSetting: FullAccess}]}`,
			"spec.tables[1]", "Duplicate value"),
		Entry("table that is not a logical name", "SecurityRole",
			`{`+roleBase+`, tables: [{table: Account}]}`, "spec.tables[0].table", "should match '^[a-z][a-z0-9_]*$'"),
		Entry("more than 256 tables", "SecurityRole",
			`{`+roleBase+`, tables: `+flowList(257, "{table: t%d}")+`}`, "spec.tables", "must have at most 256 items"),
		Entry("the same miscellaneous privilege listed twice", "SecurityRole",
			`{`+roleBase+`, miscellaneousPrivileges: [{name: GoOffline}, {name: GoOffline}]}`,
			"spec.miscellaneousPrivileges[1]", "Duplicate value"),
		Entry("miscellaneous privilege name with spaces", "SecurityRole",
			`{`+roleBase+`, miscellaneousPrivileges: [{name: Go Offline}]}`,
			"spec.miscellaneousPrivileges[0].name", "should match '^[A-Za-z][A-Za-z0-9]*$'"),
		Entry("SR9: roleName with a leading space", "SecurityRole",
			`{`+roleBase+`, roleName: ' Sales Manager'}`, "spec.roleName", "should match"),
		Entry("SR9: roleName longer than 100 characters", "SecurityRole",
			`{`+roleBase+`, roleName: `+strings.Repeat("R", 101)+`}`, "spec.roleName", "may not be more than 100"),
		Entry("SR5: businessUnit that is not a DNS label", "SecurityRole",
			`{`+roleBase+`, businessUnit: Sales EMEA}`, "spec.businessUnit", msgDNSLabel),

		// ---- Team: group teams (TM1), access teams (TM4) ----
		Entry("TM1: AADSecurityGroup team without a group", "Team",
			`{environmentName: contoso, type: AADSecurityGroup}`, "spec.group", msgGroupRequired),
		Entry("TM1: AADOfficeGroup team without a group", "Team",
			`{environmentName: contoso, type: AADOfficeGroup, securityRoles: [sales]}`, "spec.group", msgGroupRequired),
		Entry("TM1: Owner team with a group", "Team",
			`{environmentName: contoso, type: Owner, group: contoso-sales}`, "spec.group", msgGroupForbidden),
		Entry("TM1: Access team with a group", "Team",
			`{environmentName: contoso, type: Access, group: contoso-sales}`, "spec.group", msgGroupForbidden),
		Entry("TM1: group team with members", "Team",
			`{environmentName: contoso, type: AADSecurityGroup, group: contoso-sales, members: [ada]}`, "spec.members", msgGroupTeamMembers),
		Entry("TM4: Access team with roles", "Team",
			`{environmentName: contoso, type: Access, members: [ada], securityRoles: [sales]}`, "spec.securityRoles", msgTM4),
		Entry("team type outside the enum", "Team",
			`{environmentName: contoso, type: Virtual}`, "spec.type", teamTypeValues),
		Entry("team type missing", "Team",
			`{environmentName: contoso}`, "spec.type", "Required value"),
		Entry("team member that is not an object name", "Team",
			`{environmentName: contoso, type: Owner, members: [Ada Lovelace]}`, "spec.members[0]", msgObjectNameItem),
		Entry("team group longer than 256 characters", "Team",
			`{environmentName: contoso, type: AADSecurityGroup, group: `+strings.Repeat("g", 257)+`}`, "spec.group", "may not be more than 256"),

		// ---- Environment: business-unit tree (EV2), enums, licenses (LI1) ----
		Entry("EV2: business units with two roots", "Environment",
			`{businessUnits: [{name: contoso}, {name: fabrikam}, {name: sales, parent: contoso}]}`, "spec.businessUnits", msgOneRoot),
		Entry("EV2: business units with no root (two units parent each other)", "Environment",
			`{businessUnits: [{name: sales, parent: service}, {name: service, parent: sales}]}`, "spec.businessUnits", msgOneRoot),
		Entry("EV2: business unit with an unknown parent", "Environment",
			`{businessUnits: [{name: contoso}, {name: sales, parent: contosso}]}`, "spec.businessUnits", msgKnownParent),
		Entry("EV2: business unit that is its own parent", "Environment",
			`{businessUnits: [{name: contoso}, {name: sales, parent: sales}]}`, "spec.businessUnits[1].parent", msgOwnParent),
		Entry("EV2: business unit names duplicated", "Environment",
			`{businessUnits: [{name: contoso}, {name: sales, parent: contoso}, {name: sales, parent: contoso}]}`, "spec.businessUnits[2]", "Duplicate value"),
		Entry("EV2: business unit name that is not a DNS label", "Environment",
			`{businessUnits: [{name: Contoso Ltd}]}`, "spec.businessUnits[0].name", msgDNSLabel),
		Entry("EV2: more than 100 business units", "Environment",
			`{businessUnits: `+flowList(101, "{name: bu-%d, parent: bu-0}")+`}`, "spec.businessUnits", "must have at most 100 items"),
		Entry("environment type outside the enum", "Environment",
			`{type: Staging}`, "spec.type", envTypeValues),
		Entry("AM8: environment product outside the enum", "Environment",
			`{product: Dynamics}`, "spec.product", productValues),
		Entry("EN1/Entra: spec.entra without credentials and without spec.dataverse to take them from", "Environment",
			`{entra: {managementPolicy: Manage}}`, "spec.entra", "spec.entra.credentialsSecretRef is required without spec.dataverse (it defaults to spec.dataverse.credentialsSecretRef): name the Secret of the app registration that reads Microsoft Graph"),
		Entry("EN1/Entra: spec.entra without managementPolicy", "Environment",
			`{entra: {credentialsSecretRef: {name: graph}}}`, "spec.entra.managementPolicy", "Required value"),
		Entry("EN1/Entra: spec.entra.manage entry outside the enum", "Environment",
			`{entra: {managementPolicy: Manage, credentialsSecretRef: {name: graph}, manage: [AccountEnabled]}}`, "spec.entra.manage[0]", `supported values: "SecurityGroupMembership", "GroupTeamMembership", "Licenses"`),
		Entry("EN1/Entra: spec.entra.manage entry listed twice", "Environment",
			`{entra: {managementPolicy: Manage, credentialsSecretRef: {name: graph}, manage: [Licenses, Licenses]}}`, "spec.entra.manage[1]", "Duplicate value"),
		Entry("LI1: the same license SKU listed twice", "Environment",
			`{licenses: [{sku: POWERAPPS_PER_USER, seats: 5}, {sku: POWERAPPS_PER_USER, seats: 10}]}`, "spec.licenses[1]", "Duplicate value"),
		Entry("LI1: negative license seats", "Environment",
			`{licenses: [{sku: POWERAPPS_PER_USER, seats: -1}]}`, "spec.licenses[0].seats", "should be greater than or equal to 0"),
		Entry("LI1: license entry without seats", "Environment",
			`{licenses: [{sku: POWERAPPS_PER_USER}]}`, "spec.licenses[0].seats", "Required value"),
		Entry("EN1: empty securityGroup", "Environment",
			`{securityGroup: ''}`, "spec.securityGroup", "should be at least 1 chars long"),
		Entry("displayName longer than 100 characters", "Environment",
			`{displayName: `+strings.Repeat("E", 101)+`}`, "spec.displayName", "may not be more than 100"),
	)

	It("AM4: refuses a status.access outside the enum", func() {
		user := newObject("PlatformUser", ns, `{`+userBase+`}`)
		Expect(k8sClient.Create(ctx, user)).To(Succeed())
		Expect(unstructured.SetNestedField(user.Object, "Partial", "status", "access")).To(Succeed())
		expectRefused(k8sClient.Status().Update(ctx, user), "status.access", accessValues)
	})
})

var _ = Describe("Admission accepts the valid edge cases", Ordered, ContinueOnFailure, func() {
	var ns string
	BeforeAll(func() { ns = newNamespace("accepted") })

	DescribeTable("a valid object is accepted",
		func(kind, spec string) {
			Expect(k8sClient.Create(ctx, newObject(kind, ns, spec))).To(Succeed())
		},
		Entry("SR2: legacy access levels Basic, Local, Deep and Global are accepted on a table", "SecurityRole",
			`{`+roleBase+`, tables: [{table: account, privileges: {create: Basic, read: Global, write: Local, delete: Deep, append: User, appendTo: BusinessUnit, assign: ParentChildBusinessUnits, share: Organization}}]}`),
		Entry("SR3: legacy Global is accepted on an organization-owned table and on named privileges", "SecurityRole",
			`{`+roleBase+`, tables: [{table: transactioncurrency, ownership: Organization, privileges: {read: Global, write: None}}], miscellaneousPrivileges: [{name: GoOffline, level: Global}], privacyPrivileges: [{name: ExportToExcel, level: None}]}`),
		Entry("SR3: FullAccess, Reference and NoAccess presets on organization-owned tables", "SecurityRole",
			`{`+roleBase+`, tables: [{table: transactioncurrency, ownership: Organization, permissionSetting: FullAccess}, {table: uom, ownership: Organization, permissionSetting: Reference}, {table: uomschedule, ownership: Organization, permissionSetting: NoAccess}]}`),
		Entry("SR4: every preset on a user-owned table, without privileges", "SecurityRole",
			`{`+roleBase+`, tables: [{table: a, permissionSetting: NoAccess}, {table: b, permissionSetting: FullAccess}, {table: c, permissionSetting: Collaborate}, {table: d, permissionSetting: Private}, {table: e, permissionSetting: Reference}, {table: f, permissionSetting: Custom, privileges: {read: User}}]}`),
		Entry("SR7: SystemAdministrator with DirectUserBasicAndTeam spelled out", "SecurityRole",
			`{`+roleBase+`, builtIn: SystemAdministrator, memberPrivilegeInheritance: DirectUserBasicAndTeam}`),
		Entry("SR7: a custom role with TeamPrivilegesOnly", "SecurityRole",
			`{`+roleBase+`, memberPrivilegeInheritance: TeamPrivilegesOnly, roleName: Territory Team Role}`),
		Entry("AM3: NonInteractive user without a license", "PlatformUser",
			`{`+userBase+`, accessMode: NonInteractive}`),
		Entry("AM3: ReadWrite user with a license", "PlatformUser",
			`{`+userBase+`, license: DYN365_ENTERPRISE_SALES}`),
		Entry("AM8: stub user that is disabled and unlicensed", "PlatformUser",
			`{`+userBase+`, stub: true, enabled: false}`),
		Entry("AM9: every administrator role at once", "PlatformUser",
			`{`+userBase+`, administratorRoles: [GlobalAdministrator, ServiceAdministrator, BillingAdministrator, PasswordAdministrator, UserManagementAdministrator]}`),
		Entry("UPN with plus, apostrophe and a subdomain", "PlatformUser",
			`{environmentName: contoso, userName: "o'brien+crm@eu.contoso.co.uk"}`),
		Entry("AM7: application user with an upper-case GUID", "ApplicationUser",
			`{environmentName: contoso, applicationId: 6F1C2D3E-4A5B-4C6D-8E7F-0123456789AB}`),
		Entry("TM1: AADOfficeGroup team with a group and roles", "Team",
			`{environmentName: contoso, type: AADOfficeGroup, group: sales-office, securityRoles: [sales]}`),
		Entry("TM4: Access team with members and no roles", "Team",
			`{environmentName: contoso, type: Access, members: [ada, bob]}`),
		Entry("Owner team with members and roles", "Team",
			`{environmentName: contoso, type: Owner, members: [ada], securityRoles: [sales]}`),
		Entry("EV2: a single root unit", "Environment",
			`{businessUnits: [{name: contoso}]}`),
		Entry("EV2: a deep tree listed children first", "Environment",
			`{businessUnits: [{name: sales-emea, parent: sales}, {name: sales, parent: contoso}, {name: contoso}]}`),
		Entry("LI1: zero seats", "Environment",
			`{licenses: [{sku: POWERAPPS_PER_USER, seats: 0}]}`),
	)
})

var _ = Describe("Admission refuses changes to immutable fields", Ordered, ContinueOnFailure, func() {
	var ns string
	BeforeAll(func() { ns = newNamespace("immutable") })

	DescribeTable("an update of an immutable field is refused",
		func(kind, spec string, value interface{}, field, message string) {
			obj := newObject(kind, ns, spec)
			Expect(k8sClient.Create(ctx, obj)).To(Succeed())
			path := strings.Split(field, ".")
			Expect(unstructured.SetNestedField(obj.Object, value, path...)).To(Succeed())
			expectRefused(k8sClient.Update(ctx, obj), field, message)
		},
		Entry("PlatformUser environmentName", "PlatformUser", `{`+userBase+`}`, "fabrikam", "spec.environmentName", msgEnvImmutable),
		Entry("PlatformUser userName", "PlatformUser", `{`+userBase+`}`, "ada.lovelace@contoso.com", "spec.userName", msgUserNameImmutable),
		Entry("AM8: stub immutable (a real user cannot become a stub)", "PlatformUser",
			`{`+userBase+`, enabled: false}`, true, "spec.stub", msgStubImmutable),
		Entry("AM8: stub immutable (a stub cannot become a real user)", "PlatformUser",
			`{`+userBase+`, stub: true, enabled: false}`, false, "spec.stub", msgStubImmutable),
		Entry("ApplicationUser environmentName", "ApplicationUser", `{`+appBase+`}`, "fabrikam", "spec.environmentName", msgEnvImmutable),
		Entry("AM7: ApplicationUser applicationId", "ApplicationUser", `{`+appBase+`}`,
			"0a1b2c3d-0000-4000-8000-000000000001", "spec.applicationId", msgAppIDImmutable),
		Entry("SecurityRole environmentName", "SecurityRole", `{`+roleBase+`}`, "fabrikam", "spec.environmentName", msgEnvImmutable),
		Entry("Team environmentName", "Team", `{environmentName: contoso, type: Owner}`, "fabrikam", "spec.environmentName", msgEnvImmutable),
	)

	It("AM1: lets the mutable fields of a user change (access mode, license, enabled, roles)", func() {
		obj := newObject("PlatformUser", ns, `{`+userBase+`, license: DYN365_ENTERPRISE_SALES, securityRoles: [sales]}`)
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		unstructured.RemoveNestedField(obj.Object, "spec", "license")
		Expect(unstructured.SetNestedField(obj.Object, "NonInteractive", "spec", "accessMode")).To(Succeed())
		Expect(unstructured.SetNestedField(obj.Object, false, "spec", "enabled")).To(Succeed())
		Expect(unstructured.SetNestedStringSlice(obj.Object, []string{"reporting"}, "spec", "securityRoles")).To(Succeed())
		Expect(k8sClient.Update(ctx, obj)).To(Succeed())
	})

	It("AM3: refuses an update that turns a licensed user NonInteractive without removing the license", func() {
		obj := newObject("PlatformUser", ns, `{`+userBase+`, license: DYN365_ENTERPRISE_SALES}`)
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		Expect(unstructured.SetNestedField(obj.Object, "NonInteractive", "spec", "accessMode")).To(Succeed())
		expectRefused(k8sClient.Update(ctx, obj), "spec.license", msgAM3)
	})
})

var _ = Describe("The API server applies the defaults", Ordered, ContinueOnFailure, func() {
	var ns string
	BeforeAll(func() { ns = newNamespace("defaults") })

	// createAndRead creates the object and returns what the API server stored.
	createAndRead := func(obj *unstructured.Unstructured) *unstructured.Unstructured {
		GinkgoHelper()
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		read := &unstructured.Unstructured{}
		read.SetGroupVersionKind(obj.GroupVersionKind())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), read)).To(Succeed())
		return read
	}
	field := func(obj *unstructured.Unstructured, path ...string) interface{} {
		GinkgoHelper()
		v, found, err := unstructured.NestedFieldNoCopy(obj.Object, path...)
		Expect(err).NotTo(HaveOccurred())
		Expect(found).To(BeTrue(), "%s not set", strings.Join(path, "."))
		return v
	}

	It("AM1, AM8: a PlatformUser is ReadWrite, enabled, not blocked and not a stub", func() {
		u := createAndRead(newObject("PlatformUser", ns, `{`+userBase+`}`))
		Expect(field(u, "spec", "accessMode")).To(Equal(string(accessv1alpha1.AccessModeReadWrite)))
		Expect(field(u, "spec", "enabled")).To(BeTrue())
		Expect(field(u, "spec", "signInBlocked")).To(BeFalse())
		Expect(field(u, "spec", "stub")).To(BeFalse())
	})

	It("AM7: an ApplicationUser is enabled on creation", func() {
		u := createAndRead(newObject("ApplicationUser", ns, `{`+appBase+`}`))
		Expect(field(u, "spec", "enabled")).To(BeTrue())
	})

	It("SR7: a SecurityRole inherits DirectUserBasicAndTeam; tables are UserOrTeam and Custom; named privileges Organization", func() {
		r := createAndRead(newObject("SecurityRole", ns,
			`{`+roleBase+`, tables: [{table: account}], miscellaneousPrivileges: [{name: GoOffline}], privacyPrivileges: [{name: ExportToExcel}]}`))
		Expect(field(r, "spec", "memberPrivilegeInheritance")).To(Equal(string(accessv1alpha1.InheritDirectUserBasicAndTeam)))
		tables := field(r, "spec", "tables").([]interface{})
		Expect(tables).To(HaveLen(1))
		Expect(tables[0]).To(HaveKeyWithValue("ownership", string(accessv1alpha1.OwnershipUserOrTeam)))
		Expect(tables[0]).To(HaveKeyWithValue("permissionSetting", string(accessv1alpha1.PermissionCustom)))
		Expect(field(r, "spec", "miscellaneousPrivileges").([]interface{})[0]).To(HaveKeyWithValue("level", string(accessv1alpha1.AccessOrganization)))
		Expect(field(r, "spec", "privacyPrivileges").([]interface{})[0]).To(HaveKeyWithValue("level", string(accessv1alpha1.AccessOrganization)))
	})

	It("AM8: an Environment is Production and Dynamics365, and role assignment to disabled users is off", func() {
		e := createAndRead(newObject("Environment", ns, `{settings: {}}`))
		Expect(field(e, "spec", "type")).To(Equal("Production"))
		Expect(field(e, "spec", "product")).To(Equal(string(accessv1alpha1.ProductDynamics365)))
		Expect(field(e, "spec", "settings", "allowRoleAssignmentOnDisabledUsers")).To(BeFalse())
	})

	It("EN1/Entra: spec.entra manages the security group's membership and re-reads Entra ID every 10 minutes unless told otherwise; its credentials default to spec.dataverse's", func() {
		e := createAndRead(newObject("Environment", ns, `{dataverse: {url: "https://contoso.crm4.dynamics.com", credentialsSecretRef: {name: dv}, managementPolicy: Observe}, entra: {managementPolicy: Observe}}`))
		Expect(field(e, "spec", "entra", "manage")).To(Equal([]any{"SecurityGroupMembership"}))
		Expect(field(e, "spec", "entra", "syncInterval")).To(Equal("10m"))
	})

	It("AM8: an Environment applied without any spec still gets its type and product", func() {
		e := createAndRead(newObject("Environment", ns, ""))
		Expect(field(e, "spec", "type")).To(Equal("Production"))
		Expect(field(e, "spec", "product")).To(Equal(string(accessv1alpha1.ProductDynamics365)))
	})

	It("SR2: keeps legacy access level names as written (status shows the canonical names)", func() {
		r := createAndRead(newObject("SecurityRole", ns, `{`+roleBase+`, tables: [{table: account, privileges: {read: Global, write: Basic}}]}`))
		privileges := field(r, "spec", "tables").([]interface{})[0].(map[string]interface{})["privileges"]
		Expect(privileges).To(HaveKeyWithValue("read", "Global"))
		Expect(privileges).To(HaveKeyWithValue("write", "Basic"))
	})
})
