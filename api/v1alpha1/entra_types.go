package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// EntraFact is a fact of Entra ID the operator may write under spec.entra's Manage policy.
// +kubebuilder:validation:Enum=SecurityGroupMembership;GroupTeamMembership;Licenses
type EntraFact string

const (
	// EntraSecurityGroupMembership: among managed people, the environment's security group's
	// direct members are exactly those decided to be enabled.
	EntraSecurityGroupMembership EntraFact = "SecurityGroupMembership"
	// EntraGroupTeamMembership: among managed people, a group team's group's direct members are
	// exactly those listing it in spec.securityGroups (TM1).
	EntraGroupTeamMembership EntraFact = "GroupTeamMembership"
	// EntraLicenses: the SKU of spec.license is assigned once the user holds its seat; a license
	// the operator assigned is removed when spec.license no longer names it.
	EntraLicenses EntraFact = "Licenses"
)

// EntraTarget is the Entra ID tenant (Microsoft Graph) that holds the facts deciding enablement
// (EN1): sign-in, licenses and direct membership of the environment's security group.
type EntraTarget struct {
	// managementPolicy: Observe reads Entra ID and decides enablement from it, writing nothing;
	// Manage also writes the facts spec.entra.manage lists.
	ManagementPolicy ManagementPolicy `json:"managementPolicy"`
	// credentialsSecretRef names the Secret (same namespace) of the app registration the
	// operator signs in to Microsoft Graph as; absent: spec.dataverse.credentialsSecretRef (one
	// app registration usually serves both).
	// +optional
	CredentialsSecretRef *SecretReference `json:"credentialsSecretRef,omitempty"`
	// manage lists what Manage may change. Sign-in (accountEnabled), profile fields, people and
	// groups themselves are never written.
	// +listType=set
	// +kubebuilder:validation:MaxItems=3
	// +kubebuilder:default={SecurityGroupMembership}
	// +optional
	Manage []EntraFact `json:"manage,omitempty"`
	// syncInterval is how often Entra ID is read again in bulk (group members, people, SKUs); a
	// spec change is compared and applied at once against what was read.
	// +kubebuilder:default="10m"
	// +optional
	SyncInterval *metav1.Duration `json:"syncInterval,omitempty"`
}

// Interval is the re-observation interval (default 10 minutes).
func (t *EntraTarget) Interval() metav1.Duration {
	if t.SyncInterval == nil || t.SyncInterval.Duration <= 0 {
		return metav1.Duration{Duration: 10 * 60 * 1e9}
	}
	return *t.SyncInterval
}

// Manages reports whether Manage may write f. Under Observe nothing is written.
func (t *EntraTarget) Manages(f EntraFact) bool {
	if t == nil || t.ManagementPolicy != ManagementManage {
		return false
	}
	return t.Lists(f)
}

// Lists reports whether spec.entra.manage lists f (its default: SecurityGroupMembership only).
func (t *EntraTarget) Lists(f EntraFact) bool {
	if t == nil {
		return false
	}
	if len(t.Manage) == 0 {
		return f == EntraSecurityGroupMembership
	}
	for _, m := range t.Manage {
		if m == f {
			return true
		}
	}
	return false
}

// EntraCredentialsSecret is the Secret the Graph client signs in with ("" without spec.entra).
func (e *EnvironmentSpec) EntraCredentialsSecret() string {
	switch {
	case e.Entra == nil:
		return ""
	case e.Entra.CredentialsSecretRef != nil:
		return e.Entra.CredentialsSecretRef.Name
	case e.Dataverse != nil:
		return e.Dataverse.CredentialsSecretRef.Name
	}
	return ""
}

// EntraLicense is a license a person holds in Entra ID.
type EntraLicense struct {
	// skuPartNumber of the license, such as ENTERPRISEPACK.
	// +kubebuilder:validation:MaxLength=64
	SkuPartNumber string `json:"skuPartNumber"`
	// direct: assigned to the person itself (the only assignment the operator ever removes).
	// +optional
	Direct bool `json:"direct,omitempty"`
	// byGroups are the object ids of the groups it is inherited from.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=64
	// +optional
	ByGroups []string `json:"byGroups,omitempty"`
}

// PlatformUserEntraStatus is what the operator observed of the person in Entra ID (spec.entra of
// its Environment).
type PlatformUserEntraStatus struct {
	// objectId of the person in Entra ID, found by spec.userName when spec.entraObjectId is absent.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	ObjectID string `json:"objectId,omitempty"`
	// accountEnabled is Entra ID's sign-in setting (never written by the operator).
	// +optional
	AccountEnabled *bool `json:"accountEnabled,omitempty"`
	// licenses the person holds, by SKU part number, direct or by group.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Licenses []EntraLicense `json:"licenses,omitempty"`
	// memberOfSecurityGroup: a direct member of the environment's security group.
	// +optional
	MemberOfSecurityGroup *bool `json:"memberOfSecurityGroup,omitempty"`
	// assignedByOperator are the SKU part numbers the operator assigned to the person directly:
	// the only licenses it ever removes, and only when spec.license no longer names them.
	// +listType=set
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MaxLength=64
	// +optional
	AssignedByOperator []string `json:"assignedByOperator,omitempty"`
	// lastCorrection is what the operator last changed in Entra ID for the person (Manage).
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	LastCorrection string `json:"lastCorrection,omitempty"`
}

// UnmanagedMembers are members of a group that no PlatformUser manages: left alone, listed.
type UnmanagedMembers struct {
	Count int32 `json:"count"`
	// first few user principal names, sorted.
	// +kubebuilder:validation:MaxItems=5
	// +kubebuilder:validation:items:MaxLength=320
	// +optional
	First []string `json:"first,omitempty"`
}

// TenantSku is one of the tenant's subscriptions and its units.
type TenantSku struct {
	// +kubebuilder:validation:MaxLength=64
	SkuPartNumber string `json:"skuPartNumber"`
	// enabled units (prepaidUnits.enabled).
	Enabled int32 `json:"enabled"`
	// consumed units: licenses assigned.
	Consumed int32 `json:"consumed"`
}

// EnvironmentEntraStatus is what the operator observed of the environment in Entra ID.
type EnvironmentEntraStatus struct {
	// securityGroupId is the object id spec.securityGroup resolved to.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	SecurityGroupID string `json:"securityGroupId,omitempty"`
	// securityGroupName is the group's display name.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	SecurityGroupName string `json:"securityGroupName,omitempty"`
	// unmanagedMembers are the security group's direct members no PlatformUser manages: the
	// operator leaves them alone.
	// +optional
	UnmanagedMembers *UnmanagedMembers `json:"unmanagedMembers,omitempty"`
	// skus are the tenant's subscriptions with their units.
	// +kubebuilder:validation:MaxItems=64
	// +optional
	Skus []TenantSku `json:"skus,omitempty"`
}
