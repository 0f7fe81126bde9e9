package enablement

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

func base(mutate ...func(*Input)) Input {
	in := Input{
		User: "ada", UserName: "ada@contoso.com", Environment: "prod",
		Spec: accessv1alpha1.PlatformUserSpec{
			EnvironmentName: "prod", UserName: "ada@contoso.com", Enabled: true,
			AccessMode: accessv1alpha1.AccessModeReadWrite, License: "PLAN1", SecurityGroups: []string{"sg"},
		},
		SecurityGroup: "sg",
		OfferedSKUs:   []string{"PLAN1"},
		SeatsOfSKU:    1,
		Seat:          Grant{Known: true, Held: true},
	}
	for _, m := range mutate {
		m(&in)
	}
	return in
}

// summary is what a test compares: the fact, and each aspect's outcome by reason.
type summary struct {
	Enabled                              bool
	EnabledWhy, Licensed, Slot, Mismatch string
	MismatchStalled                      bool
}

func summarize(o Outcome) summary {
	s := summary{Enabled: o.Enabled, EnabledWhy: o.EnabledAspect.Reason, Licensed: o.Licensed.Reason, Slot: o.Slot.Reason}
	if o.Mismatch != nil {
		s.Mismatch = o.Mismatch.Reason
		s.MismatchStalled = !o.Mismatch.Pending
	}
	return s
}

// decideCase is one enablement case and its expected outcome.
type decideCase struct {
	name string
	in   Input
	want summary
}

// nonInteractive makes the user NonInteractive: no license, no seat (AM3).
func nonInteractive(in *Input) {
	in.Spec.AccessMode = accessv1alpha1.AccessModeNonInteractive
	in.Spec.License = ""
	in.Seat = Grant{}
}

