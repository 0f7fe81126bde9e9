package entrasync

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The comparison per person: what Entra ID holds (drifted each way the operator corrects) against
// the decision, the exact writes that correct it — only for what manage lists — and the problems
// and drift found.

const (
	sgID     = "5a000000-0000-4000-8000-000000000001"
	teamID   = "5a000000-0000-4000-8000-000000000002"
	licGroup = "5a000000-0000-4000-8000-000000000003"
	adaID    = "a0000000-0000-4000-8000-000000000001"
	eveID    = "a0000000-0000-4000-8000-000000000009"
	skuSales = "1e1a282c-9c54-43a2-9310-98ef728faace"
	skuApps  = "b30411f5-fea1-4a59-9ad9-3db7c7ead579"
)

var all = Manage{SecurityGroupMembership: true, GroupTeamMembership: true, Licenses: true}

// snapshot is ada observed with mut applied: sign-in allowed, usage location GB, no license, in
// no group; the tenant has DYN365_ENTERPRISE_SALES (3 enabled, 1 consumed) and POWERAPPS_PER_USER
// (1 enabled, 1 consumed). eve, whom no Person names, is a direct member of both groups.
func snapshot(mut func(s *Snapshot, ada *PersonState)) *Snapshot {
	ada := &PersonState{Found: true, ObjectID: adaID, UserPrincipalName: "ada@contoso.example", AccountEnabled: true, UsageLocation: "GB"}
	s := &Snapshot{
		SecurityGroup: &GroupState{Ref: "sg-sales", ID: sgID, DisplayName: "sg-sales", Members: map[string]string{eveID: "eve@contoso.example"}},
		Groups:        []*GroupState{{Ref: "closers", ID: teamID, DisplayName: "closers", Members: map[string]string{eveID: "eve@contoso.example"}}},
		People:        map[string]*PersonState{"ada@contoso.example": ada},
		Skus: []Sku{{SkuID: skuSales, SkuPartNumber: "DYN365_ENTERPRISE_SALES", Enabled: 3, Consumed: 1},
			{SkuID: skuApps, SkuPartNumber: "POWERAPPS_PER_USER", Enabled: 1, Consumed: 1}},
	}
	if mut != nil {
		mut(s, ada)
	}
	s.refresh(ada)
	return s
}

func member(g *GroupState) { g.Members[adaID] = "ada@contoso.example" }

func direct(part, id string) License { return License{SkuPartNumber: part, SkuID: id, Direct: true} }

func byGroup(part, id string) License {
	return License{SkuPartNumber: part, SkuID: id, ByGroups: []string{licGroup}}
}

func ada(mut func(*Person)) Person {
	p := Person{UserName: "ada@contoso.example", InSecurityGroup: true, Groups: []string{"closers"}}
	if mut != nil {
		mut(&p)
	}
	return p
}

func add(group, ref, why string) Change {
	return Change{Op: OpAddMember, Group: group, GroupRef: ref, User: adaID, UserName: "ada@contoso.example", Why: why}
}

func remove(group, ref, why string) Change {
	return Change{Op: OpRemoveMember, Group: group, GroupRef: ref, User: adaID, UserName: "ada@contoso.example", Why: why}
}

func license(add, remove []string, why string) Change {
	parts := func(ids []string) []string {
		var out []string
		for _, id := range ids {
			out = append(out, map[string]string{skuSales: "DYN365_ENTERPRISE_SALES", skuApps: "POWERAPPS_PER_USER"}[id])
		}
		return out
	}
	return Change{Op: OpAssignLicense, User: adaID, UserName: "ada@contoso.example", Add: add, AddParts: parts(add), Remove: remove, RemoveParts: parts(remove), Why: why}
}

const (
	whyAddSG   = "ada@contoso.example is not a direct member of the security group sg-sales; decided enabled"
	whyOutSG   = "ada@contoso.example is a direct member of the security group sg-sales; not decided enabled (the license is kept)"
	whyAddTeam = "ada@contoso.example is not a direct member of group team group closers; it lists the group"
	whyOutTeam = "ada@contoso.example is a direct member of group team group closers; it does not list the group"
	whyLicense = "ada@contoso.example does not hold license DYN365_ENTERPRISE_SALES"
	whyUnsales = "license DYN365_ENTERPRISE_SALES, assigned by the operator, is no longer named by spec.license"
)

