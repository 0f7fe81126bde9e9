package controllers_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/controllers"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// The specs of docs/design.md's "Sync contract" section, each against its own emulated
// environment, in a namespace of its own.

// apiPath is a logged request's path under the Web API root, without its query: "roles",
// "roles(<id>)", "systemusers(<id>)/systemuserroles_association/$ref", …; for the admin API, the
// part after the environment id ("addUser").
func apiPath(r emulator.LoggedRequest) string {
	p, _, _ := strings.Cut(r.Path, "?")
	if _, rest, ok := strings.Cut(p, dataverse.APIPath); ok {
		return rest
	}
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

// requestsTo are the logged requests to the named emulated environments (Web API or admin API:
// the admin API logs the environment id as its environment) since a time.
func requestsTo(since time.Time, envs ...string) []emulator.LoggedRequest {
	want := map[string]bool{}
	for _, e := range envs {
		want[strings.ToLower(e)] = true
	}
	var out []emulator.LoggedRequest
	for _, r := range emu.Requests() {
		if want[strings.ToLower(r.Environment)] && !r.Time.Before(since) {
			out = append(out, r)
		}
	}
	return out
}

// creates are the logged POSTs that create a record of set (the entity set itself, not a bound
// action or an association under one of its records).
func creates(dv, set string) []emulator.LoggedRequest {
	var out []emulator.LoggedRequest
	for _, r := range requestsTo(time.Time{}, dv) {
		if r.Method == http.MethodPost && apiPath(r) == set {
			out = append(out, r)
		}
	}
	return out
}

// naming lists "METHOD path" of the logged requests whose path or query names id.
func naming(dv, id string) []string {
	var out []string
	for _, r := range requestsTo(time.Time{}, dv) {
		if p, err := url.PathUnescape(r.Path); err == nil && strings.Contains(strings.ToLower(p), strings.ToLower(id)) {
			out = append(out, r.Method+" "+apiPath(r))
		}
	}
	return out
}

func countNamed(records []map[string]any, field, value string) int {
	n := 0
	for _, r := range records {
		if fmt.Sprint(r[field]) == value {
			n++
		}
	}
	return n
}

// emulatorClient is a Web API client of one emulated environment acting as another admin: what
// it writes is there before the operator looks.
func emulatorClient(dv string) *dataverse.Client {
	opts := dataverse.DefaultOptions()
	opts.PowerPlatformAPIURL = emulatorServer.URL
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: emulatorServer.Client().Transport.(*http.Transport).TLSClientConfig.Clone()}}
	conn, err := dataverse.NewConnector(opts, httpClient, nil)
	Expect(err).NotTo(HaveOccurred())
	cl, err := conn.Environment(dataverseURL(dv), staticCredential{})
	Expect(err).NotTo(HaveOccurred())
	return cl
}

func syncedCondition(obj client.Object) string {
	return conditionOf(obj, accessv1alpha1.ConditionSynced)()
}

// waitGone waits until every object is gone from the API server.
func waitGone(timeout string, objs ...client.Object) {
	for _, o := range objs {
		EventuallyWithOffset(1, func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(o), o))
		}, timeout).Should(BeTrue(), "%s is gone", o.GetName())
	}
}

// notBuiltIn selects the roles that are not an Environment's built-in ones.
func notBuiltIn() client.MatchingLabelsSelector {
	sel, err := labels.Parse("!" + decide.BuiltInLabel)
	Expect(err).NotTo(HaveOccurred())
	return client.MatchingLabelsSelector{Selector: sel}
}

// hasSynced reports whether an object's sync has run at least once.
func hasSynced(conds []metav1.Condition) bool {
	return meta.FindStatusCondition(conds, accessv1alpha1.ConditionSynced) != nil
}

