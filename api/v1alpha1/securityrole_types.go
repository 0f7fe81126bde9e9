package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AccessLevel is how far in the business-unit tree a privilege reaches (SR2). The legacy names
// Basic, Local, Deep and Global are accepted and mean User, BusinessUnit, ParentChildBusinessUnits
// and Organization; status always shows the canonical names.
// +kubebuilder:validation:Enum=None;User;BusinessUnit;ParentChildBusinessUnits;Organization;Basic;Local;Deep;Global
type AccessLevel string

// Canonical access levels, lowest to highest (SR2), and their legacy aliases.
const (
	AccessNone                     AccessLevel = "None"
	AccessUser                     AccessLevel = "User"
	AccessBusinessUnit             AccessLevel = "BusinessUnit"
	AccessParentChildBusinessUnits AccessLevel = "ParentChildBusinessUnits"
	AccessOrganization             AccessLevel = "Organization"

	AccessBasic  AccessLevel = "Basic"
	AccessLocal  AccessLevel = "Local"
	AccessDeep   AccessLevel = "Deep"
	AccessGlobal AccessLevel = "Global"
)

// TableOwnership says who owns the records of a table.
// +kubebuilder:validation:Enum=UserOrTeam;Organization
type TableOwnership string

const (
	OwnershipUserOrTeam   TableOwnership = "UserOrTeam"
	OwnershipOrganization TableOwnership = "Organization"
)

// PermissionSetting is a predefined set of table privileges (SR4), or Custom for explicit ones.
// +kubebuilder:validation:Enum=Custom;NoAccess;FullAccess;Collaborate;Private;Reference
type PermissionSetting string

const (
	PermissionCustom      PermissionSetting = "Custom"
	PermissionNoAccess    PermissionSetting = "NoAccess"
	PermissionFullAccess  PermissionSetting = "FullAccess"
	PermissionCollaborate PermissionSetting = "Collaborate"
	PermissionPrivate     PermissionSetting = "Private"
	PermissionReference   PermissionSetting = "Reference"
)

// MemberPrivilegeInheritance says how a role held by a team reaches the team's members (TM2, TM3).
// +kubebuilder:validation:Enum=DirectUserBasicAndTeam;TeamPrivilegesOnly
type MemberPrivilegeInheritance string

const (
	// InheritDirectUserBasicAndTeam gives members the privileges directly as well (TM3); the default (SR7).
	InheritDirectUserBasicAndTeam MemberPrivilegeInheritance = "DirectUserBasicAndTeam"
	// InheritTeamPrivilegesOnly gives members the privileges only through the team (TM2).
	InheritTeamPrivilegesOnly MemberPrivilegeInheritance = "TeamPrivilegesOnly"
)

// BuiltInRole names one of the product's predefined roles.
// +kubebuilder:validation:Enum=SystemAdministrator;SystemCustomizer;BasicUser;EnvironmentMaker;Salesperson;CommonDataServiceUser
type BuiltInRole string

const (
	BuiltInSystemAdministrator   BuiltInRole = "SystemAdministrator"
	BuiltInSystemCustomizer      BuiltInRole = "SystemCustomizer"
	BuiltInBasicUser             BuiltInRole = "BasicUser"
	BuiltInEnvironmentMaker      BuiltInRole = "EnvironmentMaker"
	BuiltInSalesperson           BuiltInRole = "Salesperson"
	BuiltInCommonDataServiceUser BuiltInRole = "CommonDataServiceUser"
)

// TablePrivileges are the eight record-level privileges of a table, each at an access level.
// An absent privilege is None.
type TablePrivileges struct {
	// create: make a new record.
	// +optional
	Create AccessLevel `json:"create,omitempty"`
	// read: open a record and view its contents.
	// +optional
	Read AccessLevel `json:"read,omitempty"`
	// write: change a record.
	// +optional
	Write AccessLevel `json:"write,omitempty"`
	// delete: permanently remove a record.
	// +optional
	Delete AccessLevel `json:"delete,omitempty"`
	// append: associate this record with another record.
	// +optional
	Append AccessLevel `json:"append,omitempty"`
	// appendTo: have another record associated with this one.
	// +optional
	AppendTo AccessLevel `json:"appendTo,omitempty"`
	// assign: give ownership of a record to another user.
	// +optional
	Assign AccessLevel `json:"assign,omitempty"`
	// share: give another user access to a record while keeping your own.
	// +optional
	Share AccessLevel `json:"share,omitempty"`
}

