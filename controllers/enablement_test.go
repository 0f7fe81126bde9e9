package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

func seatLedger(ns, env, sku string) (holders, waiting []string) {
	var e accessv1alpha1.Environment
	ExpectWithOffset(1, k8sClient.Get(ctx, key(ns, env), &e)).To(Succeed())
	for _, s := range e.Status.Seats {
		if s.SKU == sku {
			return ledgerNames(s.Holders), ledgerNames(s.Waiting)
		}
	}
	return nil, nil
}

func eventReasons(ns, name string) []string {
	var evs eventsv1.EventList
	ExpectWithOffset(1, k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, ev := range evs.Items {
		if ev.Regarding.Name == name {
			out = append(out, ev.Reason)
		}
	}
	return out
}

var _ = Describe("License seats", func() {
	It("LI1 EN4: more licensed users than seats wait in order; disabled users keep their seat; removing a license frees it", func() {
		ns := newNamespace()
		const env = "sales"
		create(environment(ns, env, func(e *accessv1alpha1.Environment) {
			e.Spec.SecurityGroup = "sg-sales"
			e.Spec.Licenses = []accessv1alpha1.LicenseSeats{{SKU: "PLAN1", Seats: 2}}
		}), role(ns, "seller", env))
		inGroup := func(u *accessv1alpha1.PlatformUser) { u.Spec.SecurityGroups = []string{"sg-sales"} }
		create(user(ns, "a", env, withLicense("PLAN1"), withRoles("seller"), inGroup))
		Eventually(func() []string { h, _ := seatLedger(ns, env, "PLAN1"); return h }).Should(Equal([]string{"a"}))
		create(user(ns, "b", env, withLicense("PLAN1"), withRoles("seller"), inGroup))
		Eventually(func() []string { h, _ := seatLedger(ns, env, "PLAN1"); return h }).Should(Equal([]string{"a", "b"}))
		c := user(ns, "c", env, withLicense("PLAN1"), withRoles("seller"), inGroup)
		create(c)

		Eventually(readyReason(c)).Should(Equal(accessv1alpha1.ReasonSeatsExhausted))
		Expect(stalledReason(c)).To(Equal(accessv1alpha1.ReasonSeatsExhausted))
		Expect(condition(c, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("all 2 seats of PLAN1 in environment sales are held; c@contoso.com is 1st of 1 waiting"))
		Expect(c.Status.Enabled).To(BeFalse())
		Eventually(func() []string { return eventReasons(ns, env) }).Should(ContainElement(accessv1alpha1.ReasonSeatsExhausted), "LI1: the Environment records who waits")

		By("EN4: leaving the security group disables b but it keeps its seat")
		b := &accessv1alpha1.PlatformUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "b"}}
		update(b, func(b *accessv1alpha1.PlatformUser) {
			b.Spec.SecurityGroups = nil
			b.Spec.Enabled = false
			b.Spec.SecurityRoles = nil
		})
		Eventually(readyReason(b)).Should(Equal("True"))
		Expect(b.Status.Enabled).To(BeFalse())
		Expect(condition(b, accessv1alpha1.ConditionEnabled).Reason).To(Equal(accessv1alpha1.ReasonNotInSecurityGroup))
		Expect(condition(b, accessv1alpha1.ConditionLicensed).Reason).To(Equal(accessv1alpha1.ReasonSeatHeld))
		Consistently(func() []string { h, _ := seatLedger(ns, env, "PLAN1"); return h }, "1s").Should(Equal([]string{"a", "b"}))

		By("removing b's license frees the seat for c")
		update(b, func(b *accessv1alpha1.PlatformUser) { b.Spec.License = "" })
		Eventually(func() []string { h, _ := seatLedger(ns, env, "PLAN1"); return h }).Should(Equal([]string{"a", "c"}))
		Eventually(readyReason(c)).Should(Equal("True"))
		Expect(c.Status.Enabled).To(BeTrue())
		Expect(c.Status.Access).To(Equal(accessv1alpha1.AccessFull), "AM1: ReadWrite gives full access as the roles allow")
	})

	It("LI1: seats are never taken back: lowering the seats below those held keeps every holder and stalls the Environment with SeatsBelowUsage until use falls below the offer", func() {
		ns := newNamespace()
		const env = "sales"
		create(environment(ns, env, func(e *accessv1alpha1.Environment) {
			e.Spec.Licenses = []accessv1alpha1.LicenseSeats{{SKU: "PLAN1", Seats: 3}}
		}), role(ns, "seller", env))
		for _, n := range []string{"a", "b", "c"} {
			create(user(ns, n, env, withLicense("PLAN1"), withRoles("seller")))
		}
		Eventually(func() []string { h, _ := seatLedger(ns, env, "PLAN1"); return h }).Should(Equal([]string{"a", "b", "c"}))
		e := environment(ns, env)
		Eventually(readyReason(e)).Should(Equal("True"))

		update(e, func(e *accessv1alpha1.Environment) { e.Spec.Licenses[0].Seats = 1 })
		Eventually(readyReason(e)).Should(Equal(accessv1alpha1.ReasonSeatsBelowUsage))
		Expect(stalledReason(e)).To(Equal(accessv1alpha1.ReasonSeatsBelowUsage))
		Expect(condition(e, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("PLAN1 has 3 seat(s) held and 1 offered"))
		Consistently(func() []string { h, _ := seatLedger(ns, env, "PLAN1"); return h }, "1s").Should(Equal([]string{"a", "b", "c"}), "LI1: no holder loses its seat")
		for _, n := range []string{"a", "b", "c"} {
			Expect(readyReason(platformUser(ns, n))()).To(Equal("True"), n)
		}

		By("a new licensed user waits while use is above the offer")
		create(user(ns, "d", env, withLicense("PLAN1"), withRoles("seller")))
		Eventually(readyReason(platformUser(ns, "d"))).Should(Equal(accessv1alpha1.ReasonSeatsExhausted))

		By("use falling to the offer makes the Environment Ready again, still without a grant to d")
		for _, n := range []string{"b", "c"} {
			update(platformUser(ns, n), func(u *accessv1alpha1.PlatformUser) { u.Spec.License = "" })
		}
		Eventually(readyReason(e)).Should(Equal("True"))
		Consistently(func() []string { h, _ := seatLedger(ns, env, "PLAN1"); return h }, "1s").Should(Equal([]string{"a"}))
	})
})

var _ = Describe("Enablement", func() {
	var ns string
	const env = "corp"
	BeforeEach(func() {
		ns = newNamespace()
		create(environment(ns, env, func(e *accessv1alpha1.Environment) {
			e.Spec.SecurityGroup = "sg-corp"
			e.Spec.Licenses = []accessv1alpha1.LicenseSeats{{SKU: "PLAN1", Seats: 10}}
		}), role(ns, "worker", env))
	})
	inGroup := func(u *accessv1alpha1.PlatformUser) { u.Spec.SecurityGroups = []string{"sg-corp"} }

	DescribeTable("every path that keeps a user from being enabled gives its own reason and message",
		func(mutate func(*accessv1alpha1.PlatformUser), reason, message string) {
			u := user(ns, "u", env, withLicense("PLAN1"), withRoles("worker"), inGroup, mutate)
			create(u)
			Eventually(readyReason(u)).Should(Equal(reason))
			Expect(stalledReason(u)).To(Equal(reason), "only a person can fix it")
			Expect(condition(u, accessv1alpha1.ConditionReady).Message).To(ContainSubstring(message))
			Expect(condition(u, accessv1alpha1.ConditionEnabled).Reason).To(Equal(reason))
			Expect(u.Status.Enabled).To(BeFalse())
			Expect(u.Status.Access).To(Equal(accessv1alpha1.AccessNoAccess))
		},
		Entry("EN1 sign-in blocked", func(u *accessv1alpha1.PlatformUser) { u.Spec.SignInBlocked = true },
			accessv1alpha1.ReasonSignInBlocked, "sign-in is blocked for u@contoso.com: set spec.signInBlocked to false"),
		Entry("AM2 EN1 ReadWrite user without a license", func(u *accessv1alpha1.PlatformUser) { u.Spec.License = "" },
			accessv1alpha1.ReasonUnlicensed, "ReadWrite user u@contoso.com needs a license to be enabled (AM2): set spec.license to one of PLAN1"),
		Entry("LI1 license the environment does not offer", func(u *accessv1alpha1.PlatformUser) { u.Spec.License = "PLAN9" },
			accessv1alpha1.ReasonLicenseNotOffered, "license PLAN9 is not offered by environment corp (it offers PLAN1)"),
		Entry("EN1 not a direct member of the security group", func(u *accessv1alpha1.PlatformUser) { u.Spec.SecurityGroups = []string{"sg-nested-parent"} },
			accessv1alpha1.ReasonNotInSecurityGroup, "u@contoso.com is not a direct member of security group sg-corp of environment corp (nested groups do not count): add sg-corp to spec.securityGroups"),
	)

	It("EN1: intent disabled while the user still meets every condition says StillEnabled and how to disable it", func() {
		u := user(ns, "u", env, withLicense("PLAN1"), inGroup, func(u *accessv1alpha1.PlatformUser) { u.Spec.Enabled = false })
		create(u)
		Eventually(readyReason(u)).Should(Equal(accessv1alpha1.ReasonStillEnabled))
		Expect(stalledReason(u)).To(Equal(accessv1alpha1.ReasonStillEnabled))
		Expect(condition(u, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("spec.enabled is false but u@contoso.com still meets every condition of an enabled user (EN1): to disable it, remove sg-corp from spec.securityGroups"))
		Expect(u.Status.Enabled).To(BeTrue())
	})

	It("AM3 AM4: Administrative users need no license and reach settings only", func() {
		u := user(ns, "admin", env, inGroup, withRoles("worker"), func(u *accessv1alpha1.PlatformUser) { u.Spec.AccessMode = accessv1alpha1.AccessModeAdministrative })
		create(u)
		Eventually(readyReason(u)).Should(Equal("True"))
		Expect(u.Status.Enabled).To(BeTrue())
		Expect(u.Status.Access).To(Equal(accessv1alpha1.AccessSettingsOnly))
		Expect(condition(u, accessv1alpha1.ConditionLicensed).Reason).To(Equal(accessv1alpha1.ReasonLicenseNotNeeded))
	})

	It("EN5: an enabled user with no role cannot get in, and the message points to the security group", func() {
		u := user(ns, "u", env, withLicense("PLAN1"), inGroup)
		create(u)
		Eventually(readyReason(u)).Should(Equal(accessv1alpha1.ReasonNoSecurityRole))
		Expect(stalledReason(u)).To(Equal(accessv1alpha1.ReasonNoSecurityRole))
		Expect(condition(u, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("to remove access, remove sg-corp from spec.securityGroups instead of removing its roles"))
		Expect(u.Status.Access).To(Equal(accessv1alpha1.AccessNoAccess))
		Expect(checkAccess(ns, "u").Access).To(Equal(u.Status.Access), "AM4: check-access and status.access give one answer for an enabled user with no role")
	})

	It("EN6: a user disabled the recommended way (leaving the security group) keeps its roles and stays Ready; only a role added while it is disabled is refused", func() {
		create(role(ns, "extra", env))
		u := user(ns, "u", env, withLicense("PLAN1"), withRoles("worker"), inGroup)
		create(u)
		Eventually(readyReason(u)).Should(Equal("True"))
		Expect(u.Status.AssignedRoles).To(Equal([]string{"worker"}))

		update(u, func(u *accessv1alpha1.PlatformUser) { u.Spec.SecurityGroups, u.Spec.Enabled = nil, false })
		Eventually(func() bool { _ = readyReason(u)(); return u.Status.Enabled }).Should(BeFalse())
		Eventually(readyReason(u)).Should(Equal("True"), "EN6: disabled as intended, its roles kept")
		Expect(u.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: "worker", RoleName: "worker", Source: "Direct"}))
		Expect(condition(u, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("keeps its 1 assigned role(s)"))

		update(u, func(u *accessv1alpha1.PlatformUser) { u.Spec.SecurityRoles = []string{"worker", "extra"} })
		Eventually(readyReason(u)).Should(Equal(accessv1alpha1.ReasonRoleAssignmentToDisabledUser))
		Expect(stalledReason(u)).To(Equal(accessv1alpha1.ReasonRoleAssignmentToDisabledUser))
		Expect(condition(u, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("so extra cannot be assigned (EN6); the roles assigned before it was disabled (worker) stay assigned"))
		Expect(u.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: "worker", RoleName: "worker", Source: "Direct"}), "the other roles stay assigned")
	})

	It("EN6: roles on a disabled user are refused unless the environment allows it", func() {
		u := user(ns, "u", env, withLicense("PLAN1"), withRoles("worker"), func(u *accessv1alpha1.PlatformUser) { u.Spec.Enabled = false })
		create(u)
		Eventually(readyReason(u)).Should(Equal(accessv1alpha1.ReasonRoleAssignmentToDisabledUser))
		Expect(condition(u, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("allowRoleAssignmentOnDisabledUsers"))

		update(environment(ns, env), func(e *accessv1alpha1.Environment) { e.Spec.Settings.AllowRoleAssignmentOnDisabledUsers = true })
		Eventually(func() string {
			c := condition(u, accessv1alpha1.ConditionReady)
			if c == nil {
				return ""
			}
			return string(c.Status)
		}).Should(Equal("True"))
		Expect(u.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: "worker", RoleName: "worker", Source: "Direct"}))
	})

	It("EN7: enabling a user that was enabled before and then disabled records that it needs a new invitation; a new user's first enablement does not", func() {
		u := user(ns, "u", env, withLicense("PLAN1"), withRoles("worker"), func(u *accessv1alpha1.PlatformUser) { u.Spec.Enabled = false })
		create(u)
		Eventually(readyReason(u)).Should(Equal(accessv1alpha1.ReasonRoleAssignmentToDisabledUser))
		update(u, func(u *accessv1alpha1.PlatformUser) {
			u.Spec.Enabled = true
			u.Spec.SecurityGroups = []string{"sg-corp"}
		})
		Eventually(readyReason(u)).Should(Equal("True"))
		Expect(u.Status.FirstEnabledTime).NotTo(BeNil())
		Consistently(func() []string { return eventReasons(ns, "u") }, "1s").ShouldNot(ContainElement("Enabled"), "EN7: a first enablement needs no re-invitation")

		update(u, func(u *accessv1alpha1.PlatformUser) { u.Spec.Enabled, u.Spec.SecurityGroups = false, nil })
		Eventually(func() bool { _ = readyReason(u)(); return u.Status.Enabled }).Should(BeFalse())
		update(u, func(u *accessv1alpha1.PlatformUser) {
			u.Spec.Enabled, u.Spec.SecurityGroups = true, []string{"sg-corp"}
		})
		Eventually(readyReason(u)).Should(Equal("True"))
		Eventually(func() []string { return eventReasons(ns, "u") }).Should(ContainElement("Enabled"), "EN7: enabled again")
	})

	It("AM7: an ApplicationUser needs no license and disabling it records a Warning that integrations break", func() {
		app := &accessv1alpha1.ApplicationUser{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "erp"},
			Spec: accessv1alpha1.ApplicationUserSpec{EnvironmentName: env, Enabled: true, SecurityRoles: []string{"worker"},
				ApplicationID: "11111111-2222-4333-8444-555555555555"},
		}
		create(app)
		Eventually(readyReason(app)).Should(Equal("True"))
		Expect(app.Status.Enabled).To(BeTrue(), "enabled on creation")
		update(app, func(a *accessv1alpha1.ApplicationUser) {
			a.Spec.Enabled = false
			a.Spec.SecurityRoles = nil
		})
		Eventually(readyReason(app)).Should(Equal("True"))
		Expect(app.Status.Enabled).To(BeFalse())
		Eventually(func() []string { return eventReasons(ns, "erp") }).Should(ContainElement("ApplicationUserDisabled"))
	})

	It("duplicate userName and applicationId: the older object keeps it, the newer is refused in its condition", func() {
		first := user(ns, "first", env, withLicense("PLAN1"), withRoles("worker"), inGroup)
		create(first)
		Eventually(readyReason(first)).Should(Equal("True"))
		second := user(ns, "second", env, withLicense("PLAN1"), withRoles("worker"), inGroup, func(u *accessv1alpha1.PlatformUser) { u.Spec.UserName = "First@contoso.com" })
		create(second)
		Eventually(readyReason(second)).Should(Equal(accessv1alpha1.ReasonDuplicateUserName))
		Expect(condition(second, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("PlatformUser first already has userName First@contoso.com in environment corp"))
		Expect(readyReason(first)()).To(Equal("True"))

		By("deleting the older object lets the newer take the name")
		Expect(k8sClient.Delete(ctx, first)).To(Succeed())
		Eventually(readyReason(second)).Should(Equal("True"))

		appID := "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee"
		a1 := &accessv1alpha1.ApplicationUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-1"},
			Spec: accessv1alpha1.ApplicationUserSpec{EnvironmentName: env, Enabled: true, ApplicationID: appID, SecurityRoles: []string{"worker"}}}
		create(a1)
		Eventually(readyReason(a1)).Should(Equal("True"))
		a2 := a1.DeepCopy()
		a2.ObjectMeta = metav1.ObjectMeta{Namespace: ns, Name: "app-2"}
		a2.Spec.ApplicationID = "AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE"
		create(a2)
		Eventually(readyReason(a2)).Should(Equal(accessv1alpha1.ReasonDuplicateApplicationID))
	})
})

