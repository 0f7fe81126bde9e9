package controllers_test

import (
	"bytes"
	"encoding/json"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/checkaccess"
)

// salesTree is a business-unit tree: hq at the root, sales and service below it, emea below sales.
func salesTree(e *accessv1alpha1.Environment) {
	e.Spec.BusinessUnits = []accessv1alpha1.BusinessUnit{
		{Name: "hq"}, {Name: "sales", Parent: "hq"}, {Name: "service", Parent: "hq"}, {Name: "emea", Parent: "sales"},
	}
}

func withSecurityGroup(group string) func(*accessv1alpha1.Environment) {
	return func(e *accessv1alpha1.Environment) { e.Spec.SecurityGroup = group }
}

func userUnit(bu string) func(*accessv1alpha1.PlatformUser) {
	return func(u *accessv1alpha1.PlatformUser) { u.Spec.BusinessUnit = bu }
}

func withGroups(groups ...string) func(*accessv1alpha1.PlatformUser) {
	return func(u *accessv1alpha1.PlatformUser) { u.Spec.SecurityGroups = groups }
}

func roleUnit(bu string) func(*accessv1alpha1.SecurityRole) {
	return func(r *accessv1alpha1.SecurityRole) { r.Spec.BusinessUnit = bu }
}

func roleNamed(name string) func(*accessv1alpha1.SecurityRole) {
	return func(r *accessv1alpha1.SecurityRole) { r.Spec.RoleName = name }
}

func roleTables(tables ...accessv1alpha1.TablePermission) func(*accessv1alpha1.SecurityRole) {
	return func(r *accessv1alpha1.SecurityRole) { r.Spec.Tables = tables }
}

// customTable is a Custom table permission with explicit privileges.
func customTable(table string, p accessv1alpha1.TablePrivileges) accessv1alpha1.TablePermission {
	return accessv1alpha1.TablePermission{Table: table, PermissionSetting: accessv1alpha1.PermissionCustom, Privileges: &p}
}

// webresourceRead is what every role needs so forms work (SR8).
var webresourceRead = accessv1alpha1.TablePermission{Table: "webresource", Ownership: accessv1alpha1.OwnershipOrganization, PermissionSetting: accessv1alpha1.PermissionReference}

func platformUser(ns, name string) *accessv1alpha1.PlatformUser {
	return &accessv1alpha1.PlatformUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func securityRole(ns, name string) *accessv1alpha1.SecurityRole {
	return &accessv1alpha1.SecurityRole{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

// effectiveRolesOf reads a user's status.effectiveRoles.
func effectiveRolesOf(u *accessv1alpha1.PlatformUser) func() []accessv1alpha1.EffectiveRole {
	return func() []accessv1alpha1.EffectiveRole {
		ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(u), u)).To(Succeed())
		return u.Status.EffectiveRoles
	}
}

// conditionOf waits for nothing: it reads the object and returns "<status>/<reason>" of the
// condition, or "<pending>" while the condition does not describe the current generation.
func conditionOf(obj client.Object, condType string) func() string {
	return func() string {
		c := condition(obj, condType)
		if c == nil || c.ObservedGeneration != obj.GetGeneration() {
			return "<pending>"
		}
		return string(c.Status) + "/" + c.Reason
	}
}

// checkAccess runs the check-access command against the real cluster and decodes its JSON.
func checkAccess(ns, name string) checkaccess.Report {
	var out bytes.Buffer
	ExpectWithOffset(1, checkaccess.Run(ctx, k8sClient, checkaccess.Options{Namespace: ns, User: name, Output: checkaccess.OutputJSON}, &out)).To(Succeed())
	var rep checkaccess.Report
	ExpectWithOffset(1, json.Unmarshal(out.Bytes(), &rep)).To(Succeed(), out.String())
	return rep
}

func privilegeOf(rep checkaccess.Report, table string, p access.Privilege) access.PrivilegeAccess {
	ta, _ := rep.Lookup(table)
	return ta.Privilege(p)
}

// updateErr reads obj, applies mutate and returns the error of updating it, read and tried again
// on a conflict, so a refusal at admission is not hidden by a concurrent status write.
func updateErr[T client.Object](obj T, mutate func(T)) error {
	var err error
	EventuallyWithOffset(1, func() bool {
		if err = k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return true
		}
		mutate(obj)
		err = k8sClient.Update(ctx, obj)
		return !apierrors.IsConflict(err)
	}).Should(BeTrue())
	return err
}

