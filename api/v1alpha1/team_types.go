package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TeamType is the kind of team.
// +kubebuilder:validation:Enum=Owner;Access;AADSecurityGroup;AADOfficeGroup
type TeamType string

const (
	TeamOwner            TeamType = "Owner"
	TeamAccess           TeamType = "Access"
	TeamAADSecurityGroup TeamType = "AADSecurityGroup"
	TeamAADOfficeGroup   TeamType = "AADOfficeGroup"
)

// IsGroupTeam reports whether members come from an Entra group (TM1).
func (t TeamType) IsGroupTeam() bool { return t == TeamAADSecurityGroup || t == TeamAADOfficeGroup }

// TeamSpec is an owner, access or Entra-group team in one environment.
// +kubebuilder:validation:XValidation:rule="!(self.type in ['AADSecurityGroup', 'AADOfficeGroup']) || has(self.group)",message="an AADSecurityGroup or AADOfficeGroup team takes its members from an Entra group (TM1): set spec.group to that group",fieldPath=".group"
// +kubebuilder:validation:XValidation:rule="self.type in ['AADSecurityGroup', 'AADOfficeGroup'] || !has(self.group)",message="only AADSecurityGroup and AADOfficeGroup teams have a group: remove spec.group from this Owner or Access team, or change spec.type to a group team",fieldPath=".group"
// +kubebuilder:validation:XValidation:rule="!(self.type in ['AADSecurityGroup', 'AADOfficeGroup']) || !has(self.members)",message="the members of a group team are the users that list its group in securityGroups (TM1): remove spec.members",fieldPath=".members"
// +kubebuilder:validation:XValidation:rule="self.type != 'Access' || !has(self.securityRoles)",message="Access teams hold no security roles (TM4): remove spec.securityRoles, or use an Owner team",fieldPath=".securityRoles"
type TeamSpec struct {
	// environmentName is the Environment, in this namespace, the team belongs to. Immutable.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="environmentName is immutable: create a new object for another environment"
	EnvironmentName string `json:"environmentName"`
	// teamName is the name people see. Defaults to metadata.name.
	// +kubebuilder:validation:MaxLength=160
	// +optional
	TeamName string `json:"teamName,omitempty"`
	// type: Owner and Access teams list their members; AADSecurityGroup and AADOfficeGroup teams
	// take them from an Entra group. Access teams hold no roles (TM4).
	Type TeamType `json:"type"`
	// group is the Entra group of a group team: required for AADSecurityGroup and AADOfficeGroup,
	// forbidden otherwise.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Group string `json:"group,omitempty"`
	// members are names of PlatformUser objects in this namespace (Owner and Access teams only).
	// +listType=set
	// +kubebuilder:validation:MaxItems=1000
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	Members []string `json:"members,omitempty"`
	// businessUnit of the team. Defaults to the environment's root unit.
	// +kubebuilder:validation:MaxLength=100
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	BusinessUnit string `json:"businessUnit,omitempty"`
	// securityRoles are names of SecurityRole objects in this namespace held by the team.
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=253
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +optional
	SecurityRoles []string `json:"securityRoles,omitempty"`
}

// TeamStatus is what the operator observed of a team.
type TeamStatus struct {
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
	// memberCount is the number of resolved members.
	// +kubebuilder:default=0
	// +optional
	MemberCount int32 `json:"memberCount"`
	// businessUnit is the resolved unit of the team.
	// +kubebuilder:validation:MaxLength=100
	// +optional
	BusinessUnit string `json:"businessUnit,omitempty"`
	// dataverse is what the operator observed of the record (spec.dataverse of its Environment).
	// +optional
	Dataverse *DataverseRecord `json:"dataverse,omitempty"`
}

// Team is an owner, access or Entra-group team in one environment.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ppteam,categories=accessplane
// +kubebuilder:printcolumn:name="Environment",type=string,JSONPath=`.spec.environmentName`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Members",type=integer,JSONPath=`.status.memberCount`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Team struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec TeamSpec `json:"spec"`
	// +kubebuilder:default={}
	Status TeamStatus `json:"status,omitempty"`
}

// TeamList is a list of Teams.
// +kubebuilder:object:root=true
type TeamList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Team `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Team{}, &TeamList{})
}