func TestComparePerson(t *testing.T) {
	cases := []struct {
		name     string
		person   Person
		snap     *Snapshot
		manage   Manage
		changes  []Change
		problems []ProblemKind
		drift    []Drift
	}{
		{name: "in place: nothing to write",
			person: ada(nil), manage: all,
			snap: snapshot(func(s *Snapshot, _ *PersonState) { member(s.SecurityGroup); member(s.Groups[0]) })},

		// SecurityGroupMembership
		{name: "EN1 decided enabled, not a member: added to the security group",
			person: ada(nil), manage: DefaultManage,
			snap:    snapshot(func(s *Snapshot, _ *PersonState) { member(s.Groups[0]) }),
			changes: []Change{add(sgID, "sg-sales", whyAddSG)}},
		{name: "EN4 disabled, a member: removed from the security group, its license kept",
			person: ada(func(p *Person) {
				p.InSecurityGroup, p.License, p.Assigned = false, "DYN365_ENTERPRISE_SALES", []string{"DYN365_ENTERPRISE_SALES"}
			}),
			manage: all,
			snap: snapshot(func(s *Snapshot, a *PersonState) {
				member(s.SecurityGroup)
				member(s.Groups[0])
				a.Licenses = []License{direct("DYN365_ENTERPRISE_SALES", skuSales)}
			}),
			changes: []Change{remove(sgID, "sg-sales", whyOutSG)}},
		{name: "LI1 a person waiting for its seat is kept out of the security group and gets no license",
			person: ada(func(p *Person) { p.InSecurityGroup, p.License, p.LicenseWaits = false, "DYN365_ENTERPRISE_SALES", true }),
			manage: all,
			snap:   snapshot(func(s *Snapshot, _ *PersonState) { member(s.Groups[0]) })},
		{name: "a waiting person added behind the operator's back is taken out again",
			person:  ada(func(p *Person) { p.InSecurityGroup, p.License, p.LicenseWaits = false, "DYN365_ENTERPRISE_SALES", true }),
			manage:  all,
			snap:    snapshot(func(s *Snapshot, _ *PersonState) { member(s.SecurityGroup); member(s.Groups[0]) }),
			changes: []Change{remove(sgID, "sg-sales", whyOutSG)}},
		{name: "membership not managed: the difference is drift, nothing is written",
			person: ada(nil), manage: Manage{GroupTeamMembership: true},
			snap:  snapshot(func(s *Snapshot, _ *PersonState) { member(s.Groups[0]) }),
			drift: []Drift{{Fact: SecurityGroupMembership, Name: "sg-sales", Decided: "member", Entra: "not a member"}}},
		{name: "the environment has no security group: nothing about it",
			person: ada(nil), manage: all,
			snap: snapshot(func(s *Snapshot, _ *PersonState) { s.SecurityGroup = nil; member(s.Groups[0]) })},

		// GroupTeamMembership
		{name: "TM1 listed and not a member: added; not listed and a member: removed",
			person: ada(func(p *Person) { p.Groups = []string{"closers"} }), manage: Manage{GroupTeamMembership: true},
			snap: snapshot(func(s *Snapshot, _ *PersonState) {
				member(s.SecurityGroup)
				s.Groups = append(s.Groups, &GroupState{Ref: "openers", ID: licGroup, Members: map[string]string{adaID: "ada@contoso.example"}})
			}),
			changes: []Change{add(teamID, "closers", whyAddTeam),
				remove(licGroup, "openers", "ada@contoso.example is a direct member of group team group openers; it does not list the group")}},
		{name: "TM1 a group listed by its object id is the same group",
			person: ada(func(p *Person) { p.Groups = []string{teamID} }), manage: all,
			snap: snapshot(func(s *Snapshot, _ *PersonState) { member(s.SecurityGroup); member(s.Groups[0]) })},
		{name: "TM1 no longer listed: removed from the group team group only",
			person: ada(func(p *Person) { p.Groups = nil }), manage: all,
			snap:    snapshot(func(s *Snapshot, _ *PersonState) { member(s.SecurityGroup); member(s.Groups[0]) }),
			changes: []Change{remove(teamID, "closers", whyOutTeam)}},
		{name: "group team membership not managed: drift only",
			person: ada(nil), manage: DefaultManage,
			snap:  snapshot(func(s *Snapshot, _ *PersonState) { member(s.SecurityGroup) }),
			drift: []Drift{{Fact: GroupTeamMembership, Name: "closers", Decided: "member", Entra: "not a member"}}},

		// Licenses
		{name: "a license named and not held: assigned directly by its skuId",
			person: ada(func(p *Person) { p.License = "dyn365_enterprise_sales" }), manage: all,
			snap:    snapshot(func(s *Snapshot, _ *PersonState) { member(s.SecurityGroup); member(s.Groups[0]) }),
			changes: []Change{license([]string{skuSales}, nil, whyLicense)}},
		{name: "the license is held through a group: nothing assigned",
			person: ada(func(p *Person) { p.License = "DYN365_ENTERPRISE_SALES" }), manage: all,
			snap: snapshot(func(s *Snapshot, a *PersonState) {
				member(s.SecurityGroup)
				member(s.Groups[0])
				a.Licenses = []License{byGroup("DYN365_ENTERPRISE_SALES", skuSales)}
			})},
		{name: "a license the operator assigned and spec.license no longer names: removed, the new one assigned in one call",
			person: ada(func(p *Person) { p.License, p.Assigned = "POWERAPPS_PER_USER", []string{"DYN365_ENTERPRISE_SALES"} }), manage: all,
			snap: snapshot(func(s *Snapshot, a *PersonState) {
				member(s.SecurityGroup)
				member(s.Groups[0])
				s.Skus[1].Enabled = 2
				a.Licenses = []License{direct("DYN365_ENTERPRISE_SALES", skuSales)}
			}),
			changes: []Change{license([]string{skuApps}, []string{skuSales},
				"ada@contoso.example does not hold license POWERAPPS_PER_USER; "+whyUnsales)}},
		{name: "a license assigned by a group is never removed, even one the operator assigned before",
			person: ada(func(p *Person) { p.Assigned = []string{"DYN365_ENTERPRISE_SALES"} }), manage: all,
			snap: snapshot(func(s *Snapshot, a *PersonState) {
				member(s.SecurityGroup)
				member(s.Groups[0])
				a.Licenses = []License{byGroup("DYN365_ENTERPRISE_SALES", skuSales)}
			})},
		{name: "a direct license the operator did not assign is never removed",
			person: ada(nil), manage: all,
			snap: snapshot(func(s *Snapshot, a *PersonState) {
				member(s.SecurityGroup)
				member(s.Groups[0])
				a.Licenses = []License{direct("POWERAPPS_PER_USER", skuApps)}
			})},
		{name: "EN4 disabled, its license named: kept (no removal because it left the group)",
			person: ada(func(p *Person) {
				p.InSecurityGroup, p.License, p.Assigned = false, "DYN365_ENTERPRISE_SALES", []string{"DYN365_ENTERPRISE_SALES"}
			}),
			manage: all,
			snap: snapshot(func(s *Snapshot, a *PersonState) {
				member(s.Groups[0])
				a.Licenses = []License{direct("DYN365_ENTERPRISE_SALES", skuSales)}
			})},
		{name: "a license part number the tenant lacks: a problem, nothing written",
			person: ada(func(p *Person) { p.License = "NO_SUCH_SKU" }), manage: all,
			snap:     snapshot(func(s *Snapshot, _ *PersonState) { member(s.SecurityGroup); member(s.Groups[0]) }),
			problems: []ProblemKind{LicenseNotInTenant}},
		{name: "no unit left: TenantLicensesExhausted, nothing written",
			person: ada(func(p *Person) { p.License = "POWERAPPS_PER_USER" }), manage: all,
			snap:     snapshot(func(s *Snapshot, _ *PersonState) { member(s.SecurityGroup); member(s.Groups[0]) }),
			problems: []ProblemKind{TenantLicensesExhausted}},
		{name: "no usage location: a problem before Graph refuses, nothing written",
			person: ada(func(p *Person) { p.License = "DYN365_ENTERPRISE_SALES" }), manage: all,
			snap: snapshot(func(s *Snapshot, a *PersonState) {
				member(s.SecurityGroup)
				member(s.Groups[0])
				a.UsageLocation = ""
			}),
			problems: []ProblemKind{NoUsageLocation}},
		{name: "licenses not managed: a license not held is drift, nothing written",
			person: ada(func(p *Person) { p.License = "DYN365_ENTERPRISE_SALES" }), manage: DefaultManage,
			snap:  snapshot(func(s *Snapshot, _ *PersonState) { member(s.SecurityGroup) }),
			drift: []Drift{{Fact: GroupTeamMembership, Name: "closers", Decided: "member", Entra: "not a member"}, {Fact: Licenses, Name: "DYN365_ENTERPRISE_SALES", Decided: "assigned", Entra: "not assigned"}}},

		// Problems
		{name: "PersonNotFound: no write at all",
			person: ada(nil), manage: all,
			snap: snapshot(func(s *Snapshot, _ *PersonState) {
				delete(s.People, "ada@contoso.example")
				s.People["ada@contoso.example"] = &PersonState{}
			}),
			problems: []ProblemKind{PersonNotFound}},
		{name: "a group that could not be resolved: its problem, no write to it; the others go on",
			person: ada(nil), manage: all,
			snap: snapshot(func(s *Snapshot, _ *PersonState) {
				s.SecurityGroup = &GroupState{Ref: "sales", Problem: &Problem{Kind: GroupAmbiguous, Name: "sales"}}
			}),
			changes:  []Change{add(teamID, "closers", whyAddTeam)},
			problems: []ProblemKind{GroupAmbiguous}},
		{name: "the security group is also a group team's group, decided alike: one write",
			person: ada(func(p *Person) { p.Groups = []string{"sg-sales"} }), manage: all,
			snap: snapshot(func(s *Snapshot, _ *PersonState) {
				s.Groups = []*GroupState{{Ref: "sg-sales", ID: sgID, Members: s.SecurityGroup.Members}}
			}),
			changes: []Change{add(sgID, "sg-sales", whyAddSG)}},
		{name: "the security group is also a group team's group, decided both ways: a conflict, no write to it",
			person: ada(func(p *Person) { p.Groups = nil }), manage: all,
			snap: snapshot(func(s *Snapshot, _ *PersonState) {
				s.Groups = []*GroupState{{Ref: "sg-sales", ID: sgID, Members: s.SecurityGroup.Members}}
			}),
			problems: []ProblemKind{GroupConflict}},
		{name: "a member nobody manages is left alone",
			person: ada(nil), manage: all,
			snap: snapshot(func(s *Snapshot, _ *PersonState) { member(s.SecurityGroup); member(s.Groups[0]) })},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			changes, facts := ComparePerson(c.person, c.snap, c.manage)
			if d := cmp.Diff(c.changes, changes); d != "" {
				t.Errorf("changes (-want +got):\n%s", d)
			}
			var kinds []ProblemKind
			for _, p := range facts.Problems {
				kinds = append(kinds, p.Kind)
				if p.Message == "" && p.Kind != GroupAmbiguous {
					t.Errorf("problem %s names nothing to change", p.Kind)
				}
			}
			if d := cmp.Diff(c.problems, kinds); d != "" {
				t.Errorf("problems (-want +got):\n%s", d)
			}
			if d := cmp.Diff(c.drift, facts.Drift); d != "" {
				t.Errorf("drift (-want +got):\n%s", d)
			}
			for _, ch := range changes {
				if ch.User == eveID {
					t.Errorf("a write about eve, whom no Person names: %+v", ch)
				}
			}
		})
	}
}

