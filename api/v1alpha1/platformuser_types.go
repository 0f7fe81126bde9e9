package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AccessMode is how a user reaches the environment (AM1–AM4).
// +kubebuilder:validation:Enum=ReadWrite;Administrative;NonInteractive
type AccessMode string

const (
	// AccessModeReadWrite gives full access as the user's roles allow; needs a license (AM1, AM2).
	AccessModeReadWrite AccessMode = "ReadWrite"
	// AccessModeAdministrative reaches settings and administration, never customer data (AM4).
	AccessModeAdministrative AccessMode = "Administrative"
	// AccessModeNonInteractive is programmatic only; at most seven per environment (AM4, AM6).
	AccessModeNonInteractive AccessMode = "NonInteractive"
)

// AdministratorRole is a Microsoft 365 administrator role. Only GlobalAdministrator and
// ServiceAdministrator reach inside the environment: they get System Administrator (AM9).
// +kubebuilder:validation:Enum=GlobalAdministrator;ServiceAdministrator;BillingAdministrator;PasswordAdministrator;UserManagementAdministrator
type AdministratorRole string

const (
	AdminGlobal         AdministratorRole = "GlobalAdministrator"
	AdminService        AdministratorRole = "ServiceAdministrator"
	AdminBilling        AdministratorRole = "BillingAdministrator"
	AdminPassword       AdministratorRole = "PasswordAdministrator"
	AdminUserManagement AdministratorRole = "UserManagementAdministrator"
)

// Access is what a principal can reach (AM4).
// +kubebuilder:validation:Enum=Full;SettingsOnly;Programmatic;None
type Access string

const (
	AccessFull         Access = "Full"
	AccessSettingsOnly Access = "SettingsOnly"
	AccessProgrammatic Access = "Programmatic"
	AccessNoAccess     Access = "None"
)

// Address is a user's postal address.
type Address struct {
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Street string `json:"street,omitempty"`
	// +kubebuilder:validation:MaxLength=128
	// +optional
	City string `json:"city,omitempty"`
	// +kubebuilder:validation:MaxLength=128
	// +optional
	StateOrProvince string `json:"stateOrProvince,omitempty"`
	// +kubebuilder:validation:MaxLength=128
	// +optional
	CountryOrRegion string `json:"countryOrRegion,omitempty"`
}

