package controllers_test

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

// The specs of docs/design.md's "Entra ID target": the operator observes the Entra ID facts that
// decide enablement (EN1) through the emulator's Microsoft Graph and, under Manage, writes only
// what spec.entra.manage lists. Every spec has its own people, groups and SKU in the emulator's
// one tenant directory (names carry the namespace).

// entraTenant is one spec's part of the tenant directory.
type entraTenant struct {
	ns string
	// ids are the spec's people and groups: the only ones its Graph write checks count, so an
	// earlier spec's reconciles still winding down cannot show up in them.
	ids     []string
	groupID string
	group   string // the security group's display name
	sku     string // a SKU part number of its own
	skuID   string
}

func newEntraTenant(ns string, units int) *entraTenant {
	t := &entraTenant{ns: ns, group: "Sales access " + ns, sku: strings.ToUpper(strings.ReplaceAll(ns, "-", "_")) + "_PLAN1"}
	var err error
	t.groupID, err = emu.AddGroup(emulator.DirectoryGroup{DisplayName: t.group})
	Expect(err).NotTo(HaveOccurred())
	t.ids = append(t.ids, strings.ToLower(t.groupID))
	t.skuID, err = emu.AddSku(emulator.SubscribedSku{SkuPartNumber: t.sku, PrepaidUnits: emulator.PrepaidUnits{Enabled: units}})
	Expect(err).NotTo(HaveOccurred())
	return t
}

// upn is a person's user principal name in this spec's part of the directory.
func (t *entraTenant) upn(name string) string { return name + "@" + t.ns + ".contoso.com" }

// person adds a person with sign-in allowed, a usage location and, when licensed, the spec's SKU
// assigned directly, and returns its object id.
func (t *entraTenant) person(name string, licensed bool) string {
	u := emulator.DirectoryUser{UserPrincipalName: t.upn(name), GivenName: name, UsageLocation: "DE"}
	if licensed {
		u.AssignedLicenses = []emulator.AssignedLicense{{SkuID: t.skuID}}
	}
	id, err := emu.AddEntraUser(u)
	Expect(err).NotTo(HaveOccurred())
	t.ids = append(t.ids, strings.ToLower(id))
	return strings.ToLower(id)
}