// syncedCount counts the objects of ns whose sync ran at least once, and all of them.
func syncedCount(ns string) (synced, all int) {
	var envs accessv1alpha1.EnvironmentList
	var roles accessv1alpha1.SecurityRoleList
	var users accessv1alpha1.PlatformUserList
	var teams accessv1alpha1.TeamList
	var apps accessv1alpha1.ApplicationUserList
	for _, l := range []client.ObjectList{&envs, &roles, &users, &teams, &apps} {
		ExpectWithOffset(1, k8sClient.List(ctx, l, client.InNamespace(ns))).To(Succeed())
	}
	count := func(conds []metav1.Condition) {
		all++
		if hasSynced(conds) {
			synced++
		}
	}
	for i := range envs.Items {
		count(envs.Items[i].Status.Conditions)
	}
	for i := range roles.Items {
		count(roles.Items[i].Status.Conditions)
	}
	for i := range users.Items {
		count(users.Items[i].Status.Conditions)
	}
	for i := range teams.Items {
		count(teams.Items[i].Status.Conditions)
	}
	for i := range apps.Items {
		count(apps.Items[i].Status.Conditions)
	}
	return synced, all
}

// stateSizes are the running controllers' in-memory map sizes.
func stateSizes() map[string]int { return runningControllers.StateSizes() }

// stableStateSizes waits until the sizes stop changing (the previous spec's cleanup may still be
// forgetting its environments) and returns them.
func stableStateSizes() map[string]int {
	var last map[string]int
	EventuallyWithOffset(1, func() bool {
		now := stateSizes()
		same := last != nil && fmt.Sprint(now) == fmt.Sprint(last)
		last = now
		return same
	}, "30s", "1s").Should(BeTrue())
	return last
}