// Profile is the user's profile as synchronised from Microsoft 365. Full name is first + last.
type Profile struct {
	// +kubebuilder:validation:MaxLength=64
	// +optional
	FirstName string `json:"firstName,omitempty"`
	// +kubebuilder:validation:MaxLength=64
	// +optional
	LastName string `json:"lastName,omitempty"`
	// +kubebuilder:validation:MaxLength=128
	// +optional
	Title string `json:"title,omitempty"`
	// primaryEmail is not synchronised automatically by the product, to prevent data loss.
	// +kubebuilder:validation:MaxLength=254
	// +kubebuilder:validation:Pattern=`^[^@\s]+@[^@\s]+\.[^@\s]+$`
	// +optional
	PrimaryEmail string `json:"primaryEmail,omitempty"`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[+0-9 ()./-]*$`
	// +optional
	MainPhone string `json:"mainPhone,omitempty"`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[+0-9 ()./-]*$`
	// +optional
	MobilePhone string `json:"mobilePhone,omitempty"`
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^[+0-9 ()./-]*$`
	// +optional
	Fax string `json:"fax,omitempty"`
	// +optional
	Address *Address `json:"address,omitempty"`
}

// PlatformUserSpec is a person's user record in one environment.
// +kubebuilder:validation:XValidation:rule="self.accessMode == 'ReadWrite' || !has(self.license)",message="Administrative and NonInteractive users take no license (AM3): remove spec.license, or set spec.accessMode to ReadWrite",fieldPath=".license"
// +kubebuilder:validation:XValidation:rule="!self.stub || !self.enabled",message="a stub user cannot be enabled (AM8): set spec.enabled to false",fieldPath=".enabled"
// +kubebuilder:validation:XValidation:rule="!self.stub || !has(self.license)",message="a stub user takes no license (AM8): remove spec.license",fieldPath=".license"
type PlatformUserSpec struct {
	// environmentName is the Environment, in this namespace, the user belongs to. Immutable.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="environmentName is immutable: create a new object for another environment"
	EnvironmentName string `json:"environmentName"`
	// userName is the user principal name (UPN), such as alice@contoso.com. Immutable.
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=113
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="userName is immutable: create a new PlatformUser for another user"
	UserName string `json:"userName"`
	// accessMode: ReadWrite (default; full access as the roles allow, needs a license),
	// Administrative (settings and administration only, no license), NonInteractive
	// (programmatic only, no license, at most seven per environment).
	// +kubebuilder:default=ReadWrite
	// +optional
	AccessMode AccessMode `json:"accessMode,omitempty"`
	// enabled is the intent. Whether the user is in fact enabled is derived (EN1): sign-in
	// allowed, licensed or in a mode that needs none, and a direct member of the security group.
	// +kubebuilder:default=true
	// +optional
	Enabled bool `json:"enabled"`
	// license is the SKU the user holds; it takes one seat of the environment's licenses (LI1).
	// Only ReadWrite users take a license (AM3).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_.-]*$`
	// +optional
	License string `json:"license,omitempty"`
	// signInBlocked blocks the user from signing in, which disables it (EN1).
	// +kubebuilder:default=false
	// +optional
	SignInBlocked bool `json:"signInBlocked,omitempty"`
	// securityGroups are the Entra groups the user is a direct member of (EN1, TM1).
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:MinLength=1
	// +optional
	SecurityGroups []string `json:"securityGroups,omitempty"`
	// businessUnit of the user. Defaults to the environment's root unit.
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	BusinessUnit string `json:"businessUnit,omitempty"`
	// securityRoles are names of SecurityRole objects in this namespace assigned directly.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	SecurityRoles []string `json:"securityRoles,omitempty"`
	// administratorRoles are Microsoft 365 administrator roles. GlobalAdministrator and
	// ServiceAdministrator get the System Administrator role automatically (AM9).
	// +listType=set
	// +kubebuilder:validation:MaxItems=5
	// +optional
	AdministratorRoles []AdministratorRole `json:"administratorRoles,omitempty"`
	// entraObjectId is the user's Entra ID object id. With it the operator finds the user in
	// Dataverse by its alternate key, and adds it from Entra ID when it is not there yet. Absent,
	// an Environment with spec.entra finds the person in Entra ID by spec.userName.
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	// +optional
	EntraObjectID string `json:"entraObjectId,omitempty"`
	// stub marks a placeholder created by data import (AM8): it cannot sign in or be enabled,
	// takes no license and gets its product's default role. Immutable.
	// +kubebuilder:default=false
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="stub is immutable: a stub user cannot become a real user or back"
	// +optional
	Stub bool `json:"stub"`
	// profile is the user's profile.
	// +optional
	Profile *Profile `json:"profile,omitempty"`
}

// RoleSource says where an effective role comes from.
type RoleSource string

const (
	RoleSourceDirect      RoleSource = "Direct"
	RoleSourceStubDefault RoleSource = "StubDefault"
	// Team and administrator-role sources are written as Team/<team> and AdministratorRole/<role>.
	RoleSourceTeamPrefix              = "Team/"
	RoleSourceAdministratorRolePrefix = "AdministratorRole/"
)

// EffectiveRole is a role a principal holds, and where it comes from.
type EffectiveRole struct {
	// name of the SecurityRole object.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// roleName is the name people see.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	RoleName string `json:"roleName,omitempty"`
	// source: Direct, Team/<team>, AdministratorRole/<role> or StubDefault.
	// +kubebuilder:validation:MaxLength=300
	Source string `json:"source"`
}