// reconcileTotal is controller-runtime's controller_runtime_reconcile_total for one controller,
// summed over results.
func reconcileTotal(controllerName string) float64 {
	families, err := metrics.Registry.Gather()
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	var sum float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == controllerName {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// settledReconcileTotal waits until the controller's reconcile count stays the same for a
// second, whatever other namespaces are still doing, and returns it.
func settledReconcileTotal(controllerName string) float64 {
	var n float64
	EventuallyWithOffset(1, func(g Gomega) {
		n = reconcileTotal(controllerName)
		g.Consistently(func() float64 { return reconcileTotal(controllerName) }, "1s", "50ms").Should(Equal(n))
	}, "90s").Should(Succeed())
	return n
}

var _ = Describe("Security roles", func() {
	const env = "contoso"
	var ns string

	BeforeEach(func() { ns = newNamespace() })

	It("SR6: a role granting Delete and another granting Write add up: both Direct in effectiveRoles, check-access shows each privilege at the highest level", func() {
		create(environment(ns, env),
			role(ns, "deleter", env, roleNamed("Account Deleter"), roleTables(webresourceRead,
				customTable("account", accessv1alpha1.TablePrivileges{Delete: accessv1alpha1.AccessOrganization, Write: accessv1alpha1.AccessUser}))),
			role(ns, "writer", env, roleNamed("Account Writer"), roleTables(
				customTable("account", accessv1alpha1.TablePrivileges{Write: accessv1alpha1.AccessBusinessUnit, Read: accessv1alpha1.AccessBasic}))),
			user(ns, "ada", env, withLicense("PLAN1"), withRoles("deleter", "writer")))
		ada := platformUser(ns, "ada")
		Eventually(readyReason(ada)).Should(Equal("True"))
		Expect(ada.Status.EffectiveRoles).To(ConsistOf(
			accessv1alpha1.EffectiveRole{Name: "deleter", RoleName: "Account Deleter", Source: string(accessv1alpha1.RoleSourceDirect)},
			accessv1alpha1.EffectiveRole{Name: "writer", RoleName: "Account Writer", Source: string(accessv1alpha1.RoleSourceDirect)},
		))
		Expect(ada.Status.Access).To(Equal(accessv1alpha1.AccessFull))

		rep := checkAccess(ns, "ada")
		Expect(rep.Kind).To(Equal("PlatformUser"))
		Expect(rep.Environment).To(Equal(env))
		Expect(rep.Access).To(Equal(accessv1alpha1.AccessFull))

		del := privilegeOf(rep, "account", access.Delete)
		Expect(del.Level).To(Equal(accessv1alpha1.AccessOrganization), "SR6: Delete comes from deleter")
		Expect(del.Grants).To(HaveLen(1))
		Expect(del.Grants[0].Role).To(Equal("deleter"))
		Expect(del.Grants[0].Source).To(Equal("Direct"))

		write := privilegeOf(rep, "account", access.Write)
		Expect(write.Level).To(Equal(accessv1alpha1.AccessBusinessUnit), "SR6: the highest of User (deleter) and BusinessUnit (writer)")
		Expect(write.Grants).To(HaveLen(2))
		Expect(write.Grants[0].Role).To(Equal("writer"), "highest grant first")
		Expect(write.Grants[0].Level).To(Equal(accessv1alpha1.AccessBusinessUnit))
		Expect(write.Grants[1].Role).To(Equal("deleter"))
		Expect(write.Grants[1].Level).To(Equal(accessv1alpha1.AccessUser))

		Expect(privilegeOf(rep, "account", access.Read).Level).To(Equal(accessv1alpha1.AccessUser), "SR2: legacy Basic shows as User")
		Expect(privilegeOf(rep, "account", access.Create).Level).To(Equal(accessv1alpha1.AccessNone), "neither role grants Create")
		Expect(privilegeOf(rep, "webresource", access.Read).Level).To(Equal(accessv1alpha1.AccessOrganization))
	})

	It("SR5: a role of a sibling or a child business unit is refused with RoleNotInBusinessUnit (Stalled); roles of the user's own and parent units are fine", func() {
		create(environment(ns, env, salesTree),
			role(ns, "service-role", env, roleUnit("service")),
			role(ns, "emea-role", env, roleUnit("emea")),
			role(ns, "sales-role", env, roleUnit("sales")),
			role(ns, "hq-role", env, roleUnit("hq")),
			role(ns, "root-role", env), // no unit: the root, hq
			user(ns, "sibling", env, withLicense("PLAN1"), userUnit("sales"), withRoles("sales-role", "service-role")),
			user(ns, "child", env, withLicense("PLAN1"), userUnit("sales"), withRoles("emea-role")),
			user(ns, "fine", env, withLicense("PLAN1"), userUnit("sales"), withRoles("sales-role", "hq-role", "root-role")))

		for _, c := range []struct{ user, role, unit string }{{"sibling", "service-role", "service"}, {"child", "emea-role", "emea"}} {
			u := platformUser(ns, c.user)
			Eventually(readyReason(u)).Should(Equal(accessv1alpha1.ReasonRoleNotInBusinessUnit), c.user)
			Expect(stalledReason(u)).To(Equal(accessv1alpha1.ReasonRoleNotInBusinessUnit), c.user)
			msg := condition(u, accessv1alpha1.ConditionReady).Message
			Expect(msg).To(ContainSubstring("SecurityRole " + c.role))
			Expect(msg).To(ContainSubstring("business unit " + c.unit))
			Expect(msg).To(ContainSubstring("unit sales"))
			Expect(msg).To(ContainSubstring("SR5"))
			Expect(conditionOf(u, accessv1alpha1.ConditionRolesAssigned)()).To(Equal("False/" + accessv1alpha1.ReasonRoleNotInBusinessUnit))
			for _, r := range u.Status.EffectiveRoles {
				Expect(r.Name).NotTo(Equal(c.role), "a refused role is not effective")
			}
		}

		fine := platformUser(ns, "fine")
		Eventually(readyReason(fine)).Should(Equal("True"))
		Expect(stalledReason(fine)).To(BeEmpty())
		Expect(fine.Status.EffectiveRoles).To(HaveLen(3))

		By("moving the sibling unit's role up to hq makes it available to the user that holds it")
		update(securityRole(ns, "service-role"), func(r *accessv1alpha1.SecurityRole) { r.Spec.BusinessUnit = "hq" })
		sibling := platformUser(ns, "sibling")
		Eventually(readyReason(sibling)).Should(Equal("True"))
		Expect(stalledReason(sibling)).To(BeEmpty())
		Expect(sibling.Status.EffectiveRoles).To(HaveLen(2))

		By("moving the child-unit user down to emea makes its role available")
		child := platformUser(ns, "child")
		update(child, func(u *accessv1alpha1.PlatformUser) { u.Spec.BusinessUnit = "emea" })
		Eventually(readyReason(child)).Should(Equal("True"))
		Expect(stalledReason(child)).To(BeEmpty())
	})

	It("SR8: a role without Read on webresource has WebResourceReadable False (MissingPrvReadWebResource), stays Ready and usable by its holders", func() {
		create(environment(ns, env),
			role(ns, "no-forms", env, roleTables(accessv1alpha1.TablePermission{Table: "account", PermissionSetting: accessv1alpha1.PermissionCollaborate})),
			role(ns, "with-forms", env),
			user(ns, "ada", env, withLicense("PLAN1"), withRoles("no-forms")))
		noForms := securityRole(ns, "no-forms")
		Eventually(conditionOf(noForms, accessv1alpha1.ConditionWebResourceReadable)).Should(Equal("False/" + accessv1alpha1.ReasonMissingWebResourceRead))
		Expect(condition(noForms, accessv1alpha1.ConditionWebResourceReadable).Message).To(ContainSubstring("Missing prvReadWebResource privilege"))
		Eventually(readyReason(noForms)).Should(Equal("True"), "SR8: the role stays usable")
		Expect(stalledReason(noForms)).To(BeEmpty())

		withForms := securityRole(ns, "with-forms")
		Eventually(conditionOf(withForms, accessv1alpha1.ConditionWebResourceReadable)).Should(Equal("True/" + accessv1alpha1.ReasonWebResourceReadable))

		ada := platformUser(ns, "ada")
		Eventually(readyReason(ada)).Should(Equal("True"), "a user holding only that role is Ready")
		Expect(ada.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: "no-forms", RoleName: "no-forms", Source: "Direct"}))
		Expect(checkAccess(ns, "ada").Notes).To(ContainElement(access.NoteNoWebResource))

		By("adding webresource read turns the condition True")
		update(noForms, func(r *accessv1alpha1.SecurityRole) { r.Spec.Tables = append(r.Spec.Tables, webresourceRead) })
		Eventually(conditionOf(noForms, accessv1alpha1.ConditionWebResourceReadable)).Should(Equal("True/" + accessv1alpha1.ReasonWebResourceReadable))
	})

	It("AM9: GlobalAdministrator and ServiceAdministrator get <env>-system-administrator (source AdministratorRole/<role>); BillingAdministrator gives nothing, so an enabled user with no other role is NoSecurityRole (EN5)", func() {
		create(environment(ns, env),
			user(ns, "global", env, withLicense("PLAN1"), func(u *accessv1alpha1.PlatformUser) {
				u.Spec.AdministratorRoles = []accessv1alpha1.AdministratorRole{accessv1alpha1.AdminGlobal}
			}),
			user(ns, "service", env, withLicense("PLAN1"), func(u *accessv1alpha1.PlatformUser) {
				u.Spec.AdministratorRoles = []accessv1alpha1.AdministratorRole{accessv1alpha1.AdminService, accessv1alpha1.AdminPassword}
			}),
			user(ns, "billing", env, withLicense("PLAN1"), func(u *accessv1alpha1.PlatformUser) {
				u.Spec.AdministratorRoles = []accessv1alpha1.AdministratorRole{accessv1alpha1.AdminBilling}
			}))
		sysadmin := accessv1alpha1.SystemAdministratorRoleName(env)

		global := platformUser(ns, "global")
		Eventually(readyReason(global)).Should(Equal("True"))
		Expect(global.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{
			Name: sysadmin, RoleName: "System Administrator", Source: accessv1alpha1.RoleSourceAdministratorRolePrefix + "GlobalAdministrator"}))
		Expect(global.Status.Access).To(Equal(accessv1alpha1.AccessFull))
		rep := checkAccess(ns, "global")
		Expect(privilegeOf(rep, "account", access.Delete).Level).To(Equal(accessv1alpha1.AccessOrganization), "System Administrator holds every table at Organization")

		service := platformUser(ns, "service")
		Eventually(readyReason(service)).Should(Equal("True"))
		Expect(service.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{
			Name: sysadmin, RoleName: "System Administrator", Source: accessv1alpha1.RoleSourceAdministratorRolePrefix + "ServiceAdministrator"}))

		billing := platformUser(ns, "billing")
		Eventually(readyReason(billing)).Should(Equal(accessv1alpha1.ReasonNoSecurityRole))
		Expect(stalledReason(billing)).To(Equal(accessv1alpha1.ReasonNoSecurityRole))
		Expect(billing.Status.EffectiveRoles).To(BeEmpty())
		Expect(billing.Status.Access).To(Equal(accessv1alpha1.AccessNoAccess))
		Expect(condition(billing, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("EN5"))
	})

	It("AM8: a stub user gets <env>-salesperson in a Dynamics365 environment and <env>-common-data-service-user in a PowerApps one (source StubDefault), and is Ready with access None", func() {
		stub := func(u *accessv1alpha1.PlatformUser) { u.Spec.Stub, u.Spec.Enabled = true, false }
		create(environment(ns, "d365"),
			environment(ns, "apps", func(e *accessv1alpha1.Environment) { e.Spec.Product = accessv1alpha1.ProductPowerApps }),
			user(ns, "imported-d365", "d365", stub),
			user(ns, "imported-apps", "apps", stub))
		for _, c := range []struct{ user, role, roleName string }{
			{"imported-d365", "d365-salesperson", "Salesperson"},
			{"imported-apps", "apps-common-data-service-user", "Common Data Service User"},
		} {
			u := platformUser(ns, c.user)
			Eventually(readyReason(u)).Should(Equal("True"), c.user)
			Expect(u.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: c.role, RoleName: c.roleName, Source: string(accessv1alpha1.RoleSourceStubDefault)}), c.user)
			Expect(u.Status.Enabled).To(BeFalse(), c.user)
			Expect(u.Status.Access).To(Equal(accessv1alpha1.AccessNoAccess), c.user)
			Expect(conditionOf(u, accessv1alpha1.ConditionEnabled)()).To(Equal("False/"+accessv1alpha1.ReasonStubUser), c.user)
			Expect(conditionOf(u, accessv1alpha1.ConditionRolesAssigned)()).To(Equal("True/"+accessv1alpha1.ReasonRolesAssigned), "EN6: the stub default role is exempt")
		}

		By("EN6: a role listed on a stub is an assignment to a disabled user")
		create(role(ns, "seller", "d365"), user(ns, "imported-with-role", "d365", stub, withRoles("seller")))
		u := platformUser(ns, "imported-with-role")
		Eventually(readyReason(u)).Should(Equal(accessv1alpha1.ReasonRoleAssignmentToDisabledUser))
		Expect(stalledReason(u)).To(Equal(accessv1alpha1.ReasonRoleAssignmentToDisabledUser))
		Expect(u.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: "d365-salesperson", RoleName: "Salesperson", Source: string(accessv1alpha1.RoleSourceStubDefault)}),
			"AM8: the stub default role stays")
	})

	It("SR9: a newer role with the same name in the same business unit is DuplicateRoleName until the older is deleted; the same name in another unit or environment is fine", func() {
		create(environment(ns, env, salesTree), environment(ns, "other"),
			role(ns, "a-sales", env, roleNamed("Salesperson Plus")))
		older := securityRole(ns, "a-sales")
		Eventually(readyReason(older)).Should(Equal("True"))
		create(role(ns, "b-sales", env, roleNamed("Salesperson Plus")),
			role(ns, "c-sales", env, roleNamed("Salesperson Plus"), roleUnit("sales")),
			role(ns, "d-sales", "other", roleNamed("Salesperson Plus")))

		newer := securityRole(ns, "b-sales")
		Eventually(readyReason(newer)).Should(Equal(accessv1alpha1.ReasonDuplicateRoleName))
		Expect(stalledReason(newer)).To(Equal(accessv1alpha1.ReasonDuplicateRoleName))
		msg := condition(newer, accessv1alpha1.ConditionReady).Message
		Expect(msg).To(ContainSubstring("a-sales"))
		Expect(msg).To(ContainSubstring(`"Salesperson Plus"`))
		Expect(msg).To(ContainSubstring("business unit hq"))
		Eventually(readyReason(securityRole(ns, "c-sales"))).Should(Equal("True"), "another business unit")
		Eventually(readyReason(securityRole(ns, "d-sales"))).Should(Equal("True"), "another environment")
		Consistently(readyReason(older), "1s").Should(Equal("True"), "the older keeps its name")

		By("deleting the older role lets the newer take the name")
		Expect(k8sClient.Delete(ctx, older)).To(Succeed())
		Eventually(readyReason(newer)).Should(Equal("True"))
		Expect(stalledReason(newer)).To(BeEmpty())

		By("renaming the role that holds the name lets the next one take it")
		create(role(ns, "e-sales", env, roleNamed("salesperson plus")))
		latest := securityRole(ns, "e-sales")
		Eventually(readyReason(latest)).Should(Equal(accessv1alpha1.ReasonDuplicateRoleName), "names compare without case")
		update(newer, func(r *accessv1alpha1.SecurityRole) { r.Spec.RoleName = "Salesperson Premium" })
		Eventually(readyReason(latest)).Should(Equal("True"))
		Eventually(readyReason(newer)).Should(Equal("True"))
	})

	It("SR7: new roles default to DirectUserBasicAndTeam; the built-in <env>-system-administrator has it fixed, the other built-ins keep a changed one; built-in roles are recreated when deleted and their privileges reverted when edited", func() {
		create(environment(ns, env), role(ns, "plain", env),
			user(ns, "admin", env, withLicense("PLAN1"), func(u *accessv1alpha1.PlatformUser) {
				u.Spec.AdministratorRoles = []accessv1alpha1.AdministratorRole{accessv1alpha1.AdminGlobal}
			}))
		plain := securityRole(ns, "plain")
		Expect(k8sClient.Get(ctx, key(ns, "plain"), plain)).To(Succeed())
		Expect(plain.Spec.MemberPrivilegeInheritance).To(Equal(accessv1alpha1.InheritDirectUserBasicAndTeam), "SR7: the default")

		sysadmin := securityRole(ns, accessv1alpha1.SystemAdministratorRoleName(env))
		basic := securityRole(ns, env+accessv1alpha1.BasicUserRoleSuffix)
		for _, r := range []*accessv1alpha1.SecurityRole{sysadmin, basic} {
			Eventually(func() error { return k8sClient.Get(ctx, client.ObjectKeyFromObject(r), r) }).Should(Succeed(), "the environment creates %s", r.Name)
		}
		Eventually(readyReason(sysadmin)).Should(Equal("True"))
		Expect(sysadmin.Spec.BuiltIn).To(Equal(accessv1alpha1.BuiltInSystemAdministrator))
		Expect(sysadmin.Spec.MemberPrivilegeInheritance).To(Equal(accessv1alpha1.InheritDirectUserBasicAndTeam))
		Expect(sysadmin.Spec.RoleName).To(Equal("System Administrator"))

		By("System Administrator's inheritance cannot be changed")
		err := updateErr(sysadmin.DeepCopy(), func(r *accessv1alpha1.SecurityRole) {
			r.Spec.MemberPrivilegeInheritance = accessv1alpha1.InheritTeamPrivilegesOnly
		})
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("System Administrator's member privilege inheritance is fixed at DirectUserBasicAndTeam (SR7)"))

		admin := platformUser(ns, "admin")
		Eventually(readyReason(admin)).Should(Equal("True"))

		By("deleting the built-in System Administrator: the environment recreates it")
		oldUID := sysadmin.UID
		Expect(k8sClient.Delete(ctx, sysadmin)).To(Succeed())
		Eventually(func() types.UID {
			var r accessv1alpha1.SecurityRole
			if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(sysadmin), &r); err != nil {
				return ""
			}
			return r.UID
		}).ShouldNot(Or(BeEmpty(), Equal(oldUID)))
		Eventually(readyReason(sysadmin)).Should(Equal("True"))
		Expect(sysadmin.Spec).To(Equal(access.BuiltInRoleSpec(env, accessv1alpha1.BuiltInSystemAdministrator)))
		Eventually(readyReason(admin)).Should(Equal("True"), "AM9: its administrator still holds it")
		Expect(admin.Status.EffectiveRoles).To(HaveLen(1))

		By("editing the built-in Basic User: the environment reverts its privileges and keeps its changed inheritance (SR7)")
		Eventually(readyReason(basic)).Should(Equal("True"))
		update(basic, func(r *accessv1alpha1.SecurityRole) {
			r.Spec.Tables = []accessv1alpha1.TablePermission{{Table: "account", PermissionSetting: accessv1alpha1.PermissionFullAccess}}
			r.Spec.MemberPrivilegeInheritance = accessv1alpha1.InheritTeamPrivilegesOnly
		})
		want := access.BuiltInRoleSpec(env, accessv1alpha1.BuiltInBasicUser)
		want.MemberPrivilegeInheritance = accessv1alpha1.InheritTeamPrivilegesOnly
		Eventually(func() accessv1alpha1.SecurityRoleSpec {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(basic), basic)).To(Succeed())
			return basic.Spec
		}).Should(Equal(want))
		Consistently(func() accessv1alpha1.MemberPrivilegeInheritance {
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(basic), basic)).To(Succeed())
			return basic.Spec.MemberPrivilegeInheritance
		}, "1s").Should(Equal(accessv1alpha1.InheritTeamPrivilegesOnly), "SR7: inheritance can be changed on every built-in role but System Administrator")
	})

	It("SR2 SR4: legacy level names and presets show as canonical, expanded levels in status.tables", func() {
		create(environment(ns, env), role(ns, "mixed", env, roleTables(
			customTable("account", accessv1alpha1.TablePrivileges{
				Create: accessv1alpha1.AccessBasic, Read: accessv1alpha1.AccessGlobal, Write: accessv1alpha1.AccessLocal,
				Delete: accessv1alpha1.AccessDeep, Append: accessv1alpha1.AccessOrganization,
			}),
			accessv1alpha1.TablePermission{Table: "contact", PermissionSetting: accessv1alpha1.PermissionCollaborate},
			accessv1alpha1.TablePermission{Table: "lead", PermissionSetting: accessv1alpha1.PermissionPrivate},
			accessv1alpha1.TablePermission{Table: "campaign", PermissionSetting: accessv1alpha1.PermissionReference},
			accessv1alpha1.TablePermission{Table: "task", PermissionSetting: accessv1alpha1.PermissionNoAccess},
			accessv1alpha1.TablePermission{Table: "webresource", Ownership: accessv1alpha1.OwnershipOrganization, PermissionSetting: accessv1alpha1.PermissionFullAccess},
		)))
		const (
			none = accessv1alpha1.AccessNone
			usr  = accessv1alpha1.AccessUser
			bu   = accessv1alpha1.AccessBusinessUnit
			pcbu = accessv1alpha1.AccessParentChildBusinessUnits
			org  = accessv1alpha1.AccessOrganization
		)
		all := func(l accessv1alpha1.AccessLevel) accessv1alpha1.TablePrivileges {
			return accessv1alpha1.TablePrivileges{Create: l, Read: l, Write: l, Delete: l, Append: l, AppendTo: l, Assign: l, Share: l}
		}
		mixed := securityRole(ns, "mixed")
		Eventually(readyReason(mixed)).Should(Equal("True"))
		Expect(mixed.Status.Tables).To(Equal([]accessv1alpha1.EffectiveTable{
			{Table: "account", Privileges: accessv1alpha1.TablePrivileges{Create: usr, Read: org, Write: bu, Delete: pcbu, Append: org, AppendTo: none, Assign: none, Share: none}},
			{Table: "campaign", Privileges: accessv1alpha1.TablePrivileges{Create: none, Read: org, Write: none, Delete: none, Append: none, AppendTo: none, Assign: none, Share: none}},
			{Table: "contact", Privileges: accessv1alpha1.TablePrivileges{Create: usr, Read: org, Write: usr, Delete: usr, Append: org, AppendTo: org, Assign: usr, Share: usr}},
			{Table: "lead", Privileges: all(usr)},
			{Table: "task", Privileges: all(none)},
			{Table: "webresource", Privileges: all(org)},
		}))

		By("the spec keeps what was written; only status is canonical")
		Expect(mixed.Spec.Tables[0].Privileges.Read).To(Equal(accessv1alpha1.AccessGlobal))

		By("a spec change is reflected in status")
		update(mixed, func(r *accessv1alpha1.SecurityRole) { r.Spec.Tables[0].Privileges.Read = accessv1alpha1.AccessDeep })
		Eventually(func() accessv1alpha1.AccessLevel {
			Expect(k8sClient.Get(ctx, key(ns, "mixed"), mixed)).To(Succeed())
			if mixed.Status.ObservedGeneration != mixed.Generation {
				return "<pending>"
			}
			return mixed.Status.Tables[0].Privileges.Read
		}).Should(Equal(pcbu))
	})

	It("EN6: roles on a disabled user are refused with RoleAssignmentToDisabledUser unless the environment allows role assignment on disabled users", func() {
		create(environment(ns, env, withSecurityGroup("contoso-users")), role(ns, "seller", env),
			// Disabled as intended (not in the security group), yet holding a role.
			user(ns, "parked", env, withLicense("PLAN1"), withRoles("seller"), func(u *accessv1alpha1.PlatformUser) { u.Spec.Enabled = false }),
			// Meant to be enabled but outside the group: Ready names the group, RolesAssigned names EN6.
			user(ns, "outside", env, withLicense("PLAN1"), withRoles("seller")),
			// Disabled without roles: nothing to refuse.
			user(ns, "idle", env, withLicense("PLAN1"), func(u *accessv1alpha1.PlatformUser) { u.Spec.Enabled = false }))

		parked := platformUser(ns, "parked")
		Eventually(readyReason(parked)).Should(Equal(accessv1alpha1.ReasonRoleAssignmentToDisabledUser))
		Expect(stalledReason(parked)).To(Equal(accessv1alpha1.ReasonRoleAssignmentToDisabledUser))
		Expect(condition(parked, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("allowRoleAssignmentOnDisabledUsers"))
		Expect(parked.Status.Enabled).To(BeFalse())

		outside := platformUser(ns, "outside")
		Eventually(readyReason(outside)).Should(Equal(accessv1alpha1.ReasonNotInSecurityGroup))
		Expect(conditionOf(outside, accessv1alpha1.ConditionRolesAssigned)()).To(Equal("False/"+accessv1alpha1.ReasonAwaitingEnablement), "EN6: meant to be enabled, its roles wait for it")
		Expect(stalledReason(outside)).To(Equal(accessv1alpha1.ReasonNotInSecurityGroup))

		Eventually(readyReason(platformUser(ns, "idle"))).Should(Equal("True"))

		By("allowing role assignment on disabled users")
		update(&accessv1alpha1.Environment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: env}}, func(e *accessv1alpha1.Environment) {
			e.Spec.Settings.AllowRoleAssignmentOnDisabledUsers = true
		})
		Eventually(readyReason(parked)).Should(Equal("True"))
		Expect(stalledReason(parked)).To(BeEmpty())
		Expect(parked.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: "seller", RoleName: "seller", Source: "Direct"}))
		Expect(parked.Status.Access).To(Equal(accessv1alpha1.AccessNoAccess), "still disabled")
		Eventually(conditionOf(outside, accessv1alpha1.ConditionRolesAssigned)).Should(Equal("True/" + accessv1alpha1.ReasonRolesAssigned))
		Expect(readyReason(outside)()).To(Equal(accessv1alpha1.ReasonNotInSecurityGroup), "EN1 still applies")
	})

	It("EV3: a user naming a missing role is SecurityRoleNotFound (Stalled) until the role is created, in any order", func() {
		create(environment(ns, env), user(ns, "ada", env, withLicense("PLAN1"), withRoles("later")))
		ada := platformUser(ns, "ada")
		Eventually(readyReason(ada)).Should(Equal(accessv1alpha1.ReasonSecurityRoleNotFound))
		Expect(stalledReason(ada)).To(Equal(accessv1alpha1.ReasonSecurityRoleNotFound))
		Expect(condition(ada, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("SecurityRole later"))

		create(role(ns, "later", env))
		Eventually(readyReason(ada)).Should(Equal("True"))
		Expect(stalledReason(ada)).To(BeEmpty())
		Expect(ada.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: "later", RoleName: "later", Source: "Direct"}))

		By("deleting the role brings the condition back")
		Expect(k8sClient.Delete(ctx, securityRole(ns, "later"))).To(Succeed())
		Eventually(readyReason(ada)).Should(Equal(accessv1alpha1.ReasonSecurityRoleNotFound))
	})
})

