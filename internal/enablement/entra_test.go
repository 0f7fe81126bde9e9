package enablement

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// EN1 with an Entra target (DESIGN.md, "Entra ID target"): each fact the operator does not
// manage is what Entra ID holds; a fact it manages (a nil pointer) is its own decision.

func bptr(b bool) *bool { return &b }

// entra sets Entra ID's facts: sign-in allowed, license and membership managed by the operator
// (nil), then each mutation.
func entra(mutate ...func(*EntraFacts)) func(*Input) {
	return func(in *Input) {
		f := &EntraFacts{SignInAllowed: true}
		for _, m := range mutate {
			m(f)
		}
		in.Entra = f
	}
}

func signInAllowed(v bool) func(*EntraFacts) { return func(f *EntraFacts) { f.SignInAllowed = v } }
func licenseHeld(v bool) func(*EntraFacts)   { return func(f *EntraFacts) { f.LicenseHeld = bptr(v) } }
func inGroup(v bool) func(*EntraFacts)       { return func(f *EntraFacts) { f.InSecurityGroup = bptr(v) } }
func missing(f *EntraFacts)                  { f.Missing = true }

func TestDecideWithEntra(t *testing.T) {
	notListed := func(in *Input) { in.Spec.SecurityGroups = nil }
	disabled := func(in *Input) { in.Spec.Enabled = false }
	enabled := summary{Enabled: true, EnabledWhy: "Enabled", Licensed: "SeatHeld"}
	cases := []decideCase{
		// Membership of the security group.
		{"EN1/entra: membership managed, spec.enabled true: a member by the operator's decision, whatever spec.securityGroups lists",
			base(notListed, entra()), enabled},
		{"EN1/entra: membership unmanaged, a direct member in Entra ID: enabled, whatever spec.securityGroups lists",
			base(notListed, entra(inGroup(true))), enabled},
		{"EN1/entra: membership unmanaged, not a member in Entra ID: NotInSecurityGroup although spec.securityGroups lists the group",
			base(entra(inGroup(false))),
			summary{EnabledWhy: "NotInSecurityGroup", Licensed: "SeatHeld", Mismatch: "NotInSecurityGroup", MismatchStalled: true}},
		{"EN1 EN4/entra: membership managed, spec.enabled false: kept out, so not enabled, and no StillEnabled mismatch",
			base(disabled, entra()), summary{EnabledWhy: "NotInSecurityGroup", Licensed: "SeatHeld"}},
		{"EN1/entra: membership unmanaged, spec.enabled false, still a member in Entra ID: StillEnabled",
			base(disabled, entra(inGroup(true))),
			summary{Enabled: true, EnabledWhy: "Enabled", Licensed: "SeatHeld", Mismatch: "StillEnabled", MismatchStalled: true}},
		{"EN1/entra: membership unmanaged, spec.enabled false, not a member in Entra ID: disabled as asked",
			base(disabled, entra(inGroup(false))), summary{EnabledWhy: "NotInSecurityGroup", Licensed: "SeatHeld"}},
		{"EN1/entra: no security group on the environment: Entra's membership plays no part",
			base(func(in *Input) { in.SecurityGroup = "" }, entra(inGroup(false))), enabled},

		// Sign-in: never written, always Entra's.
		{"EN1/entra: sign-in blocked in Entra ID while spec.signInBlocked is false: SignInBlocked",
			base(entra(signInAllowed(false))),
			summary{EnabledWhy: "SignInBlocked", Licensed: "SeatHeld", Mismatch: "SignInBlocked", MismatchStalled: true}},
		{"EN1/entra: spec.signInBlocked true but Entra ID allows sign-in: Entra's fact decides (the sync reports EntraDrift)",
			base(func(in *Input) { in.Spec.SignInBlocked = true }, entra()), enabled},

		// License.
		{"EN1 AM2/entra: license unmanaged and not held in Entra ID: Unlicensed, although the seat is held",
			base(entra(licenseHeld(false))),
			summary{EnabledWhy: "Unlicensed", Licensed: "SeatHeld", Mismatch: "Unlicensed", MismatchStalled: true}},
		{"EN1/entra: license unmanaged and held in Entra ID: enabled",
			base(entra(licenseHeld(true))), enabled},
		{"EN1 LI1/entra: license managed: the held seat counts, whatever Entra ID holds now",
			base(entra()), enabled},
		{"LI1/entra: waiting for a seat: the seat is the first blocker, not Entra's missing license",
			base(func(in *Input) { in.Seat = Grant{Known: true, Position: 2, Waiting: 3} }, entra(licenseHeld(false))),
			summary{EnabledWhy: "SeatsExhausted", Licensed: "SeatsExhausted", Mismatch: "SeatsExhausted", MismatchStalled: true}},
		{"AM3/entra: an Administrative user needs no license, whatever Entra ID holds",
			base(func(in *Input) {
				in.Spec.AccessMode = accessv1alpha1.AccessModeAdministrative
				in.Spec.License = ""
				in.Seat = Grant{}
			}, entra(licenseHeld(false))),
			summary{Enabled: true, EnabledWhy: "Enabled", Licensed: "LicenseNotNeeded"}},
		{"AM6/entra: a NonInteractive user waiting for a slot is not enabled, membership managed or not",
			base(nonInteractive, func(in *Input) { in.Slot = Grant{Known: true, Position: 1, Waiting: 9} }, entra(inGroup(true), licenseHeld(false))),
			summary{EnabledWhy: "NonInteractiveLimitReached", Licensed: "LicenseNotNeeded", Slot: "NonInteractiveLimitReached", Mismatch: "NonInteractiveLimitReached", MismatchStalled: true}},

		// The person itself.
		{"EN1/entra: Entra ID has no such person: PersonNotFound, Stalled",
			base(entra(missing)),
			summary{EnabledWhy: "PersonNotFound", Licensed: "SeatHeld", Mismatch: "PersonNotFound", MismatchStalled: true}},
		{"EN1/entra: no such person and spec.enabled false: not enabled, nothing to fix",
			base(disabled, entra(missing)), summary{EnabledWhy: "PersonNotFound", Licensed: "SeatHeld"}},
		{"AM8/entra: a stub is never enabled, whatever Entra ID holds",
			base(func(in *Input) {
				in.Spec.Stub = true
				in.Spec.Enabled = false
				in.Spec.License = ""
			}, entra(inGroup(true), licenseHeld(true))),
			summary{EnabledWhy: "StubUser", Licensed: "LicenseNotNeeded"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if diff := cmp.Diff(c.want, summarize(Decide(c.in))); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestEntraMessagesNameEntra: with an Entra target a message names the fact in Entra ID and
// what to change there (or in spec.entra), not a spec field that no longer decides it.
func TestEntraMessagesNameEntra(t *testing.T) {
	cases := []struct {
		name    string
		in      Input
		aspect  func(Outcome) *Aspect
		says    []string
		never   []string
		wantNil bool
	}{
		{name: "EN1/entra: NotInSecurityGroup names Entra ID and spec.entra, not spec.securityGroups",
			in:     base(entra(inGroup(false))),
			aspect: func(o Outcome) *Aspect { return o.Mismatch },
			says:   []string{"not a direct member of security group sg of environment prod in Entra ID", "spec.entra.managementPolicy Manage with SecurityGroupMembership"},
			never:  []string{"spec.securityGroups"}},
		{name: "EN1/entra: SignInBlocked says Entra ID's accountEnabled, which the operator never writes",
			in:     base(entra(signInAllowed(false))),
			aspect: func(o Outcome) *Aspect { return o.Mismatch },
			says:   []string{"in Entra ID (accountEnabled false)", "never writes", "allow its sign-in in Entra ID"},
			never:  []string{"spec.signInBlocked"}},
		{name: "EN1 AM2/entra: Unlicensed names the license and the Licenses manage entry",
			in:     base(entra(licenseHeld(false))),
			aspect: func(o Outcome) *Aspect { return o.Mismatch },
			says:   []string{"Entra ID has not assigned license PLAN1 to ada@contoso.com", "add Licenses to the Environment's spec.entra.manage"}},
		{name: "EN1/entra: PersonNotFound names the user name and that people are never created",
			in:     base(entra(missing)),
			aspect: func(o Outcome) *Aspect { return o.Mismatch },
			says:   []string{"Entra ID has no user ada@contoso.com", "correct spec.userName", "never creates people"}},
		{name: "EN1 EN4/entra: disabled with the membership managed: the Enabled aspect says the license stays",
			in:     base(func(in *Input) { in.Spec.Enabled = false }, entra()),
			aspect: func(o Outcome) *Aspect { return &o.EnabledAspect },
			says:   []string{"the operator keeps ada@contoso.com out of security group sg of environment prod because spec.enabled is false", "license stays (EN4)"}},
		{name: "EN1/entra: StillEnabled says how to disable in Entra ID, not through spec fields",
			in:     base(func(in *Input) { in.Spec.Enabled = false }, entra(inGroup(true))),
			aspect: func(o Outcome) *Aspect { return o.Mismatch },
			says:   []string{"Entra ID still holds ada@contoso.com enabled", "remove it there in Entra ID", "block its sign-in in Entra ID"},
			never:  []string{"spec.securityGroups", "spec.signInBlocked"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := c.aspect(Decide(c.in))
			if a == nil {
				t.Fatalf("no such aspect")
			}
			for _, p := range c.says {
				if !strings.Contains(a.Message, p) {
					t.Errorf("message %q does not say %q", a.Message, p)
				}
			}
			for _, p := range c.never {
				if strings.Contains(a.Message, p) {
					t.Errorf("message %q names %q, which does not decide it with an Entra target", a.Message, p)
				}
			}
		})
	}
}

// TestEN1WithoutEntraExactlyAsBefore: without an Entra target (Input.Entra nil) every case decides
// exactly as it did before the target existed — the outcome by reason (preEntraCases) and, word
// for word, the messages the code wrote then.
func TestEN1WithoutEntraExactlyAsBefore(t *testing.T) {
	const (
		enabledRW = "ada@contoso.com can sign in, holds license PLAN1 and is in the environment's security group"
		signIn    = "sign-in is blocked for ada@contoso.com: set spec.signInBlocked to false to enable it (EN1)"
		unlic     = "ReadWrite user ada@contoso.com needs a license to be enabled (AM2): set spec.license to one of PLAN1, or set spec.accessMode to Administrative or NonInteractive"
		notInSG   = "ada@contoso.com is not a direct member of security group sg of environment prod (nested groups do not count): add sg to spec.securityGroups (EN1)"
		still     = "spec.enabled is false but ada@contoso.com still meets every condition of an enabled user (EN1): to disable it, remove sg from spec.securityGroups (recommended: the user keeps its license), or remove spec.license (frees the seat), or set spec.signInBlocked to true"
		seats     = "all 1 seats of PLAN1 in environment prod are held; ada@contoso.com is 2nd of 3 waiting (LI1): remove the license from a user that does not need it, or raise the seats of PLAN1 in the Environment's spec.licenses"
		seatWait  = "waiting for environment prod to allocate a seat of PLAN1"
		offered   = "license PLAN9 is not offered by environment prod (it offers PLAN1): change spec.license, or add PLAN9 to the Environment's spec.licenses (LI1)"
		slots     = "environment prod has all 7 non-interactive slots held; ada@contoso.com is 1st of 13 waiting (AM6): delete a NonInteractive user of prod or change one's spec.accessMode, or use an ApplicationUser, which is not counted"
		slotWait  = "waiting for environment prod to allocate a non-interactive slot"
	)
	// The messages the pre-Entra code wrote for each case: the Enabled aspect's, and the
	// mismatch's ("" none).
	before := map[string][2]string{
		"EN1 AM1 licensed ReadWrite user in the group is enabled":               {enabledRW, ""},
		"EN1 sign-in blocked disables":                                          {signIn, signIn},
		"AM2 ReadWrite without license is not enabled":                          {unlic, unlic},
		"EN1 nested groups do not count: only a direct member is enabled":       {notInSG, notInSG},
		"EN1 no security group on the environment: every user passes that test": {enabledRW, ""},
		"EN4 LI1 a disabled user keeps its seat":                                {notInSG, ""},
		"EN1 intent disabled but every condition met: StillEnabled":             {enabledRW, still},
		"LI1 seats exhausted: waits, stalled":                                   {seats, seats},
		"EV1 a waiter within free seats is settling, not stalled":               {seatWait, seatWait},
		"LI1 license not offered":                                               {offered, offered},
		"LI1 environment does not count licenses":                               {enabledRW, ""},
		"AM3 Administrative users need no license":                              {"ada@contoso.com can sign in, needs no license as a Administrative user and is in the environment's security group", ""},
		"AM6 NonInteractive holding a slot is enabled":                          {"ada@contoso.com can sign in, needs no license as a NonInteractive user and is in the environment's security group", ""},
		"AM6 NonInteractive beyond seven waits, stalled":                        {slots, slots},
		"EV1 NonInteractive not yet in the ledger is pending":                   {slotWait, slotWait},
		"AM8 stub user is never enabled and takes no license":                   {"stub user ada@contoso.com is a placeholder created by data import: it cannot sign in or be enabled (AM8)", ""},
	}
	cases := preEntraCases()
	if len(cases) != len(before) {
		t.Fatalf("%d cases, %d recorded outcomes: record the pre-Entra messages of every case", len(cases), len(before))
	}
	for _, c := range cases {
		t.Run("EN1/no entra: "+c.name, func(t *testing.T) {
			if c.in.Entra != nil {
				t.Fatal("a pre-Entra case must have no Entra facts")
			}
			want, ok := before[c.name]
			if !ok {
				t.Fatalf("no recorded outcome for %q", c.name)
			}
			o := Decide(c.in)
			if diff := cmp.Diff(c.want, summarize(o)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			got := [2]string{o.EnabledAspect.Message, ""}
			if o.Mismatch != nil {
				got[1] = o.Mismatch.Message
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("messages [Enabled, mismatch] (-before +now):\n%s", diff)
			}
		})
	}
}
