package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
)

func team(ns, name, env string, typ accessv1alpha1.TeamType, mutate ...func(*accessv1alpha1.Team)) *accessv1alpha1.Team {
	t := &accessv1alpha1.Team{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       accessv1alpha1.TeamSpec{EnvironmentName: env, Type: typ},
	}
	for _, m := range mutate {
		m(t)
	}
	return t
}

func teamRoles(names ...string) func(*accessv1alpha1.Team) {
	return func(t *accessv1alpha1.Team) { t.Spec.SecurityRoles = names }
}

func teamMembers(names ...string) func(*accessv1alpha1.Team) {
	return func(t *accessv1alpha1.Team) { t.Spec.Members = names }
}

func teamGroup(group string) func(*accessv1alpha1.Team) {
	return func(t *accessv1alpha1.Team) { t.Spec.Group = group }
}

func teamUnit(bu string) func(*accessv1alpha1.Team) {
	return func(t *accessv1alpha1.Team) { t.Spec.BusinessUnit = bu }
}

func teamObj(ns, name string) *accessv1alpha1.Team {
	return &accessv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func memberCount(t *accessv1alpha1.Team) func() int32 {
	return func() int32 {
		ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)).To(Succeed())
		return t.Status.MemberCount
	}
}

var _ = Describe("Teams", func() {
	const env = "contoso"
	var ns string

	BeforeEach(func() { ns = newNamespace() })

	It("TM1 EN5: a user whose only role comes from an AADSecurityGroup team is Ready with source Team/<team>; leaving the group makes it NoSecurityRole, pointing to the security group; memberCount counts group members", func() {
		create(environment(ns, env, withSecurityGroup("contoso-users")), role(ns, "seller", env),
			team(ns, "sales-aad", env, accessv1alpha1.TeamAADSecurityGroup, teamGroup("sales-group"), teamRoles("seller")),
			user(ns, "ada", env, withLicense("PLAN1"), withGroups("contoso-users", "sales-group")),
			user(ns, "bob", env, withLicense("PLAN1"), withGroups("contoso-users", "sales-group")),
			user(ns, "carl", env, withLicense("PLAN1"), withGroups("contoso-users"), withRoles("seller")),
			// The same group in another environment is another team's business.
			environment(ns, "other"),
			user(ns, "dora", "other", withLicense("PLAN1"), withGroups("sales-group")))

		t := teamObj(ns, "sales-aad")
		Eventually(readyReason(t)).Should(Equal("True"))
		Eventually(memberCount(t)).Should(Equal(int32(2)), "TM1: ada and bob list the group; carl does not, dora is of another environment")

		ada := platformUser(ns, "ada")
		Eventually(readyReason(ada)).Should(Equal("True"))
		Expect(ada.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: "seller", RoleName: "seller", Source: accessv1alpha1.RoleSourceTeamPrefix + "sales-aad"}))
		Expect(ada.Status.Access).To(Equal(accessv1alpha1.AccessFull))

		By("ada leaves the team's group but stays in the environment's security group")
		update(ada, func(u *accessv1alpha1.PlatformUser) { u.Spec.SecurityGroups = []string{"contoso-users"} })
		Eventually(readyReason(ada)).Should(Equal(accessv1alpha1.ReasonNoSecurityRole))
		Expect(stalledReason(ada)).To(Equal(accessv1alpha1.ReasonNoSecurityRole))
		msg := condition(ada, accessv1alpha1.ConditionReady).Message
		Expect(msg).To(ContainSubstring("EN5"))
		Expect(msg).To(ContainSubstring("remove contoso-users from spec.securityGroups"), "EN5: the way to remove access is the security group")
		Expect(ada.Status.EffectiveRoles).To(BeEmpty())
		Expect(ada.Status.Access).To(Equal(accessv1alpha1.AccessNoAccess))
		Eventually(memberCount(t)).Should(Equal(int32(1)))

		By("a new user listing the group joins the team")
		create(user(ns, "eve", env, withLicense("PLAN1"), withGroups("contoso-users", "sales-group")))
		Eventually(memberCount(t)).Should(Equal(int32(2)))
		Eventually(readyReason(platformUser(ns, "eve"))).Should(Equal("True"))
	})

	It("TM2 TM3: the same team role gives different check-access results with TeamPrivilegesOnly (via team, from the team's unit) and DirectUserBasicAndTeam (also a direct grant to the member, capped at User)", func() {
		create(environment(ns, env, salesTree),
			role(ns, "team-reader", env, roleUnit("hq"), roleTables(webresourceRead,
				customTable("account", accessv1alpha1.TablePrivileges{Read: accessv1alpha1.AccessBusinessUnit, Write: accessv1alpha1.AccessUser})),
				func(r *accessv1alpha1.SecurityRole) {
					r.Spec.MemberPrivilegeInheritance = accessv1alpha1.InheritTeamPrivilegesOnly
				}),
			team(ns, "emea-team", env, accessv1alpha1.TeamOwner, teamUnit("emea"), teamMembers("ada"), teamRoles("team-reader")),
			user(ns, "ada", env, withLicense("PLAN1"), userUnit("sales")))
		t := teamObj(ns, "emea-team")
		Eventually(readyReason(t)).Should(Equal("True"))
		Expect(t.Status.MemberCount).To(Equal(int32(1)))
		Expect(t.Status.BusinessUnit).To(Equal("emea"))
		ada := platformUser(ns, "ada")
		Eventually(readyReason(ada)).Should(Equal("True"))
		Expect(ada.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: "team-reader", RoleName: "team-reader", Source: "Team/emea-team"}))

		viaTeam := func(l accessv1alpha1.AccessLevel) access.Grant {
			return access.Grant{Role: "team-reader", RoleName: "team-reader", Source: "Team/emea-team", Level: l, Via: access.ViaTeam, Team: "emea-team", BusinessUnit: "emea"}
		}
		direct := func(l accessv1alpha1.AccessLevel) access.Grant {
			return access.Grant{Role: "team-reader", RoleName: "team-reader", Source: "Team/emea-team", Level: l, Via: access.ViaUser, Team: "emea-team", BusinessUnit: "sales"}
		}

		By("TM2: TeamPrivilegesOnly reaches ada only through the team, measured from the team's unit")
		tm2 := checkAccess(ns, "ada")
		Expect(tm2.BusinessUnit).To(Equal("sales"))
		read := privilegeOf(tm2, "account", access.Read)
		Expect(read.Level).To(Equal(accessv1alpha1.AccessBusinessUnit))
		Expect(read.Grants).To(Equal([]access.Grant{viaTeam(accessv1alpha1.AccessBusinessUnit)}))
		Expect(privilegeOf(tm2, "account", access.Write).Grants).To(Equal([]access.Grant{viaTeam(accessv1alpha1.AccessUser)}), "TM2: User level covers the team's records")

		By("TM3: DirectUserBasicAndTeam adds a direct grant to ada at Basic (User) level only; BusinessUnit still comes through the team")
		update(securityRole(ns, "team-reader"), func(r *accessv1alpha1.SecurityRole) {
			r.Spec.MemberPrivilegeInheritance = accessv1alpha1.InheritDirectUserBasicAndTeam
		})
		tm3 := checkAccess(ns, "ada")
		read = privilegeOf(tm3, "account", access.Read)
		Expect(read.Level).To(Equal(accessv1alpha1.AccessBusinessUnit))
		Expect(read.Grants).To(Equal([]access.Grant{viaTeam(accessv1alpha1.AccessBusinessUnit), direct(accessv1alpha1.AccessUser)}))
		Expect(privilegeOf(tm3, "account", access.Write).Grants).To(Equal([]access.Grant{direct(accessv1alpha1.AccessUser), viaTeam(accessv1alpha1.AccessUser)}))
		Expect(tm3.Tables).NotTo(Equal(tm2.Tables), "TM2 and TM3 evaluate differently")

		By("the user's status does not change: inheritance is about how, not which, roles are held")
		Consistently(effectiveRolesOf(ada), "1s").Should(ConsistOf(accessv1alpha1.EffectiveRole{Name: "team-reader", RoleName: "team-reader", Source: "Team/emea-team"}))
	})

	It("TM4: an Access team with securityRoles is refused at admission on spec.securityRoles; an Access team without roles is accepted", func() {
		create(environment(ns, env), role(ns, "seller", env))
		err := k8sClient.Create(ctx, team(ns, "share", env, accessv1alpha1.TeamAccess, teamRoles("seller")))
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("Access teams hold no security roles (TM4): remove spec.securityRoles, or use an Owner team"))
		status, ok := err.(apierrors.APIStatus)
		Expect(ok).To(BeTrue())
		Expect(status.Status().Details).NotTo(BeNil())
		Expect(status.Status().Details.Causes).To(ContainElement(HaveField("Field", "spec.securityRoles")))

		By("without roles it is accepted; adding roles later is refused too")
		share := team(ns, "share", env, accessv1alpha1.TeamAccess)
		create(share)
		Eventually(readyReason(share)).Should(Equal("True"))
		err = updateErr(share, func(t *accessv1alpha1.Team) { t.Spec.SecurityRoles = []string{"seller"} })
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("Access teams hold no security roles (TM4)"))
	})

	It("SR5: a team holding a role of a unit below its own is refused with RoleNotInBusinessUnit (Stalled) and its members do not get it; a role of a parent unit is fine", func() {
		create(environment(ns, env, salesTree),
			role(ns, "emea-role", env, roleUnit("emea")),
			role(ns, "hq-role", env, roleUnit("hq")),
			team(ns, "sales-bad", env, accessv1alpha1.TeamOwner, teamUnit("sales"), teamMembers("ada"), teamRoles("emea-role")),
			team(ns, "sales-good", env, accessv1alpha1.TeamOwner, teamUnit("sales"), teamMembers("ada"), teamRoles("hq-role")),
			user(ns, "ada", env, withLicense("PLAN1"), userUnit("emea")))
		bad := teamObj(ns, "sales-bad")
		Eventually(readyReason(bad)).Should(Equal(accessv1alpha1.ReasonRoleNotInBusinessUnit))
		Expect(stalledReason(bad)).To(Equal(accessv1alpha1.ReasonRoleNotInBusinessUnit))
		msg := condition(bad, accessv1alpha1.ConditionReady).Message
		Expect(msg).To(ContainSubstring("SecurityRole emea-role"))
		Expect(msg).To(ContainSubstring("business unit emea"))
		Expect(msg).To(ContainSubstring("team sales-bad's unit sales"))

		good := teamObj(ns, "sales-good")
		Eventually(readyReason(good)).Should(Equal("True"))

		By("ada, of emea, could hold emea-role directly, but not through a sales team")
		ada := platformUser(ns, "ada")
		Eventually(readyReason(ada)).Should(Equal("True"))
		Expect(ada.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: "hq-role", RoleName: "hq-role", Source: "Team/sales-good"}))

		By("moving the team down to emea fixes it")
		update(bad, func(t *accessv1alpha1.Team) { t.Spec.BusinessUnit = "emea" })
		Eventually(readyReason(bad)).Should(Equal("True"))
		Expect(stalledReason(bad)).To(BeEmpty())
		Eventually(effectiveRolesOf(ada)).Should(ConsistOf(
			accessv1alpha1.EffectiveRole{Name: "hq-role", RoleName: "hq-role", Source: "Team/sales-good"},
			accessv1alpha1.EffectiveRole{Name: "emea-role", RoleName: "emea-role", Source: "Team/sales-bad"},
		))
	})

	It("EV3: a team naming a missing role is SecurityRoleNotFound (Stalled); creating the role later makes the team Ready", func() {
		create(environment(ns, env), team(ns, "crew", env, accessv1alpha1.TeamOwner, teamRoles("later")))
		crew := teamObj(ns, "crew")
		Eventually(readyReason(crew)).Should(Equal(accessv1alpha1.ReasonSecurityRoleNotFound))
		Expect(stalledReason(crew)).To(Equal(accessv1alpha1.ReasonSecurityRoleNotFound))
		Expect(condition(crew, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("SecurityRole later"))
		create(role(ns, "later", env))
		Eventually(readyReason(crew)).Should(Equal("True"))
		Expect(stalledReason(crew)).To(BeEmpty())
	})

	It("EV3 TM1: a role created after the team that names it reaches the team's members, whatever the order of creation", func() {
		create(environment(ns, env, withSecurityGroup("contoso-users")),
			team(ns, "crew", env, accessv1alpha1.TeamOwner, teamMembers("ada"), teamRoles("later")),
			team(ns, "crew-aad", env, accessv1alpha1.TeamAADSecurityGroup, teamGroup("crew-group"), teamRoles("later-too")),
			user(ns, "ada", env, withLicense("PLAN1"), withGroups("contoso-users")),
			user(ns, "bob", env, withLicense("PLAN1"), withGroups("contoso-users", "crew-group")))
		ada, bob := platformUser(ns, "ada"), platformUser(ns, "bob")
		Eventually(readyReason(ada)).Should(Equal(accessv1alpha1.ReasonNoSecurityRole))
		Eventually(readyReason(bob)).Should(Equal(accessv1alpha1.ReasonNoSecurityRole))
		Eventually(readyReason(teamObj(ns, "crew"))).Should(Equal(accessv1alpha1.ReasonSecurityRoleNotFound))

		create(role(ns, "later", env), role(ns, "later-too", env))
		Eventually(readyReason(teamObj(ns, "crew"))).Should(Equal("True"))
		Eventually(readyReason(ada)).Should(Equal("True"))
		Expect(ada.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: "later", RoleName: "later", Source: "Team/crew"}))
		Eventually(readyReason(bob)).Should(Equal("True"))
		Expect(bob.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: "later-too", RoleName: "later-too", Source: "Team/crew-aad"}))
	})

	It("TM1 EV3: an Owner team counts its listed members and names a missing one with TeamMemberNotFound until it is created", func() {
		create(environment(ns, env), role(ns, "seller", env),
			team(ns, "crew", env, accessv1alpha1.TeamOwner, teamMembers("ada", "bob"), teamRoles("seller")),
			user(ns, "ada", env, withLicense("PLAN1")))
		crew := teamObj(ns, "crew")
		Eventually(readyReason(crew)).Should(Equal(accessv1alpha1.ReasonTeamMemberNotFound))
		Expect(stalledReason(crew)).To(Equal(accessv1alpha1.ReasonTeamMemberNotFound))
		Expect(condition(crew, accessv1alpha1.ConditionReady).Message).To(ContainSubstring("member bob"))
		Expect(crew.Status.MemberCount).To(Equal(int32(1)))
		Eventually(readyReason(platformUser(ns, "ada"))).Should(Equal("True"))

		create(user(ns, "bob", env, withLicense("PLAN1")))
		Eventually(readyReason(crew)).Should(Equal("True"))
		Expect(crew.Status.MemberCount).To(Equal(int32(2)))
		bob := platformUser(ns, "bob")
		Eventually(readyReason(bob)).Should(Equal("True"))
		Expect(bob.Status.EffectiveRoles).To(ConsistOf(accessv1alpha1.EffectiveRole{Name: "seller", RoleName: "seller", Source: "Team/crew"}))

		By("deleting the team takes its role away from the members")
		Expect(k8sClient.Delete(ctx, crew)).To(Succeed())
		Eventually(readyReason(bob)).Should(Equal(accessv1alpha1.ReasonNoSecurityRole))
		Expect(bob.Status.EffectiveRoles).To(BeEmpty())
	})
})
