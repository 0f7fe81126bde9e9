package v1alpha1

import (
	"sort"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Canonical returns the canonical name of an access level: the legacy Basic, Local, Deep and
// Global become User, BusinessUnit, ParentChildBusinessUnits and Organization; empty is None.
func (l AccessLevel) Canonical() AccessLevel {
	switch l {
	case AccessBasic:
		return AccessUser
	case AccessLocal:
		return AccessBusinessUnit
	case AccessDeep:
		return AccessParentChildBusinessUnits
	case AccessGlobal:
		return AccessOrganization
	case "":
		return AccessNone
	}
	return l
}

// Rank orders access levels (SR2): None 0, User 1, BusinessUnit 2, ParentChildBusinessUnits 3,
// Organization 4. A higher level includes every lower one.
func (l AccessLevel) Rank() int {
	switch l.Canonical() {
	case AccessUser:
		return 1
	case AccessBusinessUnit:
		return 2
	case AccessParentChildBusinessUnits:
		return 3
	case AccessOrganization:
		return 4
	}
	return 0
}

// Max returns the higher of two levels, canonical.
func (l AccessLevel) Max(o AccessLevel) AccessLevel {
	if o.Rank() > l.Rank() {
		return o.Canonical()
	}
	return l.Canonical()
}

// DisplayRoleName is the name people see: spec.roleName, or metadata.name when unset.
func (r *SecurityRole) DisplayRoleName() string {
	if r.Spec.RoleName != "" {
		return r.Spec.RoleName
	}
	return r.Name
}

// DisplayTeamName is the name people see: spec.teamName, or metadata.name when unset.
func (t *Team) DisplayTeamName() string {
	if t.Spec.TeamName != "" {
		return t.Spec.TeamName
	}
	return t.Name
}

// FullName is first name + last name, as the product shows it.
func (p *Profile) FullName() string {
	if p == nil {
		return ""
	}
	switch {
	case p.FirstName == "":
		return p.LastName
	case p.LastName == "":
		return p.FirstName
	}
	return p.FirstName + " " + p.LastName
}

// RootBusinessUnit is the name of the environment's root unit: the one with no parent; with
// several (an invalid tree, EV2), the first by name, as butree.Tree.Root says.
func (e *Environment) RootBusinessUnit() string {
	root := ""
	for _, u := range e.Spec.BusinessUnits {
		if u.Parent == "" && (root == "" || u.Name < root) {
			root = u.Name
		}
	}
	if root == "" {
		return DefaultRootBusinessUnit
	}
	return root
}

// BusinessUnitParents maps every unit of the environment to its parent ("" for the root).
func (e *Environment) BusinessUnitParents() map[string]string {
	if len(e.Spec.BusinessUnits) == 0 {
		return map[string]string{DefaultRootBusinessUnit: ""}
	}
	parents := make(map[string]string, len(e.Spec.BusinessUnits))
	for _, u := range e.Spec.BusinessUnits {
		parents[u.Name] = u.Parent
	}
	return parents
}

// NeedsLicense reports whether the user takes a license seat: only ReadWrite, non-stub users
// with a license set do (AM2, AM3, AM8).
func (u *PlatformUser) NeedsLicense() bool {
	return u.Spec.License != "" && u.Spec.AccessMode == AccessModeReadWrite && !u.Spec.Stub
}

// NeedsSlot reports whether the user takes one of the seven non-interactive slots (AM6).
func (u *PlatformUser) NeedsSlot() bool {
	return u.Spec.AccessMode == AccessModeNonInteractive && !u.Spec.Stub
}

// Built-in role object names an Environment creates and keeps, prefixed with its own name
// because several environments may share a namespace.
const (
	SystemAdministratorRoleSuffix   = "-system-administrator"
	BasicUserRoleSuffix             = "-basic-user"
	SalespersonRoleSuffix           = "-salesperson"
	CommonDataServiceUserRoleSuffix = "-common-data-service-user"
)

// SystemAdministratorRoleName is the name of the environment's System Administrator role object.
func SystemAdministratorRoleName(env string) string { return env + SystemAdministratorRoleSuffix }

// StubDefaultRoleName is the role object stub users of the environment get (AM8).
func StubDefaultRoleName(env string, product Product) string {
	if product == ProductPowerApps {
		return env + CommonDataServiceUserRoleSuffix
	}
	return env + SalespersonRoleSuffix
}

// ConditionsGetter is implemented by every kind: its status conditions, for code that treats the
// five kinds alike (tests, the bench, health checks).
// +kubebuilder:object:generate=false
type ConditionsGetter interface {
	GetConditions() []metav1.Condition
}

// GetConditions returns the Environment's status conditions.
func (e *Environment) GetConditions() []metav1.Condition { return e.Status.Conditions }

// GetConditions returns the SecurityRole's status conditions.
func (r *SecurityRole) GetConditions() []metav1.Condition { return r.Status.Conditions }

// GetConditions returns the PlatformUser's status conditions.
func (u *PlatformUser) GetConditions() []metav1.Condition { return u.Status.Conditions }

// GetConditions returns the ApplicationUser's status conditions.
func (u *ApplicationUser) GetConditions() []metav1.Condition { return u.Status.Conditions }

// GetConditions returns the Team's status conditions.
func (t *Team) GetConditions() []metav1.Condition { return t.Status.Conditions }

// SlotsResource names the non-interactive slots in a Claim.
const SlotsResource = "slots"

// SeatsResource names the seats of an SKU in a Claim.
func SeatsResource(sku string) string { return "seats/" + sku }

// NeededResources are the scarce resources the user's spec needs now, as Claim resources.
func (u *PlatformUser) NeededResources() []string {
	var out []string
	if u.NeedsSlot() {
		out = append(out, SlotsResource)
	}
	if u.NeedsLicense() {
		out = append(out, SeatsResource(u.Spec.License))
	}
	return out
}

// ClaimSince returns when the user's recorded claim on resource began, if it is recorded.
func (u *PlatformUser) ClaimSince(resource string) (metav1.Time, bool) {
	for _, c := range u.Status.Claims {
		if c.Resource == resource {
			return c.Since, true
		}
	}
	return metav1.Time{}, false
}

// DirectRoleNames are the display names of the Direct roles among a principal's effective roles,
// sorted: the roles the sync target makes its roles in Dataverse.
func DirectRoleNames(roles []EffectiveRole) []string {
	out := []string{}
	for _, r := range roles {
		if r.Source == string(RoleSourceDirect) {
			name := r.RoleName
			if name == "" {
				name = r.Name
			}
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