var _ = Describe("Sync contract: finalizers, unknown outcomes, Observe, credentials, memory and isolation", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("finalizer before create (the external-record finalizer comes first; an unknown outcome is looked up by its natural key): under deletionPolicy Delete, a role, an application user and an Owner team deleted as soon as their finalizer appears — while their create is applied and answered 502, so no record id reaches their status — leave no record and go", func() {
		const env = "race"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage, withDeletionPolicy(accessv1alpha1.DeletionDelete))
		create(e)
		Eventually(readyReason(environment(ns, env)), "30s").Should(Equal("True"))

		// Each create is held a second, applied, then answered 502 (a gateway that gave up while
		// the service committed): the object is deleted while its create is in flight.
		for _, set := range []string{"roles", "systemusers", "teams"} {
			emu.AddFault(emulator.Fault{Environment: dv, Method: http.MethodPost, PathContains: set, Status: http.StatusBadGateway,
				Message: "bad gateway", After: true, Latency: time.Second})
		}
		DeferCleanup(emu.ClearFaults)
		const appID = "71111111-2222-4333-8444-555555555555"
		r := role(ns, "seller", env, roleNamed("Seller"))
		app := appUser(ns, "erp", env, appID)
		t := team(ns, "closers", env, accessv1alpha1.TeamOwner)
		objs := []client.Object{r, app, t}
		create(objs...)
		deleted := map[string]bool{}
		Eventually(func(g Gomega) {
			for _, o := range objs {
				if deleted[o.GetName()] {
					continue
				}
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(o), o)).To(Succeed())
				if controllerutil.ContainsFinalizer(o, controllers.DataverseFinalizer) {
					g.Expect(k8sClient.Delete(ctx, o)).To(Succeed())
					deleted[o.GetName()] = true
				}
			}
			g.Expect(deleted).To(HaveLen(len(objs)))
		}, "10s", "10ms").Should(Succeed(), "each object gets the finalizer before its create")
		waitGone("30s", objs...)

		d := dumpOf(dv)
		Expect(recordNamed(d.Roles, "name", "Seller")).To(BeNil(), "the role's record was deleted")
		Expect(recordNamed(d.Users, "applicationid", appID)).To(BeNil(), "the application user's record was deleted")
		Expect(recordNamed(d.Teams, "name", "closers")).To(BeNil(), "the team's record was deleted")
		for set, after := range map[string][]string{
			"roles":       {"DELETE roles(%s)"},
			"systemusers": {"PATCH systemusers(%s)", "DELETE systemusers(%s)"}, // disabled first
			"teams":       {"DELETE teams(%s)"},
		} {
			made := creates(dv, set)
			Expect(made).To(HaveLen(1), "one create of %s", set)
			Expect(made[0].Status).To(Equal(http.StatusBadGateway), "the %s create was answered 502", set)
			Expect(made[0].Applied).To(Equal(http.StatusNoContent), "the %s create was made", set)
			// The record's id was never answered, so no sync read the record by it: it was found by
			// its natural key, and only deleted.
			id := lastDeleted(dv, set)
			Expect(id).NotTo(BeEmpty(), "a DELETE of the %s record was sent", set)
			var want []string
			for _, f := range after {
				want = append(want, fmt.Sprintf(f, id))
			}
			Expect(naming(dv, id)).To(Equal(want), "the %s record is named only by its deletion", set)
		}
	})

	It("finalizer before create, deleted right after creation (the external-record finalizer comes first: an object deleted at any moment afterwards cannot leave an untracked record behind): under deletionPolicy Delete, roles, application users and Owner teams deleted right after they are created leave no record in Dataverse", func() {
		// The API server may delete an object whose finalizer it has just added
		// (kubernetes/kubernetes#77988): the operator deletes its record from the tombstone.
		const env = "quick"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage, withDeletionPolicy(accessv1alpha1.DeletionDelete))
		create(e)
		Eventually(readyReason(environment(ns, env)), "30s").Should(Equal("True"))
		const n = 8
		appID := func(i int) string { return fmt.Sprintf("8%07d-2222-4333-8444-555555555555", i) }
		var quick []client.Object
		for i := 0; i < n; i++ {
			quick = append(quick,
				role(ns, fmt.Sprintf("quick-r%d", i), env, roleNamed(fmt.Sprintf("Quick %d", i))),
				appUser(ns, fmt.Sprintf("quick-a%d", i), env, appID(i)),
				team(ns, fmt.Sprintf("quick-t%d", i), env, accessv1alpha1.TeamOwner))
		}
		for i, o := range quick {
			create(o)
			if i%2 == 1 {
				time.Sleep(20 * time.Millisecond) // some get as far as their finalizer or their create
			}
			Expect(k8sClient.Delete(ctx, o)).To(Succeed())
		}
		waitGone("30s", quick...)
		// A create the controller was making when its object went is removed by its deletion;
		// give a late one the time to show.
		Consistently(func(g Gomega) {
			d := dumpOf(dv)
			var left []string
			for i := 0; i < n; i++ {
				if recordNamed(d.Roles, "name", fmt.Sprintf("Quick %d", i)) != nil {
					left = append(left, fmt.Sprintf("role Quick %d", i))
				}
				if recordNamed(d.Users, "applicationid", appID(i)) != nil {
					left = append(left, "application user "+appID(i))
				}
				if recordNamed(d.Teams, "name", fmt.Sprintf("quick-t%d", i)) != nil {
					left = append(left, fmt.Sprintf("team quick-t%d", i))
				}
			}
			g.Expect(left).To(BeEmpty(), "records left behind by objects that are gone")
		}, "2s", "200ms").Should(Succeed())
		fmt.Fprintf(GinkgoWriter, "quick objects: %d creates made, %d deletes\n",
			len(creates(dv, "roles"))+len(creates(dv, "systemusers"))+len(creates(dv, "teams")), countMethod(dv, http.MethodDelete))
	})

	It("a 502 after a create the service applied leaves exactly one record (an unknown outcome is looked up before it is retried): a role, an application user and a team whose create was applied and answered 502 end Synced True, each with one record and one POST", func() {
		const env = "once"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage)
		create(e)
		Eventually(readyReason(environment(ns, env)), "30s").Should(Equal("True"))
		for _, set := range []string{"roles", "systemusers", "teams"} {
			emu.AddFault(emulator.Fault{Environment: dv, Method: http.MethodPost, PathContains: set, Status: http.StatusBadGateway,
				Message: "bad gateway", After: true})
		}
		DeferCleanup(emu.ClearFaults)
		const appID = "91111111-2222-4333-8444-555555555555"
		r := role(ns, "seller", env, roleNamed("Seller"))
		app := appUser(ns, "erp", env, appID)
		t := team(ns, "closers", env, accessv1alpha1.TeamOwner)
		create(r, app, t)
		for _, o := range []client.Object{r, app, t} {
			Eventually(func() string { return syncedCondition(o) }, "30s").Should(Equal("True/"+accessv1alpha1.ReasonSynced), o.GetName())
		}
		d := dumpOf(dv)
		Expect(countNamed(d.Roles, "name", "Seller")).To(Equal(1))
		Expect(countNamed(d.Users, "applicationid", appID)).To(Equal(1))
		Expect(countNamed(d.Teams, "name", "closers")).To(Equal(1))
		Expect(duplicates(d)).To(BeEmpty())
		for set, rec := range map[string]struct {
			obj client.Object
			id  func() string
		}{
			"roles":       {r, func() string { return r.Status.Dataverse.ID }},
			"systemusers": {app, func() string { return app.Status.Dataverse.ID }},
			"teams":       {t, func() string { return t.Status.Dataverse.ID }},
		} {
			made := creates(dv, set)
			Expect(made).To(HaveLen(1), "exactly one POST %s", set)
			Expect(made[0].Status).To(Equal(http.StatusBadGateway))
			Expect(made[0].Applied).To(Equal(http.StatusNoContent), "the create was made before the 502")
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rec.obj), rec.obj)).To(Succeed())
			Expect(rec.id()).NotTo(BeEmpty(), "%s: the record found by its natural key is recorded", rec.obj.GetName())
		}
		Expect(r.Status.Dataverse.ID).To(Equal(recordNamed(d.Roles, "name", "Seller")["roleid"]))
		Expect(app.Status.Dataverse.ID).To(Equal(recordNamed(d.Users, "applicationid", appID)["systemuserid"]))
		Expect(t.Status.Dataverse.ID).To(Equal(recordNamed(d.Teams, "name", "closers")["teamid"]))
	})

	It("Observe issues no write (the management policy is checked in exactly one place): with drift of every kind — a missing unit, a user's access mode and an extra role, a role's privileges, a missing team, application user and person — every object is Synced False Drifted and the environment got reads only, no addUser", func() {
		const env = "lookonly"
		const appID = "a1111111-2222-4333-8444-555555555555"
		const graceOID = "6b9f3a1e-5c7d-4e2f-8a6b-1c2d3e4f5a6b"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementObserve, func(e *accessv1alpha1.Environment) {
			e.Spec.BusinessUnits = []accessv1alpha1.BusinessUnit{{Name: "hq"}, {Name: "sales", Parent: "hq"}}
		})
		By("another admin made the environment differ from the decided state")
		cl := emulatorClient(dv)
		root, err := cl.RootBusinessUnit(ctx)
		Expect(err).NotTo(HaveOccurred())
		sellerID, err := cl.CreateRole(ctx, "Seller", root.ID, dataverse.InheritanceDirectUserBasicAndTeam)
		Expect(err).NotTo(HaveOccurred())
		Expect(emu.SetRolePrivileges(dv, sellerID, map[string]string{"prvDeleteAccount": "Global"})).To(Succeed())
		adaID, err := emu.AddUnmanagedUser(dv, map[string]any{"domainname": "ada@contoso.com", "accessmode": 1})
		Expect(err).NotTo(HaveOccurred())
		delegate, err := cl.RoleByName(ctx, "Delegate", root.ID)
		Expect(err).NotTo(HaveOccurred())
		Expect(cl.AssignUserRole(ctx, adaID, delegate.ID)).To(Succeed())
		Expect(emu.SetEntraUser(dv, emulator.EntraUser{ObjectID: graceOID, UPN: "grace@contoso.com", Licensed: true})).To(Succeed())
		before := dumpOf(dv)

		t0 := time.Now()
		ppenv := environment(ns, env)
		r := role(ns, "seller", env, roleNamed("Seller"))
		ada := user(ns, "ada", env, withLicense("PLAN1"), withRoles("seller"))
		grace := user(ns, "grace", env, withLicense("PLAN1"), withRoles("seller"), withEntraObjectID(graceOID))
		t := team(ns, "closers", env, accessv1alpha1.TeamOwner, teamRoles("seller"))
		app := appUser(ns, "erp", env, appID, "seller")
		create(e, r, ada, grace, t, app)
		for o, why := range map[client.Object][]string{
			ppenv: {"business unit sales missing"},
			r:     {"privileges differ"},
			ada:   {"accessmode Administrative, decided ReadWrite", "role Seller not assigned", "role Delegate assigned but not decided"},
			grace: {"not in Dataverse: added from Entra ID"},
			t:     {"team missing"},
			app:   {"application user missing"},
		} {
			Eventually(func() string { return syncedCondition(o) }, "60s").Should(Equal("False/"+accessv1alpha1.ReasonDrifted), o.GetName())
			msg := condition(o, accessv1alpha1.ConditionSynced).Message
			for _, w := range why {
				Expect(msg).To(ContainSubstring(w), "%s: the Drifted message names what differs", o.GetName())
			}
			Expect(msg).To(ContainSubstring("nothing written"))
		}
		Consistently(func() []string { return nonReads(t0, dv) }, "2s", "200ms").Should(BeEmpty(), "Observe sends reads only")
		log := requestsTo(t0, dv, emu.EnvironmentID(dv))
		Expect(log).NotTo(BeEmpty(), "the environment was observed")
		fmt.Fprintf(GinkgoWriter, "Observe: %d requests, all GET\n", len(log))
		after := dumpOf(dv)
		Expect(after.Roles).To(Equal(before.Roles), "roles and their privileges are as they were")
		Expect(after.Users).To(Equal(before.Users), "users, their access modes and roles are as they were")
		Expect(after.Teams).To(Equal(before.Teams))
		Expect(after.BusinessUnits).To(Equal(before.BusinessUnits))
		Expect(after.PendingEntra).To(BeEmpty(), "no addUser")
	})

	It("a fixed Secret is used within a minute (credentials are read once per Environment per reconcile, and Unauthorized tries again within a minute): an Environment whose Secret is missing is Synced False Unauthorized, and once the Secret is created the Environment and its role are Synced True within 60s", func() {
		const env = "fixme"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage, func(e *accessv1alpha1.Environment) {
			e.Spec.Dataverse.CredentialsSecretRef.Name = "late-dataverse"
		})
		r := role(ns, "seller", env, roleNamed("Seller"))
		create(e, r)
		ppenv := environment(ns, env)
		Eventually(func() string { return syncedCondition(ppenv) }, "30s").Should(Equal("False/" + accessv1alpha1.ReasonUnauthorized))
		Eventually(func() string { return syncedCondition(r) }, "30s").Should(Equal("False/" + accessv1alpha1.ReasonUnauthorized))
		Expect(recordNamed(dumpOf(dv).Roles, "name", "Seller")).To(BeNil())

		By("the Secret's owner creates it")
		create(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "late-dataverse"},
			StringData: map[string]string{"tenantId": "t", "clientId": emulator.OperatorApplicationID, "clientSecret": "s"}})
		fixed := time.Now()
		deadline := fixed.Add(60 * time.Second)
		Eventually(func() string { return syncedCondition(ppenv) }, time.Until(deadline)).Should(Equal("True/" + accessv1alpha1.ReasonSynced))
		envAfter := time.Since(fixed)
		Eventually(func() string { return syncedCondition(r) }, time.Until(deadline)).Should(Equal("True/" + accessv1alpha1.ReasonSynced))
		roleAfter := time.Since(fixed)
		fmt.Fprintf(GinkgoWriter, "fixed Secret: Environment Synced after %s, role after %s\n", envAfter.Round(time.Millisecond), roleAfter.Round(time.Millisecond))
		Expect(recordNamed(dumpOf(dv).Roles, "name", "Seller")).NotTo(BeNil())
	})

	It("state with a lifecycle (every in-memory map returns to its size once what it was about is gone): 1,000 objects in 4 environments are all synced, the controllers' state grows with them, and after they and their environments are deleted every entry of StateSizes is back where it started", func() {
		const envs, users, roles, teams, apps = 4, 189, 25, 15, 20 // 4 + 4×(189+25+15+20) = 1,000
		start := stableStateSizes()
		var objs []client.Object
		for i := 0; i < envs; i++ {
			name := fmt.Sprintf("fleet%d", i)
			e, dv := syncedEnvironment(ns, name, accessv1alpha1.ManagementManage)
			objs = append(objs, e)
			for j := 0; j < users; j++ {
				u := user(ns, fmt.Sprintf("u%d-%d", i, j), name, withLicense("PLAN1"), withRoles(fmt.Sprintf("r%d-%d", i, j%roles)))
				_, err := emu.AddUnmanagedUser(dv, map[string]any{"domainname": u.Spec.UserName, "accessmode": 0})
				Expect(err).NotTo(HaveOccurred())
				objs = append(objs, u)
			}
			for j := 0; j < roles; j++ {
				objs = append(objs, role(ns, fmt.Sprintf("r%d-%d", i, j), name))
			}
			for j := 0; j < teams; j++ {
				objs = append(objs, team(ns, fmt.Sprintf("t%d-%d", i, j), name, accessv1alpha1.TeamOwner, teamRoles(fmt.Sprintf("r%d-%d", i, j))))
			}
			for j := 0; j < apps; j++ {
				objs = append(objs, appUser(ns, fmt.Sprintf("a%d-%d", i, j), name, fmt.Sprintf("b%03d%04d-2222-4333-8444-555555555555", i, j)))
			}
		}
		Expect(objs).To(HaveLen(1000))
		began := time.Now()
		create(objs...)
		fmt.Fprintf(GinkgoWriter, "created %d objects in %s\n", len(objs), time.Since(began).Round(time.Millisecond))
		// Every object and the environments' built-in roles have been synced at least once.
		total := len(objs) + 3*envs
		Eventually(func(g Gomega) {
			synced, all := syncedCount(ns)
			g.Expect(all).To(Equal(total))
			g.Expect(synced).To(Equal(total))
		}, "4m", "1s").Should(Succeed())
		fmt.Fprintf(GinkgoWriter, "all %d synced in %s\n", total, time.Since(began).Round(time.Millisecond))
		peak := stateSizes()
		Expect(peak["synced"]).To(BeNumerically(">=", start["synced"]+total), "one sync outcome per object")
		Expect(peak["environments"]).To(BeNumerically(">=", start["environments"]+envs), "one connection per environment")
		Expect(peak["limiters"]).To(BeNumerically(">=", start["limiters"]+envs), "one limiter per environment")

		By("deleting the dependents, then the environments")
		for _, o := range []client.Object{&accessv1alpha1.PlatformUser{}, &accessv1alpha1.Team{}, &accessv1alpha1.ApplicationUser{}} {
			Expect(k8sClient.DeleteAllOf(ctx, o, client.InNamespace(ns))).To(Succeed())
		}
		Expect(k8sClient.DeleteAllOf(ctx, &accessv1alpha1.SecurityRole{}, client.InNamespace(ns), notBuiltIn())).To(Succeed())
		Eventually(func() int { _, all := syncedCount(ns); return all }, "2m", "1s").Should(Equal(envs+3*envs), "only the environments and their built-in roles are left")
		Expect(k8sClient.DeleteAllOf(ctx, &accessv1alpha1.Environment{}, client.InNamespace(ns))).To(Succeed())
		Eventually(func() int { _, all := syncedCount(ns); return all }, "1m", "1s").Should(BeZero())
		// The admin API's limiter is the manager's, shared by every environment, not one of
		// these environments': it is made by the first connection the manager ever makes.
		want := start
		if start["environments"] == 0 && start["limiters"] == 0 {
			want = map[string]int{}
			for k, v := range start {
				want[k] = v
			}
			want["limiters"] = 1
		}
		Eventually(stateSizes, "2m", "500ms").Should(Equal(want), "every map is back to its size at the start")
		fmt.Fprintf(GinkgoWriter, "state sizes: start %v, peak %v, after %v (in %s)\n", start, peak, stateSizes(), time.Since(began).Round(time.Second))
	})

	It("an unknown outcome is looked up before it is retried, and a lookup that failed is not an absence: a person whose lookups Dataverse answers 429 is Synced False Throttled (or SyncPending), not AwaitingEntraSync, and no addUser is sent for a failed lookup (only the one the snapshot's absence asks at the first look)", func() {
		const env = "lookup"
		const oid = "7b9f3a1e-5c7d-4e2f-8a6b-1c2d3e4f5a6b"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage)
		create(e, role(ns, "seller", env))
		Eventually(readyReason(environment(ns, env)), "30s").Should(Equal("True"))
		Eventually(readyReason(securityRole(ns, "seller")), "30s").Should(Equal("True"))
		// Ada arrives after the environment's snapshot was read: the first look takes the
		// snapshot's absence (one addUser, which adds or updates), every later one must look her up.
		_, err := emu.AddUnmanagedUser(dv, map[string]any{"domainname": "ada@contoso.com", "azureactivedirectoryobjectid": oid, "accessmode": 0})
		Expect(err).NotTo(HaveOccurred())
		emu.AddFault(emulator.Fault{Environment: dv, Method: http.MethodGet, PathContains: "systemusers", Status: http.StatusTooManyRequests,
			Code: "0x80072322", RetryAfter: 30, Count: 1 << 30, Message: "Number of requests exceeded the limit of 6000 over time window of 300 seconds."})
		DeferCleanup(emu.ClearFaults)
		t0 := time.Now()
		ada := user(ns, "ada", env, withLicense("PLAN1"), withRoles("seller"), withEntraObjectID(oid))
		create(ada)
		Eventually(func() string { return syncedCondition(ada) }, "15s").ShouldNot(Equal("<pending>"))
		time.Sleep(time.Second) // what a sync that took the failure for an absence would send
		var adds []string
		for _, r := range requestsTo(t0, emu.EnvironmentID(dv)) {
			adds = append(adds, r.Method+" "+apiPath(r))
		}
		Expect(len(adds)).To(BeNumerically("<=", 1), "no addUser for a person whose lookup failed, only the first look's (Synced %s): %v", syncedCondition(ada), adds)
		stopped := Or(Equal("False/"+accessv1alpha1.ReasonThrottled), Equal("False/"+accessv1alpha1.ReasonSyncPending))
		Consistently(func() string { return syncedCondition(ada) }, "2s", "100ms").Should(stopped)
	})

	It("one throttled environment does not slow another (each environment has its own limiter and no worker waits long): while environment A answers every request 429 with Retry-After 60, environment B's objects converge within max(2×, +5s) of their time alone, and A says Throttled or SyncPending", func() {
		const people, roleCount = 30, 3
		objectsOf := func(ns, env, dv string) []client.Object {
			var out []client.Object
			for j := 0; j < roleCount; j++ {
				out = append(out, role(ns, fmt.Sprintf("%s-r%d", env, j), env))
			}
			for j := 0; j < people; j++ {
				u := user(ns, fmt.Sprintf("%s-u%d", env, j), env, withLicense("PLAN1"), withRoles(fmt.Sprintf("%s-r%d", env, j%roleCount)))
				_, err := emu.AddUnmanagedUser(dv, map[string]any{"domainname": u.Spec.UserName, "accessmode": 0})
				Expect(err).NotTo(HaveOccurred())
				out = append(out, u)
			}
			return out
		}
		allReady := func(objs []client.Object) func(g Gomega) {
			return func(g Gomega) {
				for _, o := range objs {
					g.Expect(readyReason(o)()).To(Equal("True"), o.GetName())
					g.Expect(syncedCondition(o)).To(Equal("True/"+accessv1alpha1.ReasonSynced), o.GetName())
				}
			}
		}

		By("B alone")
		eb, dvb := syncedEnvironment(ns, "b", accessv1alpha1.ManagementManage)
		create(eb)
		Eventually(readyReason(environment(ns, "b")), "30s").Should(Equal("True"))
		bAlone := objectsOf(ns, "b", dvb)
		began := time.Now()
		create(bAlone...)
		Eventually(allReady(bAlone), "60s", "200ms").Should(Succeed())
		alone := time.Since(began)

		By("A throttled, B beside it")
		ns2 := newNamespace()
		ea, dva := syncedEnvironment(ns2, "a", accessv1alpha1.ManagementManage)
		eb2, dvb2 := syncedEnvironment(ns2, "b", accessv1alpha1.ManagementManage)
		create(ea, eb2)
		Eventually(readyReason(environment(ns2, "a")), "30s").Should(Equal("True"))
		Eventually(readyReason(environment(ns2, "b")), "30s").Should(Equal("True"))
		// The emulator scopes a fault to one environment and repeats it Count times: far more
		// than the spec sends, so A throttles for the whole spec; it is cleared at the end.
		emu.AddFault(emulator.Fault{Environment: dva, Status: http.StatusTooManyRequests, Code: "0x80072322", RetryAfter: 60, Count: 1 << 30,
			Message: "Number of requests exceeded the limit of 6000 over time window of 300 seconds."})
		DeferCleanup(emu.ClearFaults)
		aObjs := objectsOf(ns2, "a", dva)
		bObjs := objectsOf(ns2, "b", dvb2)
		var both []client.Object
		for i := range aObjs { // A's first, so B's wait behind them in the queues
			both = append(both, aObjs[i], bObjs[i])
		}
		began = time.Now()
		create(both...)
		limit := max(2*alone, alone+5*time.Second)
		Eventually(allReady(bObjs), limit, "200ms").Should(Succeed(), "B converges within %s (alone: %s)", limit, alone)
		beside := time.Since(began)
		fmt.Fprintf(GinkgoWriter, "B alone converged in %s; beside throttled A in %s (limit %s)\n", alone.Round(time.Millisecond), beside.Round(time.Millisecond), limit.Round(time.Millisecond))

		Eventually(func() string { return syncedCondition(environment(ns2, "a")) }, "10s").Should(
			Or(Equal("False/"+accessv1alpha1.ReasonThrottled), Equal("False/"+accessv1alpha1.ReasonSyncPending)))
		reasons := map[string]int{}
		for _, o := range aObjs {
			c := syncedCondition(o)
			reasons[c]++
			Expect(c).To(Or(Equal("False/"+accessv1alpha1.ReasonThrottled), Equal("False/"+accessv1alpha1.ReasonSyncPending)), o.GetName())
		}
		refused := 0
		for _, r := range requestsTo(began, dva) {
			if r.Status == http.StatusTooManyRequests {
				refused++
			}
		}
		fmt.Fprintf(GinkgoWriter, "A: objects by Synced %v (SyncPending: the operator's own limiter), %d requests answered 429\n", reasons, refused)
		Expect(refused).To(BeNumerically(">", 0), "A's objects met the service's 429")
		Expect(recordNamed(dumpOf(dva).Roles, "name", "a-r0")).To(BeNil(), "nothing reached A")
	})
})

// lastDeleted is the id of the last record of set a DELETE was sent for.
func lastDeleted(dv, set string) string {
	id := ""
	for _, r := range requestsTo(time.Time{}, dv) {
		p := apiPath(r)
		if r.Method == http.MethodDelete && strings.HasPrefix(p, set+"(") && strings.HasSuffix(p, ")") {
			id = strings.TrimSuffix(strings.TrimPrefix(p, set+"("), ")")
		}
	}
	return id
}

func countMethod(dv, method string) int {
	n := 0
	for _, r := range requestsTo(time.Time{}, dv) {
		if r.Method == method {
			n++
		}
	}
	return n
}

// nonReads lists the requests since t0 to an environment (its Web API and its admin API) that are
// not GETs: writes, bound actions, addUser.
func nonReads(t0 time.Time, dv string) []string {
	var out []string
	for _, r := range requestsTo(t0, dv, emu.EnvironmentID(dv)) {
		if r.Method != http.MethodGet {
			out = append(out, r.Method+" "+apiPath(r))
		}
	}
	return out
}
