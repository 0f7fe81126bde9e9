package graph

import "strings"

// userSelect is what the client reads of a person: sign-in, licenses (direct or by a group) and
// the usage location a license needs.
const userSelect = "id,userPrincipalName,accountEnabled,assignedLicenses,licenseAssignmentStates,usageLocation"

// User is what the operator reads of an Entra ID user.
type User struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
	// AccountEnabled: sign-in allowed. The operator never writes it.
	AccountEnabled bool `json:"accountEnabled"`
	// AssignedLicenses includes licenses inherited from groups; LicenseAssignmentStates tells
	// them apart.
	AssignedLicenses        []AssignedLicense        `json:"assignedLicenses"`
	LicenseAssignmentStates []LicenseAssignmentState `json:"licenseAssignmentStates"`
	// UsageLocation is a two-letter country code; a license cannot be assigned without one.
	UsageLocation string `json:"usageLocation"`
}

// AssignedLicense is a license a user holds (user resource, assignedLicenses).
type AssignedLicense struct {
	SkuID         string   `json:"skuId"`
	DisabledPlans []string `json:"disabledPlans"`
}

// LicenseAssignmentState says how a license came to a user (licenseAssignmentState resource).
type LicenseAssignmentState struct {
	SkuID string `json:"skuId"`
	// AssignedByGroup is the id of the group the license is inherited from; empty (null) for a
	// direct assignment.
	AssignedByGroup string   `json:"assignedByGroup"`
	DisabledPlans   []string `json:"disabledPlans"`
	// State is Active, ActiveWithError, Disabled or Error; Error then says why (CountViolation,
	// MutuallyExclusiveViolation, DependencyViolation, ProhibitedInUsageLocationViolation,
	// UniquenessViolation, Other).
	State string `json:"state"`
	Error string `json:"error"`
}

// HasLicense reports whether the user holds the SKU, directly or through a group.
func (u *User) HasLicense(skuID string) bool {
	for _, l := range u.AssignedLicenses {
		if strings.EqualFold(l.SkuID, skuID) {
			return true
		}
	}
	return false
}

// DirectLicense reports whether the SKU is assigned to the user directly, the only assignment
// AssignLicense can remove.
func (u *User) DirectLicense(skuID string) bool {
	for _, s := range u.LicenseAssignmentStates {
		if strings.EqualFold(s.SkuID, skuID) && s.AssignedByGroup == "" {
			return true
		}
	}
	return false
}

// LicenseGroups lists the groups the user inherits the SKU from.
func (u *User) LicenseGroups(skuID string) []string {
	var out []string
	for _, s := range u.LicenseAssignmentStates {
		if strings.EqualFold(s.SkuID, skuID) && s.AssignedByGroup != "" {
			out = append(out, s.AssignedByGroup)
		}
	}
	return out
}

// Member is a direct member of a group that is a user.
type Member struct {
	ID                string `json:"id"`
	UserPrincipalName string `json:"userPrincipalName"`
}

// groupSelect is what the client reads of a group.
const groupSelect = "id,displayName,securityEnabled"

// Group is what the operator reads of an Entra ID group.
type Group struct {
	ID              string `json:"id"`
	DisplayName     string `json:"displayName"`
	SecurityEnabled bool   `json:"securityEnabled"`
}

// SubscribedSku is one of the tenant's subscriptions (subscribedSku resource).
type SubscribedSku struct {
	SkuID         string `json:"skuId"`
	SkuPartNumber string `json:"skuPartNumber"` // e.g. "ENTERPRISEPACK", what spec.license names
	PrepaidUnits  Units  `json:"prepaidUnits"`
	ConsumedUnits int    `json:"consumedUnits"`
}

// Units are a subscription's units by state (licenseUnitsDetail resource).
type Units struct {
	Enabled   int `json:"enabled"`
	Suspended int `json:"suspended"`
	Warning   int `json:"warning"`
}

// Available is how many more users the SKU can be assigned to: enabled units not consumed.
func (s SubscribedSku) Available() int { return max(s.PrepaidUnits.Enabled-s.ConsumedUnits, 0) }
