package controllers_test

import (
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

var dvEnvs atomic.Int32

// syncedEnvironment adds a fresh emulated Dataverse environment and returns an Environment that
// targets it, with its credentials Secret created in ns.
func syncedEnvironment(ns, name string, policy accessv1alpha1.ManagementPolicy, mutate ...func(*accessv1alpha1.Environment)) (*accessv1alpha1.Environment, string) {
	dvName := fmt.Sprintf("org%d", dvEnvs.Add(1))
	emu.AddEnvironment(emulator.EnvironmentConfig{Name: dvName, OrganizationName: "Contoso " + dvName})
	create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-dataverse"},
		StringData: map[string]string{"tenantId": "t", "clientId": emulator.OperatorApplicationID, "clientSecret": "s"}})
	// The suite's other specs count reconciles across namespaces: once this spec ends, its
	// environment stops targeting Dataverse so its objects stop their periodic re-syncs.
	DeferCleanup(func() {
		Eventually(func() error {
			var e accessv1alpha1.Environment
			if err := k8sClient.Get(ctx, key(ns, name), &e); err != nil {
				return client.IgnoreNotFound(err)
			}
			e.Spec.Dataverse = nil
			return k8sClient.Update(ctx, &e)
		}).Should(Succeed())
	})
	e := environment(ns, name, append([]func(*accessv1alpha1.Environment){func(e *accessv1alpha1.Environment) {
		e.Spec.Dataverse = &accessv1alpha1.DataverseTarget{
			URL: dataverseURL(dvName), EnvironmentID: emu.EnvironmentID(dvName),
			CredentialsSecretRef: accessv1alpha1.SecretReference{Name: name + "-dataverse"},
			ManagementPolicy:     policy,
		}
	}}, mutate...)...)
	return e, dvName
}

func dumpOf(dvName string) emulator.EnvironmentDump {
	for _, e := range emu.Dump().Environments {
		if e.Name == dvName {
			return e
		}
	}
	Fail("no emulated environment " + dvName)
	return emulator.EnvironmentDump{}
}

func recordNamed(records []map[string]any, field, value string) map[string]any {
	for _, r := range records {
		if fmt.Sprint(r[field]) == value {
			return r
		}
	}
	return nil
}

