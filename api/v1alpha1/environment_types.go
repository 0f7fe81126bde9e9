package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EnvironmentType is the kind of Power Platform environment.
// +kubebuilder:validation:Enum=Production;Sandbox;Trial;Developer;Default
type EnvironmentType string

// Product decides the default role of stub users (AM8).
// +kubebuilder:validation:Enum=Dynamics365;PowerApps
type Product string

const (
	ProductDynamics365 Product = "Dynamics365"
	ProductPowerApps   Product = "PowerApps"
)

// NonInteractiveSlotLimit is the number of NonInteractive users an environment may have (AM6).
const NonInteractiveSlotLimit = 7

// DefaultRootBusinessUnit is the root unit of an environment that lists none.
const DefaultRootBusinessUnit = "root"

// BusinessUnit is one unit of the environment's business-unit tree.
// +kubebuilder:validation:XValidation:rule="!has(self.parent) || self.parent != self.name",message="a business unit cannot be its own parent (EV2): set parent to the unit above it, or remove parent from the root unit",fieldPath=".parent"
type BusinessUnit struct {
	// name of the unit, unique in the environment.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`
	// parent unit; absent for the one root unit.
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Parent string `json:"parent,omitempty"`
}

// LicenseSeats is how many seats of one license SKU the environment may hand out (LI1).
type LicenseSeats struct {
	// sku is the license, such as DYN365_ENTERPRISE_PLAN1 or POWERAPPS_PER_USER.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_.-]*$`
	SKU string `json:"sku"`
	// seats is the number of users that may hold this license.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000000
	Seats int32 `json:"seats"`
}

// EnvironmentSettings are organization settings that change the rules.
type EnvironmentSettings struct {
	// allowRoleAssignmentOnDisabledUsers lets roles be assigned to disabled users (EN6).
	// +kubebuilder:default=false
	// +optional
	AllowRoleAssignmentOnDisabledUsers bool `json:"allowRoleAssignmentOnDisabledUsers,omitempty"`
}

// EnvironmentSpec is a Power Platform environment with a Dataverse database.
// +kubebuilder:validation:XValidation:rule="!has(self.entra) || has(self.entra.credentialsSecretRef) || has(self.dataverse)",message="spec.entra.credentialsSecretRef is required without spec.dataverse (it defaults to spec.dataverse.credentialsSecretRef): name the Secret of the app registration that reads Microsoft Graph",fieldPath=".entra"
type EnvironmentSpec struct {
	// displayName is the name people see. Defaults to metadata.name.
	// +kubebuilder:validation:MaxLength=100
	// +optional
	DisplayName string `json:"displayName,omitempty"`
	// type of the environment.
	// +kubebuilder:default=Production
	// +optional
	Type EnvironmentType `json:"type,omitempty"`
	// product decides the default role of stub users (AM8): Salesperson for Dynamics365,
	// Common Data Service User for PowerApps.
	// +kubebuilder:default=Dynamics365
	// +optional
	Product Product `json:"product,omitempty"`
	// securityGroup is the Entra security group whose direct members may be enabled (EN1):
	// its object id or display name (with spec.entra resolved; it must be unique and
	// security-enabled). Nested groups do not count. Absent: every user passes that test.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +optional
	SecurityGroup string `json:"securityGroup,omitempty"`
	// businessUnits is the business-unit tree (EV2): exactly one unit without a parent (the root),
	// every parent listed, names unique, no cycle. Empty: one root unit named root.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	// +kubebuilder:validation:XValidation:rule="size(self) == 0 || self.filter(u, !has(u.parent)).size() == 1",message="spec.businessUnits needs exactly one root unit, a unit without parent (EV2): give every other unit a parent"
	// +kubebuilder:validation:XValidation:rule="self.all(u, !has(u.parent) || self.exists(p, p.name == u.parent))",message="every parent in spec.businessUnits must be the name of a listed unit (EV2): add the parent unit or correct the parent name"
	// +optional
	BusinessUnits []BusinessUnit `json:"businessUnits,omitempty"`
	// licenses are the seats per SKU this environment may hand out (LI1). Absent: licenses are not counted.
	// +listType=map
	// +listMapKey=sku
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Licenses []LicenseSeats `json:"licenses,omitempty"`
	// settings change some rules of the environment.
	// +optional
	Settings EnvironmentSettings `json:"settings,omitempty"`
	// dataverse names the real environment to apply the decided state to. Without it the
	// operator decides and reports only.
	// +optional
	Dataverse *DataverseTarget `json:"dataverse,omitempty"`
	// entra names Entra ID (Microsoft Graph) as a second target: the operator observes the facts
	// that decide enablement (EN1) and, under Manage, makes those spec.entra.manage lists.
	// +optional
	Entra *EntraTarget `json:"entra,omitempty"`
}

