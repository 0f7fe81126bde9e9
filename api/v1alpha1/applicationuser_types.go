package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ApplicationUserSpec is a server-to-server application user: an Entra app registration acting
// in one environment. It is non-interactive, needs no license and is not counted toward the
// seven non-interactive users (AM7).
type ApplicationUserSpec struct {
	// environmentName is the Environment, in this namespace, the user belongs to. Immutable.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="environmentName is immutable: create a new object for another environment"
	EnvironmentName string `json:"environmentName"`
	// applicationId is the Entra application (client) id, a GUID. Immutable.
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="applicationId is immutable: create a new ApplicationUser for another application"
	ApplicationID string `json:"applicationId"`
	// businessUnit of the application user. Defaults to the environment's root unit.
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	BusinessUnit string `json:"businessUnit,omitempty"`
	// securityRoles are names of SecurityRole objects in this namespace.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	SecurityRoles []string `json:"securityRoles,omitempty"`
	// enabled: application users are enabled on creation; disabling one breaks every
	// integration that uses it (AM7).
	// +kubebuilder:default=true
	// +optional
	Enabled bool `json:"enabled"`
	// description of what the application does.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Description string `json:"description,omitempty"`
}

// ApplicationUserStatus is what the operator observed of an ApplicationUser.
type ApplicationUserStatus struct {
	PrincipalStatus `json:",inline"`
	// businessUnit is the resolved unit of the application user.
	// +kubebuilder:validation:MaxLength=100
	// +optional
	BusinessUnit string `json:"businessUnit,omitempty"`
}

// ApplicationUser is a server-to-server application user in one environment.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=appuser,categories=accessplane
// +kubebuilder:printcolumn:name="Environment",type=string,JSONPath=`.spec.environmentName`
// +kubebuilder:printcolumn:name="ApplicationID",type=string,JSONPath=`.spec.applicationId`
// +kubebuilder:printcolumn:name="Enabled",type=boolean,JSONPath=`.status.enabled`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ApplicationUser struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ApplicationUserSpec `json:"spec"`
	// +kubebuilder:default={}
	Status ApplicationUserStatus `json:"status,omitempty"`
}

// ApplicationUserList is a list of ApplicationUsers.
// +kubebuilder:object:root=true
type ApplicationUserList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ApplicationUser `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ApplicationUser{}, &ApplicationUserList{})
}