func writesTo(dvName string) []string {
	var out []string
	for _, r := range emulator.Writes(emu.Requests()) {
		if r.Environment == dvName {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	sort.Strings(out)
	return out
}

var _ = Describe("Sync target", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("Synced: a fresh environment ends with exactly the decided records: units, a role's privileges, a user's access mode, unit and roles, an application user, a team's members and roles", func() {
		const env = "corp"
		objectID := "0b9f3a1e-5c7d-4e2f-8a6b-1c2d3e4f5a6b"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage, func(e *accessv1alpha1.Environment) {
			e.Spec.BusinessUnits = []accessv1alpha1.BusinessUnit{{Name: "hq"}, {Name: "sales", Parent: "hq"}}
		})
		Expect(emu.SetEntraUser(dv, emulator.EntraUser{ObjectID: objectID, UPN: "ada@contoso.com", Licensed: true})).To(Succeed())
		create(e,
			role(ns, "seller", env, func(r *accessv1alpha1.SecurityRole) {
				r.Spec.RoleName = "Seller"
				r.Spec.BusinessUnit = "sales"
				r.Spec.MiscellaneousPrivileges = []accessv1alpha1.NamedPrivilege{{Name: "ExportToExcel", Level: accessv1alpha1.AccessOrganization}}
			}),
			user(ns, "ada", env, withLicense("PLAN1"), withRoles("seller"), func(u *accessv1alpha1.PlatformUser) {
				u.Spec.BusinessUnit = "sales"
				u.Spec.EntraObjectID = objectID
			}),
			&accessv1alpha1.ApplicationUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "erp"},
				Spec: accessv1alpha1.ApplicationUserSpec{EnvironmentName: env, Enabled: true, BusinessUnit: "sales", SecurityRoles: []string{"seller"},
					ApplicationID: "11111111-2222-4333-8444-555555555555"}},
			&accessv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "closers"},
				Spec: accessv1alpha1.TeamSpec{EnvironmentName: env, Type: accessv1alpha1.TeamOwner, BusinessUnit: "sales",
					Members: []string{"ada"}, SecurityRoles: []string{"seller"}}},
		)
		ada := platformUser(ns, "ada")
		Eventually(readyReason(environment(ns, env)), "60s").Should(Equal("True"))
		Eventually(readyReason(securityRole(ns, "seller")), "60s").Should(Equal("True"))
		Eventually(readyReason(ada), "90s").Should(Equal("True"))
		Expect(conditionOf(ada, accessv1alpha1.ConditionSynced)()).To(Equal("True/" + accessv1alpha1.ReasonSynced))
		app := &accessv1alpha1.ApplicationUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "erp"}}
		Eventually(readyReason(app), "60s").Should(Equal("True"))
		team := &accessv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "closers"}}
		Eventually(readyReason(team), "60s").Should(Equal("True"))

		d := dumpOf(dv)
		root := recordNamed(d.BusinessUnits, "name", "Contoso "+dv)
		Expect(root).NotTo(BeNil(), "the organization's root unit is adopted as hq")
		sales := recordNamed(d.BusinessUnits, "name", "sales")
		Expect(sales).NotTo(BeNil(), "the declared unit is created")
		Expect(sales["_parentbusinessunitid_value"]).To(Equal(root["businessunitid"]))

		seller := recordNamed(d.Roles, "name", "Seller")
		Expect(seller).NotTo(BeNil())
		Expect(seller["_businessunitid_value"]).To(Equal(sales["businessunitid"]))
		sellerRole := securityRole(ns, "seller")
		Expect(k8sClient.Get(ctx, key(ns, "seller"), sellerRole)).To(Succeed())
		Expect(sellerRole.Status.Dataverse.ID).To(Equal(seller["roleid"]))

		adaRec := recordNamed(d.Users, "domainname", "ada@contoso.com")
		Expect(adaRec).NotTo(BeNil(), "added from Entra ID")
		Expect(adaRec["accessmode"]).To(BeEquivalentTo(0))
		Expect(adaRec["_businessunitid_value"]).To(Equal(sales["businessunitid"]))
		Expect(ada.Status.Dataverse.ID).To(Equal(adaRec["systemuserid"]))
		Expect(*ada.Status.Dataverse.IsDisabled).To(BeFalse())

		appRec := recordNamed(d.Users, "applicationid", "11111111-2222-4333-8444-555555555555")
		Expect(appRec).NotTo(BeNil(), "created with the Web API")
		Expect(appRec["isdisabled"]).To(BeFalse())

		teamRec := recordNamed(d.Teams, "name", "closers")
		Expect(teamRec).NotTo(BeNil())
		Expect(teamRec["teamtype"]).To(BeEquivalentTo(0))
		fmt.Fprintf(GinkgoWriter, "dump: users %v\nroles %v\nteams %v\n", d.Users, d.Roles, d.Teams)

		By("nothing is written once converged")
		before := len(writesTo(dv))
		Consistently(func() int { return len(writesTo(dv)) }, "3s").Should(Equal(before))
	})

	It("Synced Drifted: managementPolicy Observe reports every difference and writes nothing", func() {
		const env = "watch"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementObserve, func(e *accessv1alpha1.Environment) {
			e.Spec.BusinessUnits = []accessv1alpha1.BusinessUnit{{Name: "hq"}, {Name: "sales", Parent: "hq"}}
		})
		create(e, role(ns, "seller", env))
		env0 := environment(ns, env)
		Eventually(readyReason(env0), "60s").Should(Equal(accessv1alpha1.ReasonDrifted))
		Expect(stalledReason(env0)).To(Equal(accessv1alpha1.ReasonDrifted))
		Expect(condition(env0, accessv1alpha1.ConditionSynced).Message).To(ContainSubstring("business unit sales missing"))
		r := securityRole(ns, "seller")
		Eventually(readyReason(r), "60s").Should(Equal(accessv1alpha1.ReasonDrifted))
		Expect(condition(r, accessv1alpha1.ConditionSynced).Message).To(ContainSubstring("role missing"))
		Expect(writesTo(dv)).To(BeEmpty(), "Observe writes nothing")
	})
})