// preEntraCases are the cases decided from the spec's claims alone (no Entra target): they were
// written before the Entra ID target existed, and must decide exactly as they did then.
func preEntraCases() []decideCase {
	ni := nonInteractive
	return []decideCase{
		{"EN1 AM1 licensed ReadWrite user in the group is enabled", base(),
			summary{Enabled: true, EnabledWhy: "Enabled", Licensed: "SeatHeld"}},
		{"EN1 sign-in blocked disables", base(func(in *Input) { in.Spec.SignInBlocked = true }),
			summary{EnabledWhy: "SignInBlocked", Licensed: "SeatHeld", Mismatch: "SignInBlocked", MismatchStalled: true}},
		{"AM2 ReadWrite without license is not enabled", base(func(in *Input) { in.Spec.License = "" }),
			summary{EnabledWhy: "Unlicensed", Licensed: "Unlicensed", Mismatch: "Unlicensed", MismatchStalled: true}},
		{"EN1 nested groups do not count: only a direct member is enabled", base(func(in *Input) { in.Spec.SecurityGroups = []string{"sg-parent"} }),
			summary{EnabledWhy: "NotInSecurityGroup", Licensed: "SeatHeld", Mismatch: "NotInSecurityGroup", MismatchStalled: true}},
		{"EN1 no security group on the environment: every user passes that test", base(func(in *Input) {
			in.SecurityGroup = ""
			in.Spec.SecurityGroups = nil
		}), summary{Enabled: true, EnabledWhy: "Enabled", Licensed: "SeatHeld"}},
		{"EN4 LI1 a disabled user keeps its seat", base(func(in *Input) {
			in.Spec.Enabled = false
			in.Spec.SecurityGroups = nil
		}), summary{EnabledWhy: "NotInSecurityGroup", Licensed: "SeatHeld"}},
		{"EN1 intent disabled but every condition met: StillEnabled", base(func(in *Input) { in.Spec.Enabled = false }),
			summary{Enabled: true, EnabledWhy: "Enabled", Licensed: "SeatHeld", Mismatch: "StillEnabled", MismatchStalled: true}},
		{"LI1 seats exhausted: waits, stalled", base(func(in *Input) { in.Seat = Grant{Known: true, Position: 2, Waiting: 3} }),
			summary{EnabledWhy: "SeatsExhausted", Licensed: "SeatsExhausted", Mismatch: "SeatsExhausted", MismatchStalled: true}},
		{"EV1 a waiter within free seats is settling, not stalled", base(func(in *Input) { in.Seat = Grant{Known: true, Position: 1, Waiting: 1, Free: 1} }),
			summary{EnabledWhy: "AwaitingAllocation", Licensed: "AwaitingAllocation", Mismatch: "AwaitingAllocation"}},
		{"LI1 license not offered", base(func(in *Input) { in.Spec.License = "PLAN9" }),
			summary{EnabledWhy: "LicenseNotOffered", Licensed: "LicenseNotOffered", Mismatch: "LicenseNotOffered", MismatchStalled: true}},
		{"LI1 environment does not count licenses", base(func(in *Input) { in.OfferedSKUs = nil; in.Seat = Grant{} }),
			summary{Enabled: true, EnabledWhy: "Enabled", Licensed: "LicensesNotCounted"}},
		{"AM3 Administrative users need no license", base(func(in *Input) {
			in.Spec.AccessMode = accessv1alpha1.AccessModeAdministrative
			in.Spec.License = ""
			in.Seat = Grant{}
		}), summary{Enabled: true, EnabledWhy: "Enabled", Licensed: "LicenseNotNeeded"}},
		{"AM6 NonInteractive holding a slot is enabled", base(ni, func(in *Input) { in.Slot = Grant{Known: true, Held: true} }),
			summary{Enabled: true, EnabledWhy: "Enabled", Licensed: "LicenseNotNeeded", Slot: "SlotGranted"}},
		{"AM6 NonInteractive beyond seven waits, stalled", base(ni, func(in *Input) { in.Slot = Grant{Known: true, Position: 1, Waiting: 13} }),
			summary{EnabledWhy: "NonInteractiveLimitReached", Licensed: "LicenseNotNeeded", Slot: "NonInteractiveLimitReached", Mismatch: "NonInteractiveLimitReached", MismatchStalled: true}},
		{"EV1 NonInteractive not yet in the ledger is pending", base(ni),
			summary{EnabledWhy: "AwaitingAllocation", Licensed: "LicenseNotNeeded", Slot: "AwaitingAllocation", Mismatch: "AwaitingAllocation"}},
		{"AM8 stub user is never enabled and takes no license", base(func(in *Input) {
			in.Spec.Stub = true
			in.Spec.Enabled = false
			in.Spec.License = ""
		}), summary{EnabledWhy: "StubUser", Licensed: "LicenseNotNeeded"}},
	}
}

func TestDecide(t *testing.T) {
	for _, c := range preEntraCases() {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, summarize(Decide(c.in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestMessagesSayWhatToChange(t *testing.T) {
	cases := []struct {
		name string
		in   Input
		want string
	}{
		{"AM6", base(func(in *Input) {
			in.Spec.AccessMode = accessv1alpha1.AccessModeNonInteractive
			in.Spec.License = ""
			in.Slot = Grant{Known: true, Position: 2, Waiting: 13}
		}), "environment prod has all 7 non-interactive slots held; ada@contoso.com is 2nd of 13 waiting (AM6): delete a NonInteractive user of prod or change one's spec.accessMode, or use an ApplicationUser, which is not counted"},
		{"EN1", base(func(in *Input) { in.Spec.Enabled = false }),
			"spec.enabled is false but ada@contoso.com still meets every condition of an enabled user (EN1): to disable it, remove sg from spec.securityGroups (recommended: the user keeps its license), or remove spec.license (frees the seat), or set spec.signInBlocked to true"},
	}
	for _, c := range cases {
		if got := Decide(c.in).Mismatch.Message; got != c.want {
			t.Errorf("%s message:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}

func TestOrdinal(t *testing.T) {
	for n, want := range map[int]string{1: "1st", 2: "2nd", 3: "3rd", 4: "4th", 11: "11th", 12: "12th", 13: "13th", 21: "21st", 22: "22nd", 101: "101st", 111: "111th"} {
		if got := Ordinal(n); got != want {
			t.Errorf("Ordinal(%d) = %q, want %q", n, got, want)
		}
	}
}