var _ = Describe("Role fan-out", func() {
	It("Cost EV3: changing one role re-reconciles only its 3 holders, each at most twice, not the 30 users of the environment", func() {
		ns := newNamespace()
		const env = "contoso"
		create(environment(ns, env), role(ns, "role-a", env, roleNamed("Role A")), role(ns, "role-b", env))
		var holders []*accessv1alpha1.PlatformUser
		for i := 0; i < 30; i++ {
			name := fmt.Sprintf("u-%02d", i)
			roles := withRoles("role-b")
			if i%10 == 0 {
				roles = withRoles("role-a")
			}
			u := user(ns, name, env, withLicense("PLAN1"), roles)
			create(u)
			if i%10 == 0 {
				holders = append(holders, u)
			}
		}
		Expect(holders).To(HaveLen(3))
		Eventually(func() int {
			var list accessv1alpha1.PlatformUserList
			Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
			ready := 0
			for i := range list.Items {
				u := &list.Items[i]
				if c := findReady(u.Status.Conditions); c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == u.Generation {
					ready++
				}
			}
			return ready
		}).Should(Equal(30))

		before := settledReconcileTotal("platformuser")
		Expect(before).To(BeNumerically(">=", 30), "the controller is named platformuser and reconciled the 30 users")

		update(securityRole(ns, "role-a"), func(r *accessv1alpha1.SecurityRole) { r.Spec.RoleName = "Role A Renamed" })
		for _, h := range holders {
			Eventually(effectiveRolesOf(h)).Should(ConsistOf(accessv1alpha1.EffectiveRole{Name: "role-a", RoleName: "Role A Renamed", Source: "Direct"}), h.Name)
		}
		after := settledReconcileTotal("platformuser")
		Expect(after-before).To(BeNumerically(">=", 3), "each holder is reconciled")
		// Each holder at most twice: the role change, and its own status write coming back, which
		// finds nothing more to write.
		Expect(after-before).To(BeNumerically("<=", 6), "only the holders are reconciled, each at most twice, not the other 27 users")
	})
})