var _ = Describe("Sync target: throttling is the Environment's state", func() {
	It("Throttled: when one of its objects is throttled, the Environment says Throttled with the time requests resume, and is Synced again after it", func() {
		ns := newNamespace()
		const env = "busy"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage)
		create(e)
		Eventually(readyReason(environment(ns, env)), "30s").Should(Equal("True"))
		// The built-in roles sync after their environment: let them finish, so the 429s below
		// are all met by the new role.
		for _, name := range []string{env + "-system-administrator", env + "-basic-user", env + "-salesperson"} {
			Eventually(conditionOf(securityRole(ns, name), accessv1alpha1.ConditionSynced), "30s").Should(Equal("True/"+accessv1alpha1.ReasonSynced), name)
		}

		// More 429s than the client retries, on the role's lookups only: the role's sync is Throttled.
		emu.AddFault(emulator.Fault{Environment: dv, Method: "GET", PathContains: "roles", Status: 429, Code: "0x80072322", Count: 9, RetryAfter: 1,
			Message: "Number of requests exceeded the limit of 6000 over time window of 300 seconds."})
		DeferCleanup(emu.ClearFaults)
		create(role(ns, "seller", env))
		Eventually(conditionOf(securityRole(ns, "seller"), accessv1alpha1.ConditionSynced), "20s", "50ms").Should(Equal("False/" + accessv1alpha1.ReasonThrottled))
		Eventually(conditionOf(environment(ns, env), accessv1alpha1.ConditionSynced), "20s", "50ms").Should(Equal("False/" + accessv1alpha1.ReasonThrottled))
		Expect(condition(environment(ns, env), accessv1alpha1.ConditionSynced).Message).To(ContainSubstring("requests to environment busy resume at"))
		Expect(stalledReason(environment(ns, env))).To(BeEmpty(), "throttling passes by itself: not Stalled")

		Eventually(conditionOf(environment(ns, env), accessv1alpha1.ConditionSynced), "30s").Should(Equal("True/" + accessv1alpha1.ReasonSynced))
		Eventually(readyReason(securityRole(ns, "seller")), "30s").Should(Equal("True"))
	})

	// Issue 21: conditions never flap. A re-check held back by throttling (or the operator's
	// spent budget) says nothing new about Dataverse: an object in place stays Synced and Ready,
	// and only its Environment says Throttled.
	It("Throttled re-check: an object already Synced stays Synced and Ready while its periodic re-check is throttled; the Environment says Throttled", func() {
		ns := newNamespace()
		const env = "steady"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage, func(e *accessv1alpha1.Environment) {
			e.Spec.Dataverse.SyncInterval = &metav1.Duration{Duration: 3 * time.Second}
		})
		create(e, role(ns, "seller", env))
		Eventually(readyReason(securityRole(ns, "seller")), "60s").Should(Equal("True"))
		Expect(conditionOf(securityRole(ns, "seller"), accessv1alpha1.ConditionSynced)()).To(Equal("True/" + accessv1alpha1.ReasonSynced))

		// Every read answered 429 for longer than the client retries, over several intervals.
		emu.AddFault(emulator.Fault{Environment: dv, Method: "GET", Status: 429, Code: "0x80072322", Count: 1000, RetryAfter: 1,
			Message: "Number of requests exceeded the limit of 6000 over time window of 300 seconds."})
		DeferCleanup(emu.ClearFaults)
		Eventually(conditionOf(environment(ns, env), accessv1alpha1.ConditionSynced), "20s", "50ms").Should(Equal("False/" + accessv1alpha1.ReasonThrottled))
		Consistently(conditionOf(securityRole(ns, "seller"), accessv1alpha1.ConditionSynced), "8s", "50ms").Should(Equal("True/"+accessv1alpha1.ReasonSynced),
			"a throttled re-check flipped an object that is in place")
		Expect(readyReason(securityRole(ns, "seller"))()).To(Equal("True"))
	})
})