var _ = Describe("Environment", func() {
	It("EV3: a user of a missing environment says so, and converges when the environment appears", func() {
		ns := newNamespace()
		u := user(ns, "early", "later", withLicense("PLAN1"), withRoles("r"))
		create(u)
		Eventually(readyReason(u)).Should(Equal(accessv1alpha1.ReasonEnvironmentNotFound))
		Expect(stalledReason(u)).To(Equal(accessv1alpha1.ReasonEnvironmentNotFound))
		Expect(condition(u, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("Environment later does not exist in namespace " + ns + ": create it, or correct spec.environmentName"))
		create(environment(ns, "later"), role(ns, "r", "later"))
		Eventually(readyReason(u)).Should(Equal("True"))
	})

	It("EV3: an unknown business unit is named in the condition", func() {
		ns := newNamespace()
		create(environment(ns, "e"), role(ns, "r", "e"))
		u := user(ns, "u", "e", withLicense("PLAN1"), withRoles("r"), func(u *accessv1alpha1.PlatformUser) { u.Spec.BusinessUnit = "nowhere" })
		create(u)
		Eventually(readyReason(u)).Should(Equal(accessv1alpha1.ReasonBusinessUnitNotFound))
		Expect(condition(u, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("business unit nowhere of PlatformUser u is not in environment e's spec.businessUnits"))
	})

	It("EV2: a business-unit cycle that admission cannot see is Stalled with BusinessUnitCycle", func() {
		ns := newNamespace()
		e := environment(ns, "e", func(e *accessv1alpha1.Environment) {
			e.Spec.BusinessUnits = []accessv1alpha1.BusinessUnit{{Name: "root"}, {Name: "a", Parent: "b"}, {Name: "b", Parent: "a"}}
		})
		create(e)
		Eventually(readyReason(e)).Should(Equal(accessv1alpha1.ReasonBusinessUnitCycle))
		Expect(stalledReason(e)).To(Equal(accessv1alpha1.ReasonBusinessUnitCycle))
		Expect(condition(e, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("business units form a cycle: a -> b -> a"))
	})

	It("EV4: deleting an Environment waits for its dependents and says what it waits for", func() {
		ns := newNamespace()
		e := environment(ns, "e")
		create(e, role(ns, "r", "e"))
		u := user(ns, "u", "e", withLicense("PLAN1"), withRoles("r"))
		create(u)
		Eventually(readyReason(e)).Should(Equal("True"))
		Eventually(func() int {
			var roles accessv1alpha1.SecurityRoleList
			Expect(k8sClient.List(ctx, &roles, client.InNamespace(ns))).To(Succeed())
			return len(roles.Items)
		}).Should(Equal(4), "the custom role and three built-in roles")

		Expect(k8sClient.Delete(ctx, e)).To(Succeed())
		Eventually(readyReason(e)).Should(Equal(accessv1alpha1.ReasonDeletionBlocked))
		Expect(condition(e, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("waits for 1 PlatformUser(s), 1 SecurityRole(s)"))
		Consistently(func() error { return k8sClient.Get(ctx, key(ns, "e"), &accessv1alpha1.Environment{}) }, "1s").Should(Succeed())

		Expect(k8sClient.Delete(ctx, u)).To(Succeed())
		Expect(k8sClient.Delete(ctx, role(ns, "r", "e"))).To(Succeed())
		Eventually(func() bool {
			err := k8sClient.Get(ctx, key(ns, "e"), &accessv1alpha1.Environment{})
			return client.IgnoreNotFound(err) == nil && err != nil
		}).Should(BeTrue(), "the environment goes once nothing references it")
		Eventually(func() int {
			var roles accessv1alpha1.SecurityRoleList
			Expect(k8sClient.List(ctx, &roles, client.InNamespace(ns))).To(Succeed())
			return len(roles.Items)
		}).Should(Equal(0), "its built-in roles go with it")
	})
})