// PrincipalStatus is what the operator observed of a user: the shared status of PlatformUser
// and ApplicationUser.
type PrincipalStatus struct {
	// observedGeneration is the generation the status describes; 0 until the operator has looked.
	// +kubebuilder:default=0
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready, Stalled, and the aspects Enabled, Licensed, NonInteractiveSlot, RolesAssigned.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// enabled is whether the user is in fact enabled (EN1).
	// +kubebuilder:default=false
	// +optional
	Enabled bool `json:"enabled"`
	// effectiveRoles are the roles the user holds and where each comes from.
	// +kubebuilder:validation:MaxItems=256
	// +optional
	EffectiveRoles []EffectiveRole `json:"effectiveRoles,omitempty"`
	// access is what the user can reach (AM4): Full, SettingsOnly, Programmatic or None.
	// +optional
	Access Access `json:"access,omitempty"`
	// assignedRoles are the SecurityRoles of spec.securityRoles that were assigned to the user.
	// EN6 is about assignment: a user disabled while holding roles keeps them, and only a role
	// that is not here yet is refused while the user is disabled.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +optional
	AssignedRoles []string `json:"assignedRoles,omitempty"`
	// dataverse is what the operator observed of the user's record (spec.dataverse of its Environment).
	// +optional
	Dataverse *DataverseRecord `json:"dataverse,omitempty"`
	// firstEnabledTime is when the operator first saw the user enabled. EN7's re-invitation
	// applies only to a user enabled again after this.
	// +optional
	FirstEnabledTime *metav1.Time `json:"firstEnabledTime,omitempty"`
}

// Claim is when a user began to need a scarce resource (EV1): the time the Environment orders
// its waiting line by, recorded so that an unrelated edit never moves the user back.
type Claim struct {
	// resource is "slots" for a non-interactive slot or "seats/<SKU>" for a license seat.
	// +kubebuilder:validation:MaxLength=140
	Resource string `json:"resource"`
	// since is when the need began: the creation time, or when the spec changed to need it.
	Since metav1.Time `json:"since"`
}

// PlatformUserStatus is what the operator observed of a PlatformUser.
type PlatformUserStatus struct {
	PrincipalStatus `json:",inline"`
	// fullName is first name + last name.
	// +kubebuilder:validation:MaxLength=129
	// +optional
	FullName string `json:"fullName,omitempty"`
	// businessUnit is the resolved unit of the user.
	// +kubebuilder:validation:MaxLength=100
	// +optional
	BusinessUnit string `json:"businessUnit,omitempty"`
	// claims record when the user began to need a slot or a seat (EV1).
	// +listType=map
	// +listMapKey=resource
	// +kubebuilder:validation:MaxItems=2
	// +optional
	Claims []Claim `json:"claims,omitempty"`
	// entra is what the operator observed of the person in Entra ID (spec.entra of its Environment).
	// +optional
	Entra *PlatformUserEntraStatus `json:"entra,omitempty"`
}

// PlatformUser is a person's user record in one Power Platform environment.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=puser,categories=accessplane
// +kubebuilder:printcolumn:name="Environment",type=string,JSONPath=`.spec.environmentName`
// +kubebuilder:printcolumn:name="UserName",type=string,JSONPath=`.spec.userName`
// +kubebuilder:printcolumn:name="AccessMode",type=string,JSONPath=`.spec.accessMode`
// +kubebuilder:printcolumn:name="Enabled",type=boolean,JSONPath=`.status.enabled`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PlatformUser struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec PlatformUserSpec `json:"spec"`
	// +kubebuilder:default={}
	Status PlatformUserStatus `json:"status,omitempty"`
}

// PlatformUserList is a list of PlatformUsers.
// +kubebuilder:object:root=true
type PlatformUserList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PlatformUser `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PlatformUser{}, &PlatformUserList{})
}
