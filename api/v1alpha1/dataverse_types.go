package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ManagementPolicy says what the operator may do to a Dataverse environment.
// +kubebuilder:validation:Enum=Observe;Manage
type ManagementPolicy string

const (
	// ManagementObserve reads Dataverse and reports every difference from the decided state, and
	// writes nothing: an adoption dry run.
	ManagementObserve ManagementPolicy = "Observe"
	// ManagementManage writes the decided state and corrects drift.
	ManagementManage ManagementPolicy = "Manage"
)

// DeletionPolicy says what deleting an object does to its Dataverse record.
// +kubebuilder:validation:Enum=Orphan;Delete
type DeletionPolicy string

const (
	// DeletionOrphan leaves the record in Dataverse.
	DeletionOrphan DeletionPolicy = "Orphan"
	// DeletionDelete deletes roles, teams and application users from Dataverse. Interactive users
	// are never deleted: they belong to Entra ID.
	DeletionDelete DeletionPolicy = "Delete"
)

// SecretReference names a Secret in the object's own namespace.
type SecretReference struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// DataverseTarget is the real Dataverse environment the operator applies the decided state to.
type DataverseTarget struct {
	// url of the environment, e.g. https://contoso.crm4.dynamics.com. Only https.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.startsWith('https://') && !self.contains(' ')",message="url must be the environment's https URL, e.g. https://contoso.crm4.dynamics.com"
	URL string `json:"url"`
	// environmentId is the Power Platform environment id, which the admin API's addUser needs
	// to bring an interactive user from Entra ID into the environment.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	EnvironmentID string `json:"environmentId,omitempty"`
	// credentialsSecretRef names the Secret (same namespace) with tenantId, clientId and
	// clientSecret or federatedTokenFile of the app registration the operator signs in as.
	CredentialsSecretRef SecretReference `json:"credentialsSecretRef"`
	// managementPolicy: Observe reports differences and writes nothing; Manage corrects them.
	ManagementPolicy ManagementPolicy `json:"managementPolicy"`
	// deletionPolicy: Orphan (default) leaves records in Dataverse when objects are deleted;
	// Delete removes roles, teams and application users (never interactive users).
	// +kubebuilder:default=Orphan
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
	// syncInterval is how often Dataverse is read again for drift (jittered); a spec change is
	// applied at once.
	// +kubebuilder:default="10m"
	// +optional
	SyncInterval *metav1.Duration `json:"syncInterval,omitempty"`
}

// Interval is the drift re-observation interval (default 10 minutes).
func (t *DataverseTarget) Interval() metav1.Duration {
	if t.SyncInterval == nil || t.SyncInterval.Duration <= 0 {
		return metav1.Duration{Duration: 10 * 60 * 1e9}
	}
	return *t.SyncInterval
}

// DataverseRecord is what the operator observed of an object's record in Dataverse.
type DataverseRecord struct {
	// id of the record (systemuserid, roleid, teamid).
	// +kubebuilder:validation:MaxLength=64
	// +optional
	ID string `json:"id,omitempty"`
	// isDisabled as Dataverse holds it (users).
	// +optional
	IsDisabled *bool `json:"isDisabled,omitempty"`
	// isLicensed as Dataverse holds it (users).
	// +optional
	IsLicensed *bool `json:"isLicensed,omitempty"`
	// accessMode as Dataverse holds it (users): ReadWrite, Administrative, NonInteractive, …
	// +kubebuilder:validation:MaxLength=32
	// +optional
	AccessMode string `json:"accessMode,omitempty"`
	// lastCorrection is what the operator last changed in Dataverse to put this record back to
	// the decided state (managementPolicy Manage); it changes only when something is corrected.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	LastCorrection string `json:"lastCorrection,omitempty"`
}

// BusinessUnitRecord maps a declared business unit to its Dataverse record.
type BusinessUnitRecord struct {
	// +kubebuilder:validation:MaxLength=100
	Name string `json:"name"`
	// +kubebuilder:validation:MaxLength=64
	ID string `json:"id"`
}

// EnvironmentDataverseStatus is what the operator observed of the Dataverse environment.
type EnvironmentDataverseStatus struct {
	// organizationId from WhoAmI.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	OrganizationID string `json:"organizationId,omitempty"`
	// businessUnits maps each declared unit to its record; the root is the organization's root
	// unit, adopted whatever its name.
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +optional
	BusinessUnits []BusinessUnitRecord `json:"businessUnits,omitempty"`
	// unmanagedNonInteractive are the non-interactive users Dataverse holds that no PlatformUser
	// manages: they hold slots first, so the seven are the service's seven.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=320
	// +optional
	UnmanagedNonInteractive []string `json:"unmanagedNonInteractive,omitempty"`
}

// BusinessUnitID returns the Dataverse id of a declared unit, "" when not synced.
func (s *EnvironmentDataverseStatus) BusinessUnitID(name string) string {
	if s == nil {
		return ""
	}
	for _, b := range s.BusinessUnits {
		if b.Name == name {
			return b.ID
		}
	}
	return ""
}
