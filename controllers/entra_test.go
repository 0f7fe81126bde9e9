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

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

// The specs of docs/design.md's "Entra ID target": the operator observes the Entra ID facts that
// decide enablement (EN1) through the emulator's Microsoft Graph and, under Manage, writes only
// what spec.entra.manage lists. Every spec has its own people, groups and SKU in the emulator's
// one tenant directory (names carry the namespace).

// entraTenant is one spec's part of the tenant directory.
type entraTenant struct {
	ns      string
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
	return strings.ToLower(id)
}

// graphWrites are the Graph writes logged since a time, as "METHOD path" with the group and user
// ids as they were sent, sorted.
func graphWrites(since time.Time) []string {
	var out []string
	for _, r := range emulator.Writes(emulator.GraphRequests(emu.Requests())) {
		if r.Time.Before(since) {
			continue
		}
		p, _, _ := strings.Cut(r.Path, "?")
		out = append(out, r.Method+" "+strings.TrimPrefix(p, "/graph/v1.0/"))
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
		create(a, b)
		Eventually(readyReason(a), "30s").Should(Equal("True"))
		c := mk("carol", true) // the two seats are held: alice's and bob's (EN4: kept while disabled)
		create(c)
		Eventually(readyReason(b), "30s").Should(Equal("True"))
		Eventually(readyReason(c), "30s").Should(Equal(accessv1alpha1.ReasonSeatsExhausted))

		Expect(syncedCondition(a)).To(Equal(accessv1alpha1.ReasonSynced))
		Eventually(func() string { return syncedCondition(b) }, "30s").Should(Equal(accessv1alpha1.ReasonSynced))
		Expect(graphWrites(since)).To(Equal([]string{
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
		Expect(syncedCondition(a)).NotTo(Equal(accessv1alpha1.ReasonEnablementDrift))

		Eventually(func(g Gomega) {
			var got accessv1alpha1.Environment
			g.Expect(k8sClient.Get(ctx, key(ns, env), &got)).To(Succeed())
			g.Expect(got.Status.Entra).NotTo(BeNil())
			g.Expect(got.Status.Entra.SecurityGroupID).To(Equal(t.groupID))
			g.Expect(got.Status.Entra.UnmanagedMembers).To(Equal(&accessv1alpha1.UnmanagedMembers{Count: 1, First: []string{t.upn("dave")}}))
			g.Expect(got.Status.Entra.Skus).To(ContainElement(accessv1alpha1.TenantSku{SkuPartNumber: t.sku, Enabled: 10, Consumed: 4}))
		}, "30s").Should(Succeed())
		Expect(emu.RemoveGroupMember(t.groupID, dave)).To(Succeed()) // keep the directory tidy for later specs
		_ = http.MethodGet
		_ = metav1.Now
	})
})
