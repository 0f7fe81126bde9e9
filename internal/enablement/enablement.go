// Package enablement decides whether a PlatformUser is in fact enabled (EN1), whether it holds
// what its access mode needs (AM2, AM3, AM6, AM8, LI1), and what to tell a person when fact and
// intent differ. It has no client: the controller gathers the inputs and writes the outcome.
package enablement

import (
	"fmt"
	"strings"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// Grant is a principal's place in an allocation ledger.
type Grant struct {
	// Known is false while the Environment has not yet recorded the claim.
	Known bool
	Held  bool
	// Position in the waiting line (1-based) and the line's length.
	Position, Waiting int
	// Free is the capacity not yet granted: a waiter whose position is within it is about to be
	// granted (its claim is settling, EV1), not blocked by a full limit.
	Free int
}

// settling reports whether a waiting principal will be granted without anyone acting.
func (g Grant) settling() bool { return !g.Held && g.Position > 0 && g.Position <= g.Free }

// Input is everything the decision needs about one user and its environment.
type Input struct {
	User        string // the object name, for messages
	UserName    string // UPN
	Environment string
	Spec        accessv1alpha1.PlatformUserSpec

	SecurityGroup string   // the environment's; "" when it has none
	OfferedSKUs   []string // nil when the environment does not count licenses
	SeatsOfSKU    int32
	Seat          Grant // meaningful when the user needs a license and licenses are counted
	Slot          Grant // meaningful for NonInteractive users

	// Entra is what Entra ID holds for the person when its Environment names an Entra target
	// (spec.entra); nil without one, and EN1 is then decided from the spec's claims.
	Entra *EntraFacts
}

// EntraFacts are the Entra ID facts behind EN1. A fact the operator manages (spec.entra under
// Manage, listed in manage) is nil: the operator makes it what it decided, so EN1 counts the
// decision; a fact it does not manage is what Entra ID holds, and EN1 follows it.
type EntraFacts struct {
	// Missing: Entra ID has no such person (PersonNotFound); nothing else is known.
	Missing bool
	// SignInAllowed is Entra ID's accountEnabled: never written, so always Entra's.
	SignInAllowed bool
	// LicenseHeld: Entra ID holds spec.license for the person (directly or by a group); nil
	// when the operator manages licenses (it assigns spec.license once the seat is held).
	LicenseHeld *bool
	// InSecurityGroup: a direct member of the environment's security group; nil when the
	// operator manages that membership (a member exactly when it may be enabled).
	InSecurityGroup *bool
}

// Aspect is the outcome for one condition.
type Aspect struct {
	Applies bool // false: the condition does not apply to this user and is removed
	OK      bool
	Reason  string
	Message string
	// Pending is true when the Environment has yet to allocate: not a person's problem.
	Pending bool
}

// Outcome is the decision for one user.
type Outcome struct {
	// Enabled is the fact (EN1), whatever spec.enabled says.
	Enabled  bool
	Licensed Aspect
	Slot     Aspect
	// EnabledAspect explains Enabled: why the user is not enabled, or that it is.
	EnabledAspect Aspect
	// Mismatch is set when fact and intent differ: what is wrong and what to change.
	Mismatch *Aspect
}

// Decide applies EN1, EN4, AM2, AM3, AM6, AM8 and LI1.
func Decide(in Input) Outcome {
	var out Outcome
	out.Licensed = licensed(in)
	out.Slot = slot(in)

	var blockers []Aspect
	switch {
	case in.Spec.Stub:
		blockers = append(blockers, Aspect{Reason: accessv1alpha1.ReasonStubUser,
			Message: fmt.Sprintf("stub user %s is a placeholder created by data import: it cannot sign in or be enabled (AM8)", in.UserName)})
	default:
		switch {
		case in.Entra != nil && in.Entra.Missing:
			blockers = append(blockers, Aspect{Reason: accessv1alpha1.ReasonPersonNotFound,
				Message: fmt.Sprintf("Entra ID has no user %s: correct spec.userName (or spec.entraObjectId), or create the person in Entra ID (the operator never creates people)", in.UserName)})
		case in.Entra != nil && !in.Entra.SignInAllowed:
			blockers = append(blockers, Aspect{Reason: accessv1alpha1.ReasonSignInBlocked,
				Message: fmt.Sprintf("sign-in is blocked for %s in Entra ID (accountEnabled false), which the operator never writes: allow its sign-in in Entra ID to enable it (EN1)", in.UserName)})
		case in.Entra == nil && in.Spec.SignInBlocked:
			blockers = append(blockers, Aspect{Reason: accessv1alpha1.ReasonSignInBlocked,
				Message: fmt.Sprintf("sign-in is blocked for %s: set spec.signInBlocked to false to enable it (EN1)", in.UserName)})
		}
		if out.Licensed.Applies && !out.Licensed.OK {
			blockers = append(blockers, out.Licensed)
		} else if e := in.Entra; e != nil && e.LicenseHeld != nil && !*e.LicenseHeld && in.Spec.AccessMode == accessv1alpha1.AccessModeReadWrite && in.Spec.License != "" {
			blockers = append(blockers, Aspect{Reason: accessv1alpha1.ReasonUnlicensed,
				Message: fmt.Sprintf("Entra ID has not assigned license %s to %s (AM2): assign it in Entra ID, or let the operator assign it (add Licenses to the Environment's spec.entra.manage under Manage)", in.Spec.License, in.UserName)})
		}
		if out.Slot.Applies && !out.Slot.OK {
			blockers = append(blockers, out.Slot)
		}
		if b, ok := securityGroupBlocker(in); ok {
			blockers = append(blockers, b)
		}
	}

	out.Enabled = len(blockers) == 0
	if out.Enabled {
		out.EnabledAspect = Aspect{Applies: true, OK: true, Reason: accessv1alpha1.ReasonEnabled,
			Message: fmt.Sprintf("%s can sign in, %s and is in the environment's security group", in.UserName, licenseClause(in))}
	} else {
		first := blockers[0]
		out.EnabledAspect = Aspect{Applies: true, Reason: first.Reason, Message: first.Message, Pending: first.Pending}
	}

	switch {
	case in.Spec.Enabled && !out.Enabled:
		m := out.EnabledAspect
		out.Mismatch = &m
	case !in.Spec.Enabled && out.Enabled:
		out.Mismatch = &Aspect{Reason: accessv1alpha1.ReasonStillEnabled, Message: stillEnabledMessage(in)}
	}
	return out
}

// securityGroupBlocker is EN1's security-group test: without an Entra target, spec.securityGroups
// must list the environment's group; with one, Entra ID's direct membership counts, or, when the
// operator manages it, the decision itself (a member exactly when spec.enabled, EN4 keeping the
// license of one it removes).
func securityGroupBlocker(in Input) (Aspect, bool) {
	g := in.SecurityGroup
	switch {
	case g == "":
		return Aspect{}, false
	case in.Entra == nil:
		if contains(in.Spec.SecurityGroups, g) {
			return Aspect{}, false
		}
		return Aspect{Reason: accessv1alpha1.ReasonNotInSecurityGroup,
			Message: fmt.Sprintf("%s is not a direct member of security group %s of environment %s (nested groups do not count): add %s to spec.securityGroups (EN1)",
				in.UserName, g, in.Environment, g)}, true
	case in.Entra.InSecurityGroup == nil:
		if in.Spec.Enabled {
			return Aspect{}, false
		}
		return Aspect{Reason: accessv1alpha1.ReasonNotInSecurityGroup,
			Message: fmt.Sprintf("the operator keeps %s out of security group %s of environment %s because spec.enabled is false; its license stays (EN4)", in.UserName, g, in.Environment)}, true
	case *in.Entra.InSecurityGroup:
		return Aspect{}, false
	}
	return Aspect{Reason: accessv1alpha1.ReasonNotInSecurityGroup,
		Message: fmt.Sprintf("%s is not a direct member of security group %s of environment %s in Entra ID (nested groups do not count): add it there, or let the operator manage the membership (spec.entra.managementPolicy Manage with SecurityGroupMembership) (EN1)",
			in.UserName, g, in.Environment)}, true
}

func licensed(in Input) Aspect {
	switch {
	case in.Spec.Stub:
		return Aspect{Applies: true, OK: true, Reason: accessv1alpha1.ReasonLicenseNotNeeded, Message: "stub users take no license (AM8)"}
	case in.Spec.AccessMode != accessv1alpha1.AccessModeReadWrite:
		return Aspect{Applies: true, OK: true, Reason: accessv1alpha1.ReasonLicenseNotNeeded,
			Message: fmt.Sprintf("%s users take no license (AM3)", in.Spec.AccessMode)}
	case in.Spec.License == "":
		return Aspect{Applies: true, Reason: accessv1alpha1.ReasonUnlicensed,
			Message: fmt.Sprintf("ReadWrite user %s needs a license to be enabled (AM2): set spec.license%s, or set spec.accessMode to Administrative or NonInteractive",
				in.UserName, offeredClause(in.OfferedSKUs))}
	case in.OfferedSKUs == nil:
		return Aspect{Applies: true, OK: true, Reason: accessv1alpha1.ReasonLicensesNotCounted,
			Message: fmt.Sprintf("holds license %s; environment %s does not count seats (no spec.licenses)", in.Spec.License, in.Environment)}
	case !contains(in.OfferedSKUs, in.Spec.License):
		return Aspect{Applies: true, Reason: accessv1alpha1.ReasonLicenseNotOffered,
			Message: fmt.Sprintf("license %s is not offered by environment %s (it offers %s): change spec.license, or add %s to the Environment's spec.licenses (LI1)",
				in.Spec.License, in.Environment, strings.Join(in.OfferedSKUs, ", "), in.Spec.License)}
	case !in.Seat.Known || in.Seat.settling():
		return Aspect{Applies: true, Pending: true, Reason: accessv1alpha1.ReasonAwaitingAllocation,
			Message: fmt.Sprintf("waiting for environment %s to allocate a seat of %s", in.Environment, in.Spec.License)}
	case in.Seat.Held:
		return Aspect{Applies: true, OK: true, Reason: accessv1alpha1.ReasonSeatHeld,
			Message: fmt.Sprintf("holds a seat of %s in environment %s; it keeps it while disabled until spec.license is removed (EN4)", in.Spec.License, in.Environment)}
	default:
		return Aspect{Applies: true, Reason: accessv1alpha1.ReasonSeatsExhausted,
			Message: fmt.Sprintf("all %d seats of %s in environment %s are held; %s is %s of %d waiting (LI1): remove the license from a user that does not need it, or raise the seats of %s in the Environment's spec.licenses",
				in.SeatsOfSKU, in.Spec.License, in.Environment, in.UserName, Ordinal(in.Seat.Position), in.Seat.Waiting, in.Spec.License)}
	}
}

func slot(in Input) Aspect {
	if in.Spec.AccessMode != accessv1alpha1.AccessModeNonInteractive || in.Spec.Stub {
		return Aspect{}
	}
	switch {
	case !in.Slot.Known || in.Slot.settling():
		return Aspect{Applies: true, Pending: true, Reason: accessv1alpha1.ReasonAwaitingAllocation,
			Message: fmt.Sprintf("waiting for environment %s to allocate a non-interactive slot", in.Environment)}
	case in.Slot.Held:
		return Aspect{Applies: true, OK: true, Reason: accessv1alpha1.ReasonSlotGranted,
			Message: fmt.Sprintf("holds one of the %d non-interactive slots of environment %s (AM6)", accessv1alpha1.NonInteractiveSlotLimit, in.Environment)}
	default:
		return Aspect{Applies: true, Reason: accessv1alpha1.ReasonNonInteractiveLimitReached,
			Message: fmt.Sprintf("environment %s has all %d non-interactive slots held; %s is %s of %d waiting (AM6): delete a NonInteractive user of %s or change one's spec.accessMode, or use an ApplicationUser, which is not counted",
				in.Environment, accessv1alpha1.NonInteractiveSlotLimit, in.UserName, Ordinal(in.Slot.Position), in.Slot.Waiting, in.Environment)}
	}
}

func licenseClause(in Input) string {
	if in.Spec.AccessMode == accessv1alpha1.AccessModeReadWrite {
		return "holds license " + in.Spec.License
	}
	return "needs no license as a " + string(in.Spec.AccessMode) + " user"
}

func stillEnabledMessage(in Input) string {
	if in.Entra != nil {
		var ways []string
		if in.SecurityGroup != "" {
			ways = append(ways, fmt.Sprintf("let the operator remove it from security group %s (spec.entra.managementPolicy Manage with SecurityGroupMembership), or remove it there in Entra ID (recommended: the user keeps its license)", in.SecurityGroup))
		}
		ways = append(ways, "block its sign-in in Entra ID")
		return fmt.Sprintf("spec.enabled is false but Entra ID still holds %s enabled (EN1): to disable it, %s", in.UserName, strings.Join(ways, ", or "))
	}
	var ways []string
	if in.SecurityGroup != "" {
		ways = append(ways, fmt.Sprintf("remove %s from spec.securityGroups (recommended: the user keeps its license)", in.SecurityGroup))
	}
	if in.Spec.License != "" {
		ways = append(ways, "remove spec.license (frees the seat)")
	}
	ways = append(ways, "set spec.signInBlocked to true")
	return fmt.Sprintf("spec.enabled is false but %s still meets every condition of an enabled user (EN1): to disable it, %s",
		in.UserName, strings.Join(ways, ", or "))
}

func offeredClause(skus []string) string {
	if len(skus) == 0 {
		return ""
	}
	return " to one of " + strings.Join(skus, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Ordinal writes a place in a waiting line: 1st, 2nd, 3rd, 11th, 21st.
func Ordinal(n int) string {
	suffix := "th"
	switch {
	case n%100 >= 11 && n%100 <= 13:
	case n%10 == 1:
		suffix = "st"
	case n%10 == 2:
		suffix = "nd"
	case n%10 == 3:
		suffix = "rd"
	}
	return fmt.Sprintf("%d%s", n, suffix)
}