// TestExhaustedNamesUnits: the problem names the SKU, its enabled and consumed units.
func TestExhaustedNamesUnits(t *testing.T) {
	_, f := ComparePerson(ada(func(p *Person) { p.License = "POWERAPPS_PER_USER" }), snapshot(nil), all)
	want := []Problem{{Kind: TenantLicensesExhausted, Name: "POWERAPPS_PER_USER", Enabled: 1, Consumed: 1,
		Message: "the tenant has no POWERAPPS_PER_USER license left for ada@contoso.example: 1 enabled, 1 consumed; buy units or free one"}}
	if d := cmp.Diff(want, f.Problems); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// TestRecordThenCompareFindsNothing: each write recorded in the snapshot makes the next
// comparison find nothing to do.
func TestRecordThenCompareFindsNothing(t *testing.T) {
	p := ada(func(p *Person) {
		p.License, p.Assigned, p.Groups = "POWERAPPS_PER_USER", []string{"DYN365_ENTERPRISE_SALES"}, nil
	})
	s := snapshot(func(s *Snapshot, a *PersonState) {
		member(s.Groups[0])
		s.Skus[1].Enabled = 2
		a.Licenses = []License{direct("DYN365_ENTERPRISE_SALES", skuSales)}
	})
	changes, _ := ComparePerson(p, s, all)
	if len(changes) != 3 {
		t.Fatalf("changes %+v", changes)
	}
	for _, c := range changes {
		s.record(c)
	}
	if again, f := ComparePerson(p, s, all); len(again) != 0 || len(f.Problems) != 0 {
		t.Fatalf("after recording: %+v %+v", again, f.Problems)
	}
	want := Snapshot{Skus: []Sku{{SkuID: skuSales, SkuPartNumber: "DYN365_ENTERPRISE_SALES", Enabled: 3, Consumed: 0},
		{SkuID: skuApps, SkuPartNumber: "POWERAPPS_PER_USER", Enabled: 2, Consumed: 2}}}
	if d := cmp.Diff(want.Skus, s.Skus); d != "" {
		t.Errorf("units (-want +got):\n%s", d)
	}
	if a := s.Person(p); !a.InSecurityGroup || len(a.Groups) != 0 || !cmp.Equal(a.Licenses, []License{direct("POWERAPPS_PER_USER", skuApps)}) {
		t.Errorf("ada recorded %+v", a)
	}
}

func TestParseManage(t *testing.T) {
	if m, err := ParseManage(nil); err != nil || m != DefaultManage {
		t.Fatalf("default %+v %v", m, err)
	}
	if m, err := ParseManage([]string{"Licenses", "GroupTeamMembership"}); err != nil || m != (Manage{GroupTeamMembership: true, Licenses: true}) {
		t.Fatalf("%+v %v", m, err)
	}
	if _, err := ParseManage([]string{"AccountEnabled"}); err == nil {
		t.Fatal("sign-in is never managed")
	}
}