// graphWrites are the Graph writes logged since a time that name one of the spec's people or
// groups (or extra ids), as "METHOD path" with the ids as they were sent, sorted.
func (t *entraTenant) graphWrites(since time.Time, extra ...string) []string {
	mine := append(append([]string{}, t.ids...), extra...)
	var out []string
	for _, r := range emulator.Writes(emulator.GraphRequests(emu.Requests())) {
		if r.Time.Before(since) {
			continue
		}
		p, _, _ := strings.Cut(r.Path, "?")
		p = strings.TrimPrefix(p, "/graph/v1.0/")
		for _, id := range mine {
			if strings.Contains(strings.ToLower(p), id) {
				out = append(out, r.Method+" "+p)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// entraEnvironment is an Environment with a Dataverse target (Manage) and spec.entra, whose
// emulated Dataverse environment is gated by the tenant's security group.
func entraEnvironment(ns, name string, t *entraTenant, policy accessv1alpha1.ManagementPolicy, manage []accessv1alpha1.EntraFact, seats int32) (*accessv1alpha1.Environment, string) {
	e, dv := syncedEnvironment(ns, name, accessv1alpha1.ManagementManage, func(e *accessv1alpha1.Environment) {
		e.Spec.SecurityGroup = t.group
		e.Spec.Licenses = []accessv1alpha1.LicenseSeats{{SKU: t.sku, Seats: seats}}
		e.Spec.Entra = &accessv1alpha1.EntraTarget{ManagementPolicy: policy, Manage: manage}
	})
	Expect(emu.SetSecurityGroup(dv, t.groupID)).To(Succeed())
	DeferCleanup(func() {
		update(environment(ns, name), func(e *accessv1alpha1.Environment) { e.Spec.Entra = nil })
	})
	return e, dv
}

// syncedReason is the reason of an object's Synced condition ("" when it has none).
func syncedReason(obj client.Object) string {
	if c := condition(obj, accessv1alpha1.ConditionSynced); c != nil {
		return c.Reason
	}
	return ""
}

func entraStatusOf(u *accessv1alpha1.PlatformUser) *accessv1alpha1.PlatformUserEntraStatus {
	ExpectWithOffset(1, k8sClient.Get(ctx, key(u.Namespace, u.Name), u)).To(Succeed())
	return u.Status.Entra
}

func dataverseDisabled(dv, upn string) *bool {
	for _, r := range dumpOf(dv).Users {
		if strings.EqualFold(fmt.Sprint(r["domainname"]), upn) {
			b, _ := r["isdisabled"].(bool)
			return &b
		}
	}
	return nil
}

var _ = Describe("Entra ID target: enabling and disabling people through Microsoft Graph", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("Manage SecurityGroupMembership (EN1, EN4, LI1): the security group's direct members among managed people are exactly those decided enabled — the enabled user is added, the disabled one removed with its license kept, the one waiting for a seat kept out, an unmanaged member left alone and listed — and Dataverse follows at once through addUser", func() {
		const env = "entra"
		t := newEntraTenant(ns, 10)
		alice, bob := t.person("alice", true), t.person("bob", true)
		t.person("carol", true)
		dave := t.person("dave", true)
		Expect(emu.AddGroupMember(t.groupID, bob)).To(Succeed())
		Expect(emu.AddGroupMember(t.groupID, dave)).To(Succeed())
		e, dv := entraEnvironment(ns, env, t, accessv1alpha1.ManagementManage, nil, 2)
		create(e)
		Eventually(readyReason(environment(ns, env)), "30s").Should(Equal("True"))
		since := time.Now()

		mk := func(name string, enabled bool) *accessv1alpha1.PlatformUser {
			return user(ns, name, env, withLicense(t.sku), withRoles(env+accessv1alpha1.BasicUserRoleSuffix), func(u *accessv1alpha1.PlatformUser) {
				u.Spec.UserName, u.Spec.Enabled = t.upn(name), enabled
			})
		}
		a, b := mk("alice", true), mk("bob", false)
		b.Spec.SecurityRoles = nil // EN6: no role is assigned to a disabled user
		create(a, b)
		Eventually(readyReason(a), "30s").Should(Equal("True"))
		c := mk("carol", true) // the two seats are held: alice's and bob's (EN4: kept while disabled)
		create(c)
		Eventually(readyReason(b), "30s").Should(Equal("True"))
		Eventually(readyReason(c), "30s").Should(Equal(accessv1alpha1.ReasonSeatsExhausted))

		Expect(syncedReason(a)).To(Equal(accessv1alpha1.ReasonSynced))
		Eventually(func() string { return syncedReason(b) }, "30s").Should(Equal(accessv1alpha1.ReasonSynced))
		Expect(t.graphWrites(since)).To(Equal([]string{
			"DELETE groups/" + t.groupID + "/members/" + bob + "/$ref",
			"POST groups/" + t.groupID + "/members/$ref",
		}), "alice added, bob removed by its reference only; carol (waiting) and dave (unmanaged) untouched")
		Expect(*entraStatusOf(a).MemberOfSecurityGroup).To(BeTrue())
		Expect(entraStatusOf(a).ObjectID).To(Equal(alice), "found by spec.userName")
		bs := entraStatusOf(b)
		Expect(*bs.MemberOfSecurityGroup).To(BeFalse())
		Expect(bs.Licenses).To(ConsistOf(accessv1alpha1.EntraLicense{SkuPartNumber: t.sku, Direct: true}), "EN4: removed from the group, its license kept")
		Expect(*entraStatusOf(c).MemberOfSecurityGroup).To(BeFalse(), "a user waiting for a seat is kept out")

		Eventually(func() *bool { return dataverseDisabled(dv, t.upn("alice")) }, "30s").Should(HaveValue(BeFalse()), "Dataverse follows at once")
		Eventually(func() *bool { return dataverseDisabled(dv, t.upn("bob")) }, "30s").Should(HaveValue(BeTrue()))
		Expect(syncedReason(a)).NotTo(Equal(accessv1alpha1.ReasonEnablementDrift))
		addUsers := 0
		for _, r := range requestsTo(since, emu.EnvironmentID(dv)) {
			if apiPath(r) == "addUser" {
				addUsers++
			}
		}
		Expect(addUsers).To(BeNumerically(">=", 2), "addUser asked for the people whose membership changed (no background sync runs here)")

		Eventually(func(g Gomega) {
			var got accessv1alpha1.Environment
			g.Expect(k8sClient.Get(ctx, key(ns, env), &got)).To(Succeed())
			g.Expect(got.Status.Entra).NotTo(BeNil())
			g.Expect(got.Status.Entra.SecurityGroupID).To(Equal(t.groupID))
			g.Expect(got.Status.Entra.UnmanagedMembers).To(Equal(&accessv1alpha1.UnmanagedMembers{Count: 1, First: []string{t.upn("dave")}}))
			g.Expect(got.Status.Entra.Skus).To(ContainElement(accessv1alpha1.TenantSku{SkuPartNumber: t.sku, Enabled: 10, Consumed: 4}))
		}, "30s").Should(Succeed())
	})

	It("Observe (EN1 from Entra ID): nothing is written to Graph; a person Entra ID keeps out of the security group is not enabled and says so, and the membership Manage would add is reported Drifted", func() {
		const env = "entra-observe"
		t := newEntraTenant(ns, 10)
		t.person("erin", true)
		frank := t.person("frank", true)
		Expect(emu.AddGroupMember(t.groupID, frank)).To(Succeed())
		e, _ := entraEnvironment(ns, env, t, accessv1alpha1.ManagementObserve, nil, 5)
		create(e)
		Eventually(readyReason(environment(ns, env)), "30s").Should(Equal("True"))
		since := time.Now()
		mk := func(name string) *accessv1alpha1.PlatformUser {
			return user(ns, name, env, withLicense(t.sku), withRoles(env+accessv1alpha1.BasicUserRoleSuffix), func(u *accessv1alpha1.PlatformUser) {
				u.Spec.UserName = t.upn(name)
				u.Spec.SecurityGroups = []string{t.group} // a claim Entra ID contradicts for erin
			})
		}
		erin, fr := mk("erin"), mk("frank")
		create(erin, fr)
		Eventually(readyReason(erin), "30s").Should(Equal(accessv1alpha1.ReasonNotInSecurityGroup), "EN1 follows Entra ID, not spec.securityGroups")
		Expect(condition(erin, accessv1alpha1.ConditionEnabled).Message).To(ContainSubstring("in Entra ID"))
		Eventually(func() string { return syncedReason(erin) }, "30s").Should(Equal(accessv1alpha1.ReasonDrifted))
		Expect(condition(erin, accessv1alpha1.ConditionSynced).Message).To(ContainSubstring("is not a direct member of the security group"))
		Eventually(readyReason(fr), "30s").Should(Equal("True"))
		Consistently(func() []string { return t.graphWrites(since) }, "3s").Should(BeEmpty(), "Observe writes nothing to Graph")
	})

	It("EntraDrift (Stalled): a declared fact the operator does not manage that Entra ID contradicts — sign-in blocked in Entra ID while spec.signInBlocked is false — names the field, its value and Entra's, and EN1 follows Entra ID", func() {
		const env = "entra-drift"
		t := newEntraTenant(ns, 10)
		t.person("gina", true)
		Expect(emu.SetAccountEnabled(t.upn("gina"), false)).To(Succeed())
		e, _ := entraEnvironment(ns, env, t, accessv1alpha1.ManagementManage, nil, 5)
		create(e)
		u := user(ns, "gina", env, withLicense(t.sku), withRoles(env+accessv1alpha1.BasicUserRoleSuffix), func(u *accessv1alpha1.PlatformUser) { u.Spec.UserName = t.upn("gina") })
		create(u)
		Eventually(func() string { return syncedReason(u) }, "30s").Should(Equal(accessv1alpha1.ReasonEntraDrift))
		msg := condition(u, accessv1alpha1.ConditionSynced).Message
		Expect(msg).To(ContainSubstring("spec.signInBlocked is false"))
		Expect(msg).To(ContainSubstring("blocked (accountEnabled false)"))
		Expect(condition(u, accessv1alpha1.ConditionEnabled).Reason).To(Equal(accessv1alpha1.ReasonSignInBlocked))
		Expect(stalledReason(u)).To(Equal(accessv1alpha1.ReasonSignInBlocked), "Ready's first problem stalls it")
		Expect(*entraStatusOf(u).AccountEnabled).To(BeFalse())
	})

	It("PersonNotFound (Stalled): no Entra user with spec.userName is a clear condition, and nothing is written", func() {
		const env = "entra-missing"
		t := newEntraTenant(ns, 10)
		e, _ := entraEnvironment(ns, env, t, accessv1alpha1.ManagementManage, nil, 5)
		create(e)
		since := time.Now()
		u := user(ns, "ghost", env, withLicense(t.sku), withRoles(env+accessv1alpha1.BasicUserRoleSuffix), func(u *accessv1alpha1.PlatformUser) { u.Spec.UserName = t.upn("ghost") })
		create(u)
		Eventually(readyReason(u), "30s").Should(Equal(accessv1alpha1.ReasonPersonNotFound))
		Expect(stalledReason(u)).To(Equal(accessv1alpha1.ReasonPersonNotFound))
		Expect(condition(u, accessv1alpha1.ConditionSynced).Reason).To(Equal(accessv1alpha1.ReasonPersonNotFound))
		Expect(condition(u, accessv1alpha1.ConditionSynced).Message).To(ContainSubstring("correct spec.userName"))
		Expect(t.graphWrites(since)).To(BeEmpty())
	})

	It("SyncConflict: two Environments managing one security group with different decisions for one person — the later one reports SyncConflict and writes no membership of it; the older one's decision stands", func() {
		t := newEntraTenant(ns, 10)
		hank := t.person("hank", true)
		older, _ := entraEnvironment(ns, "entra-old", t, accessv1alpha1.ManagementManage, nil, 5)
		create(older)
		Eventually(readyReason(environment(ns, "entra-old")), "30s").Should(Equal("True"))
		time.Sleep(1100 * time.Millisecond) // creation timestamps have a second's resolution
		younger, _ := entraEnvironment(ns, "entra-new", t, accessv1alpha1.ManagementManage, nil, 5)
		create(younger)
		Eventually(readyReason(environment(ns, "entra-new")), "30s").Should(Equal("True"))
		mk := func(name, env string, enabled bool) *accessv1alpha1.PlatformUser {
			return user(ns, name, env, withLicense(t.sku), withRoles(env+accessv1alpha1.BasicUserRoleSuffix), func(u *accessv1alpha1.PlatformUser) {
				u.Spec.UserName, u.Spec.Enabled = t.upn("hank"), enabled
			})
		}
		keep := mk("hank-old", "entra-old", true)
		create(keep)
		Eventually(func() string { return syncedReason(keep) }, "30s").Should(Equal(accessv1alpha1.ReasonSynced))
		since := time.Now()
		drop := mk("hank-new", "entra-new", false)
		create(drop)
		Eventually(func() string { return syncedReason(drop) }, "30s").Should(Equal(accessv1alpha1.ReasonSyncConflict))
		Expect(condition(drop, accessv1alpha1.ConditionSynced).Message).To(ContainSubstring(ns + "/entra-old"))
		Consistently(func() []string { return t.graphWrites(since) }, "3s").Should(BeEmpty(), "the later environment removes nothing")
		Expect(emu.AddGroupMember(t.groupID, hank)).To(Succeed()) // already one: no change
		Expect(syncedReason(keep)).To(Equal(accessv1alpha1.ReasonSynced))
	})

	It("Unauthorized names the Graph application permission the app registration lacks (a 403 Authorization_RequestDenied)", func() {
		const env = "entra-403"
		t := newEntraTenant(ns, 10)
		t.person("ivan", true)
		emu.SetAppPermissions(emulator.OperatorApplicationID, []string{"User.Read.All", "GroupMember.Read.All", "Organization.Read.All"})
		DeferCleanup(func() { emu.SetAppPermissions(emulator.OperatorApplicationID, nil) })
		e, _ := entraEnvironment(ns, env, t, accessv1alpha1.ManagementManage, nil, 5)
		create(e)
		u := user(ns, "ivan", env, withLicense(t.sku), withRoles(env+accessv1alpha1.BasicUserRoleSuffix), func(u *accessv1alpha1.PlatformUser) { u.Spec.UserName = t.upn("ivan") })
		create(u)
		Eventually(func() string { return syncedReason(u) }, "30s").Should(Equal(accessv1alpha1.ReasonUnauthorized))
		Expect(condition(u, accessv1alpha1.ConditionSynced).Message).To(ContainSubstring("GroupMember.ReadWrite.All"))
	})

	It("a security group named by a display name that matches no group, or several, is a clear condition on the Environment naming what to change", func() {
		const env = "entra-nogroup"
		t := newEntraTenant(ns, 10)
		e, _ := entraEnvironment(ns, env, t, accessv1alpha1.ManagementManage, nil, 5)
		e.Spec.SecurityGroup = "No such group " + ns
		create(e)
		Eventually(func() string { return syncedReason(environment(ns, env)) }, "30s").Should(Equal(accessv1alpha1.ReasonGroupNotFound))
		Expect(condition(environment(ns, env), accessv1alpha1.ConditionSynced).Message).To(ContainSubstring("spec.securityGroup"))
		twin := "Twin " + ns
		_, err := emu.AddGroup(emulator.DirectoryGroup{ID: "9a000000-0000-4000-8000-" + fmt.Sprintf("%012d", GinkgoRandomSeed()%1e12), DisplayName: twin})
		Expect(err).NotTo(HaveOccurred())
		_, err = emu.AddGroup(emulator.DirectoryGroup{ID: "9b000000-0000-4000-8000-" + fmt.Sprintf("%012d", GinkgoRandomSeed()%1e12), DisplayName: twin})
		Expect(err).NotTo(HaveOccurred())
		update(environment(ns, env), func(e *accessv1alpha1.Environment) { e.Spec.SecurityGroup = twin })
		Eventually(func() string { return syncedReason(environment(ns, env)) }, "30s").Should(Equal(accessv1alpha1.ReasonGroupAmbiguous))
		Expect(stalledReason(environment(ns, env))).To(Equal(accessv1alpha1.ReasonGroupAmbiguous))
	})

	It("Manage Licenses (LI1, EN4): the SKU of spec.license is assigned when the user holds its seat, a license a group assigns is left alone, no unit left in the tenant is TenantLicensesExhausted naming SKU, enabled and consumed, and the operator removes only a license it assigned once spec.license no longer names it — never because the user was disabled", func() {
		const env = "entra-lic"
		t := newEntraTenant(ns, 2)
		jack := t.person("jack", false)
		kim := t.person("kim", false)
		t.person("leo", false)
		licensing, err := emu.AddGroup(emulator.DirectoryGroup{DisplayName: "Licensing " + ns, Members: []string{kim}, AssignedLicenses: []emulator.AssignedLicense{{SkuID: t.skuID}}})
		Expect(err).NotTo(HaveOccurred())
		e, _ := entraEnvironment(ns, env, t, accessv1alpha1.ManagementManage, []accessv1alpha1.EntraFact{accessv1alpha1.EntraSecurityGroupMembership, accessv1alpha1.EntraLicenses}, 5)
		create(e)
		Eventually(readyReason(environment(ns, env)), "30s").Should(Equal("True"))
		since := time.Now()
		mk := func(name string) *accessv1alpha1.PlatformUser {
			return user(ns, name, env, withLicense(t.sku), withRoles(env+accessv1alpha1.BasicUserRoleSuffix), func(u *accessv1alpha1.PlatformUser) { u.Spec.UserName = t.upn(name) })
		}
		j, k := mk("jack"), mk("kim")
		create(j, k)
		Eventually(readyReason(j), "30s").Should(Equal("True"))
		Eventually(readyReason(k), "30s").Should(Equal("True"))
		Expect(entraStatusOf(j).AssignedByOperator).To(Equal([]string{t.sku}))
		Expect(entraStatusOf(k).AssignedByOperator).To(BeEmpty(), "kim holds it through a group")
		Expect(entraStatusOf(k).Licenses).To(ConsistOf(accessv1alpha1.EntraLicense{SkuPartNumber: t.sku, ByGroups: []string{licensing}}))
		lic := 0
		for _, w := range t.graphWrites(since) {
			if strings.HasSuffix(w, "/assignLicense") {
				lic++
				Expect(w).To(Equal("POST users/" + jack + "/assignLicense"))
			}
		}
		Expect(lic).To(Equal(1), "one license assigned: jack's")

		l := mk("leo") // both units are consumed: jack's and kim's
		create(l)
		Eventually(func() string { return syncedReason(l) }, "30s").Should(Equal(accessv1alpha1.ReasonTenantLicensesExhausted))
		msg := condition(l, accessv1alpha1.ConditionSynced).Message
		Expect(msg).To(ContainSubstring(t.sku))
		Expect(msg).To(ContainSubstring("2 enabled, 2 consumed"))
		Expect(stalledReason(l)).NotTo(BeEmpty())

		before := time.Now()
		update(j, func(u *accessv1alpha1.PlatformUser) { u.Spec.Enabled = false })
		update(k, func(u *accessv1alpha1.PlatformUser) { u.Spec.Enabled = false })
		Eventually(func() *bool { return entraStatusOf(j).MemberOfSecurityGroup }, "30s").Should(HaveValue(BeFalse()))
		Consistently(func() []string {
			var out []string
			for _, w := range t.graphWrites(before) {
				if strings.HasSuffix(w, "/assignLicense") {
					out = append(out, w)
				}
			}
			return out
		}, "3s").Should(BeEmpty(), "EN4: disabling removes no license")

		before = time.Now()
		update(j, func(u *accessv1alpha1.PlatformUser) {
			u.Spec.License, u.Spec.AccessMode = "", accessv1alpha1.AccessModeAdministrative
		})
		Eventually(func() []string { return entraStatusOf(j).AssignedByOperator }, "30s").Should(BeEmpty())
		Expect(t.graphWrites(before)).To(ContainElement("POST users/" + jack + "/assignLicense"))
		Expect(entraStatusOf(j).Licenses).To(BeEmpty(), "the license the operator assigned is removed")
		_ = kim
	})

	It("Manage GroupTeamMembership (TM1): a group team's group, named by display name, has as direct members among managed people exactly those listing it in spec.securityGroups, and the Dataverse team is found by the resolved object id", func() {
		const env = "entra-team"
		t := newEntraTenant(ns, 10)
		mia := t.person("mia", true)
		ned := t.person("ned", true)
		closers := "Closers " + ns
		groupID, err := emu.AddGroup(emulator.DirectoryGroup{DisplayName: closers, Members: []string{ned}})
		Expect(err).NotTo(HaveOccurred())
		e, _ := entraEnvironment(ns, env, t, accessv1alpha1.ManagementManage, []accessv1alpha1.EntraFact{accessv1alpha1.EntraSecurityGroupMembership, accessv1alpha1.EntraGroupTeamMembership}, 5)
		create(e)
		Eventually(readyReason(environment(ns, env)), "30s").Should(Equal("True"))
		tm := team(ns, "closers", env, accessv1alpha1.TeamAADSecurityGroup, func(x *accessv1alpha1.Team) {
			x.Spec.Group = closers
			x.Spec.SecurityRoles = []string{env + accessv1alpha1.BasicUserRoleSuffix}
		})
		create(tm)
		since := time.Now()
		mk := func(name string, groups ...string) *accessv1alpha1.PlatformUser {
			return user(ns, name, env, withLicense(t.sku), withRoles(env+accessv1alpha1.BasicUserRoleSuffix), func(u *accessv1alpha1.PlatformUser) {
				u.Spec.UserName, u.Spec.SecurityGroups = t.upn(name), groups
			})
		}
		m, n := mk("mia", closers), mk("ned")
		create(m, n)
		Eventually(readyReason(m), "30s").Should(Equal("True"))
		Eventually(readyReason(n), "30s").Should(Equal("True"))
		Eventually(func() []string { return t.graphWrites(since, strings.ToLower(groupID)) }, "30s").Should(ContainElements(
			"POST groups/"+groupID+"/members/$ref",
			"DELETE groups/"+groupID+"/members/"+ned+"/$ref",
		))
		Eventually(func() string { return syncedReason(tm) }, "90s").Should(Equal(accessv1alpha1.ReasonSynced), "the team is found or created by the group's object id")
		_ = mia
	})

	It("a 429 storm and a 503 after the add was made converge with no duplicate write: a throttled add is retried after its Retry-After, a lost answer is observed before anything is resent", func() {
		const env = "entra-faults"
		t := newEntraTenant(ns, 10)
		olga := t.person("olga", true)
		pete := t.person("pete", true)
		e, _ := entraEnvironment(ns, env, t, accessv1alpha1.ManagementManage, nil, 5)
		create(e)
		Eventually(readyReason(environment(ns, env)), "30s").Should(Equal("True"))
		emu.AddFault(emulator.Fault{Environment: emulator.GraphEnvironment, Method: http.MethodPost, PathContains: "members/$ref", Status: http.StatusTooManyRequests, Code: "TooManyRequests", RetryAfter: 1, Count: 3})
		DeferCleanup(emu.ClearFaults)
		since := time.Now()
		mk := func(name string) *accessv1alpha1.PlatformUser {
			return user(ns, name, env, withLicense(t.sku), withRoles(env+accessv1alpha1.BasicUserRoleSuffix), func(u *accessv1alpha1.PlatformUser) { u.Spec.UserName = t.upn(name) })
		}
		o := mk("olga")
		create(o)
		Eventually(func() string { return syncedReason(o) }, "60s").Should(Equal(accessv1alpha1.ReasonSynced))
		adds := func(from time.Time) (made, answered []int) {
			for _, r := range emulator.GraphRequests(emu.Requests()) {
				if r.Time.Before(from) || r.Method != http.MethodPost || !strings.Contains(r.Path, "members/$ref") {
					continue
				}
				answered = append(answered, r.Status)
				if r.Status == http.StatusNoContent || r.Applied == http.StatusNoContent {
					made = append(made, r.Status)
				}
			}
			return made, answered
		}
		made, answered := adds(since)
		Expect(made).To(HaveLen(1), "one add made (answers: %v)", answered)
		Expect(answered).To(ContainElement(http.StatusTooManyRequests))

		since = time.Now()
		emu.AddFault(emulator.Fault{Environment: emulator.GraphEnvironment, Method: http.MethodPost, PathContains: "members/$ref", Status: http.StatusServiceUnavailable, After: true})
		p := mk("pete")
		create(p)
		Eventually(func() string { return syncedReason(p) }, "60s").Should(Equal(accessv1alpha1.ReasonSynced))
		made, answered = adds(since)
		Expect(made).To(HaveLen(1), "the add whose answer was lost is not sent again (answers: %v)", answered)
		Expect(answered).To(Equal([]int{http.StatusServiceUnavailable}))
		Expect(*entraStatusOf(p).MemberOfSecurityGroup).To(BeTrue())
		_, _ = olga, pete
		_ = metav1.Now
	})
})