// LedgerEntry is one principal's place in an allocation ledger: since when it holds or waits.
type LedgerEntry struct {
	// name of the PlatformUser.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// since is when the user was granted the slot or seat, or began waiting for it (EV1).
	Since metav1.Time `json:"since"`
}

// SlotLedger is the allocation of the seven non-interactive slots (AM6, EV1).
type SlotLedger struct {
	// limit is the number of slots: seven.
	Limit int32 `json:"limit"`
	// used is the number of slots held (holders and unmanaged), and usage shows it as used/limit.
	Used int32 `json:"used"`
	// unmanaged is the number of slots held in Dataverse by non-interactive users no PlatformUser
	// manages (spec.dataverse): they hold theirs first.
	// +optional
	Unmanaged int32 `json:"unmanaged,omitempty"`
	// +kubebuilder:validation:MaxLength=16
	Usage string `json:"usage"`
	// holders keep their slot until deleted or no longer NonInteractive.
	// +kubebuilder:validation:MaxItems=7
	// +optional
	Holders []LedgerEntry `json:"holders,omitempty"`
	// waiting users are granted a slot in this order.
	// +kubebuilder:validation:MaxItems=100000
	// +optional
	Waiting []LedgerEntry `json:"waiting,omitempty"`
}

// SeatLedger is the allocation of one SKU's seats (LI1, EV1).
type SeatLedger struct {
	// sku of the license.
	// +kubebuilder:validation:MaxLength=64
	SKU string `json:"sku"`
	// seats offered by the environment.
	Seats int32 `json:"seats"`
	// used is the number of holders.
	Used int32 `json:"used"`
	// holders keep their seat, enabled or not (EN4), until deleted or their license is removed.
	// +kubebuilder:validation:MaxItems=100000
	// +optional
	Holders []LedgerEntry `json:"holders,omitempty"`
	// waiting users are granted a seat in this order.
	// +kubebuilder:validation:MaxItems=100000
	// +optional
	Waiting []LedgerEntry `json:"waiting,omitempty"`
}

// UserCounts counts the environment's users.
type UserCounts struct {
	Total          int32 `json:"total"`
	ReadWrite      int32 `json:"readWrite"`
	Administrative int32 `json:"administrative"`
	NonInteractive int32 `json:"nonInteractive"`
	Stub           int32 `json:"stub"`
	Application    int32 `json:"application"`
	Enabled        int32 `json:"enabled"`
	Disabled       int32 `json:"disabled"`
}

// EnvironmentStatus is the environment's allocation ledger and what the operator observed.
type EnvironmentStatus struct {
	// observedGeneration is the generation the status describes; 0 until the operator has looked.
	// +kubebuilder:default=0
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// conditions: Ready and Stalled.
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// nonInteractive is the ledger of the seven non-interactive slots.
	// +optional
	NonInteractive *SlotLedger `json:"nonInteractive,omitempty"`
	// seats is the ledger of license seats, one entry per offered SKU.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Seats []SeatLedger `json:"seats,omitempty"`
	// users counts the environment's users by access mode and by enabled or disabled.
	// +optional
	Users *UserCounts `json:"users,omitempty"`
	// dataverse is what the operator observed of the environment's Dataverse (spec.dataverse).
	// +optional
	Dataverse *EnvironmentDataverseStatus `json:"dataverse,omitempty"`
	// entra is what the operator observed of the environment in Entra ID (spec.entra).
	// +optional
	Entra *EnvironmentEntraStatus `json:"entra,omitempty"`
}

// Environment is a Power Platform environment with a Dataverse database.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ppenv,categories=accessplane
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="NonInteractive",type=string,JSONPath=`.status.nonInteractive.usage`
// +kubebuilder:printcolumn:name="Users",type=integer,JSONPath=`.status.users.total`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Environment struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the environment: type, product, security group, business units, licenses and
	// settings. It defaults to {}, so an Environment applied without one still gets its defaults.
	// +kubebuilder:default={}
	// +optional
	Spec EnvironmentSpec `json:"spec,omitempty"`
	// +kubebuilder:default={}
	Status EnvironmentStatus `json:"status,omitempty"`
}

// EnvironmentList is a list of Environments.
// +kubebuilder:object:root=true
type EnvironmentList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Environment `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Environment{}, &EnvironmentList{})
}