// TablePermission grants privileges on one Dataverse table.
// +kubebuilder:validation:XValidation:rule="self.permissionSetting == 'Custom' || !has(self.privileges)",message="permissionSetting and privileges are exclusive (SR4): remove privileges to use the preset, or set permissionSetting to Custom",fieldPath=".privileges"
// +kubebuilder:validation:XValidation:rule="self.ownership != 'Organization' || !(self.permissionSetting in ['Collaborate', 'Private'])",message="an Organization-owned table takes only Organization or None (SR3), and the Collaborate and Private presets grant User level: use FullAccess, Reference, NoAccess or Custom",fieldPath=".permissionSetting"
// +kubebuilder:validation:XValidation:rule="self.ownership != 'Organization' || !has(self.privileges) || [has(self.privileges.create) ? self.privileges.create : 'None', has(self.privileges.read) ? self.privileges.read : 'None', has(self.privileges.write) ? self.privileges.write : 'None', has(self.privileges.delete) ? self.privileges.delete : 'None', has(self.privileges.append) ? self.privileges.append : 'None', has(self.privileges.appendTo) ? self.privileges.appendTo : 'None', has(self.privileges.assign) ? self.privileges.assign : 'None', has(self.privileges.share) ? self.privileges.share : 'None'].all(l, l in ['None', 'Organization', 'Global'])",message="an Organization-owned table takes only Organization or None on every privilege (SR3): change the other levels to Organization or None",fieldPath=".privileges"
type TablePermission struct {
	// table is the logical name of the Dataverse table, such as account or webresource.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[a-z][a-z0-9_]*$`
	Table string `json:"table"`
	// ownership says whether records of the table are owned by users and teams or by the
	// organization. Organization-owned tables take only Organization or None (SR3).
	// +kubebuilder:default=UserOrTeam
	// +optional
	Ownership TableOwnership `json:"ownership,omitempty"`
	// permissionSetting is a preset (SR4): NoAccess (all None), FullAccess (all Organization),
	// Collaborate (read, append, appendTo at Organization; the rest at User), Private (all User),
	// Reference (read at Organization, the rest None), or Custom: the privileges given.
	// +kubebuilder:default=Custom
	// +optional
	PermissionSetting PermissionSetting `json:"permissionSetting,omitempty"`
	// privileges are the explicit levels, only with permissionSetting Custom. Absent privileges are None.
	// +optional
	Privileges *TablePrivileges `json:"privileges,omitempty"`
}

// NamedPrivilege is a miscellaneous or privacy-related privilege, such as ExportToExcel or
// PublishArticles. It takes only Organization or None (SR3).
type NamedPrivilege struct {
	// name of the privilege, such as ExportToExcel, Print, DocumentGeneration, MailMerge,
	// SyncToOutlook or GoOffline.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9]*$`
	Name string `json:"name"`
	// level is Organization or None (SR3); the legacy Global means Organization.
	// +kubebuilder:validation:XValidation:rule="self in ['None', 'Organization', 'Global']",message="miscellaneous and privacy privileges take only Organization or None (SR3): set level to Organization or None"
	// +kubebuilder:default=Organization
	// +optional
	Level AccessLevel `json:"level,omitempty"`
}

// SecurityRoleSpec is a security role: table privileges at access levels, miscellaneous and
// privacy privileges, member's privilege inheritance and the business unit it belongs to.
// +kubebuilder:validation:XValidation:rule="!has(self.builtIn) || self.builtIn != 'SystemAdministrator' || self.memberPrivilegeInheritance == 'DirectUserBasicAndTeam'",message="System Administrator's member privilege inheritance is fixed at DirectUserBasicAndTeam (SR7): remove spec.memberPrivilegeInheritance or set it to DirectUserBasicAndTeam",fieldPath=".memberPrivilegeInheritance"
type SecurityRoleSpec struct {
	// environmentName is the Environment, in this namespace, the role belongs to. Immutable.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="environmentName is immutable: create a new object for another environment"
	EnvironmentName string `json:"environmentName"`
	// roleName is the name people see, spaces allowed; unique within its business unit (SR9).
	// Defaults to metadata.name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[^\s].*[^\s]$|^[^\s]$`
	// +optional
	RoleName string `json:"roleName,omitempty"`
	// businessUnit the role belongs to; users and teams of this unit and the units below it may
	// hold the role (SR5). Defaults to the environment's root unit.
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	BusinessUnit string `json:"businessUnit,omitempty"`
	// builtIn marks one of the product's predefined roles. SystemAdministrator holds every
	// privilege at Organization on every table, whatever tables says.
	// +optional
	BuiltIn BuiltInRole `json:"builtIn,omitempty"`
	// memberPrivilegeInheritance: DirectUserBasicAndTeam (default) gives team members the role's
	// privileges directly as well (TM3); TeamPrivilegesOnly gives them only through the team (TM2).
	// +kubebuilder:default=DirectUserBasicAndTeam
	// +optional
	MemberPrivilegeInheritance MemberPrivilegeInheritance `json:"memberPrivilegeInheritance,omitempty"`
	// tables are the record-level privileges, one entry per table.
	// +listType=map
	// +listMapKey=table
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Tables []TablePermission `json:"tables,omitempty"`
	// miscellaneousPrivileges are task-based privileges (Organization or None).
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=128
	// +optional
	MiscellaneousPrivileges []NamedPrivilege `json:"miscellaneousPrivileges,omitempty"`
	// privacyPrivileges are privacy-related privileges such as ExportToExcel or Print (Organization or None).
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	PrivacyPrivileges []NamedPrivilege `json:"privacyPrivileges,omitempty"`
}

// EffectiveTable is a table's privileges after preset expansion, in canonical level names.
type EffectiveTable struct {
	// table is the logical name.
	// +kubebuilder:validation:MaxLength=64
	Table string `json:"table"`
	// privileges are the expanded levels; every privilege is set.
	Privileges TablePrivileges `json:"privileges"`
}

// SecurityRoleStatus is what the operator observed of a role.
type SecurityRoleStatus struct {
	// observedGeneration is the generation the status describes; 0 until the operator has looked.
	// +kubebuilder:default=0
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready, Stalled and WebResourceReadable (SR8).
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// roleName is the resolved name people see: spec.roleName or metadata.name.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	RoleName string `json:"roleName,omitempty"`
	// businessUnit is the resolved unit the role belongs to.
	// +kubebuilder:validation:MaxLength=100
	// +optional
	BusinessUnit string `json:"businessUnit,omitempty"`
	// tables are the role's privileges after preset expansion, in canonical level names.
	// +kubebuilder:validation:MaxItems=256
	// +optional
	Tables []EffectiveTable `json:"tables,omitempty"`
	// dataverse is what the operator observed of the record (spec.dataverse of its Environment).
	// +optional
	Dataverse *DataverseRecord `json:"dataverse,omitempty"`
}

// SecurityRole is a Dataverse security role in one environment.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=secrole,categories=accessplane
// +kubebuilder:printcolumn:name="Environment",type=string,JSONPath=`.spec.environmentName`
// +kubebuilder:printcolumn:name="RoleName",type=string,JSONPath=`.status.roleName`
// +kubebuilder:printcolumn:name="BusinessUnit",type=string,JSONPath=`.status.businessUnit`
// +kubebuilder:printcolumn:name="Inheritance",type=string,JSONPath=`.spec.memberPrivilegeInheritance`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SecurityRole struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec SecurityRoleSpec `json:"spec"`
	// +kubebuilder:default={}
	Status SecurityRoleStatus `json:"status,omitempty"`
}

// SecurityRoleList is a list of SecurityRoles.
// +kubebuilder:object:root=true
type SecurityRoleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SecurityRole `json:"items"`
}

func init() {
	SchemeBuilder.Register(&SecurityRole{}, &SecurityRoleList{})
}
