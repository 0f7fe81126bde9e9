package controllers_test

import (
	"context"
	"fmt"
	"github.com/google/go-cmp/cmp"
	"sort"
	"strings"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/controllers"
)

// fleet is one environment's worth of objects of every kind, in the order a person would apply
// them: environment, roles, teams, users.
func fleet(ns string) []client.Object {
	const env = "fleet"
	objs := []client.Object{
		environment(ns, env, func(e *accessv1alpha1.Environment) {
			e.Spec.SecurityGroup = "sg-fleet"
			e.Spec.BusinessUnits = []accessv1alpha1.BusinessUnit{{Name: "hq"}, {Name: "sales", Parent: "hq"}}
			e.Spec.Licenses = []accessv1alpha1.LicenseSeats{{SKU: "PLAN1", Seats: 2}}
		}),
		role(ns, "seller", env),
		role(ns, "sales-only", env, func(r *accessv1alpha1.SecurityRole) { r.Spec.BusinessUnit = "sales" }),
		&accessv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sellers"},
			Spec: accessv1alpha1.TeamSpec{EnvironmentName: env, Type: accessv1alpha1.TeamAADSecurityGroup, Group: "sg-sellers", SecurityRoles: []string{"seller"}}},
	}
	inGroups := func(u *accessv1alpha1.PlatformUser) { u.Spec.SecurityGroups = []string{"sg-fleet", "sg-sellers"} }
	for i := 0; i < 9; i++ {
		objs = append(objs, user(ns, fmt.Sprintf("bot-%d", i), env, nonInteractive, inGroups))
	}
	for i := 0; i < 3; i++ {
		objs = append(objs, user(ns, fmt.Sprintf("rep-%d", i), env, withLicense("PLAN1"), inGroups))
	}
	objs = append(objs,
		user(ns, "wrong-unit", env, withLicense("PLAN9"), withRoles("sales-only")),
		&accessv1alpha1.ApplicationUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "erp"},
			Spec: accessv1alpha1.ApplicationUserSpec{EnvironmentName: env, Enabled: true, ApplicationID: "12345678-1234-4234-8234-123456789012", SecurityRoles: []string{"seller"}}},
	)
	return objs
}

// snapshot is what a person sees of a namespace's objects: conditions without times, ledgers
// without times, and the derived status fields, keyed by kind and name.
func snapshot(ns string) map[string]string {
	out := map[string]string{}
	conds := func(cs []metav1.Condition) string {
		var parts []string
		for _, c := range cs {
			parts = append(parts, fmt.Sprintf("%s=%s/%s/%s", c.Type, c.Status, c.Reason, strings.ReplaceAll(c.Message, ns, "NS")))
		}
		sort.Strings(parts)
		return strings.Join(parts, "; ")
	}
	var envs accessv1alpha1.EnvironmentList
	var users accessv1alpha1.PlatformUserList
	var apps accessv1alpha1.ApplicationUserList
	var roles accessv1alpha1.SecurityRoleList
	var teams accessv1alpha1.TeamList
	for _, l := range []client.ObjectList{&envs, &users, &apps, &roles, &teams} {
		Expect(k8sClient.List(ctx, l, client.InNamespace(ns))).To(Succeed())
	}
	for _, e := range envs.Items {
		s := e.Status
		ledger := ""
		if s.NonInteractive != nil {
			ledger = fmt.Sprintf("slots %v waiting %v", ledgerNames(s.NonInteractive.Holders), ledgerNames(s.NonInteractive.Waiting))
		}
		for _, seat := range s.Seats {
			ledger += fmt.Sprintf(" %s %v waiting %v", seat.SKU, ledgerNames(seat.Holders), ledgerNames(seat.Waiting))
		}
		out["env/"+e.Name] = fmt.Sprintf("%s | %s | %+v", conds(s.Conditions), ledger, *s.Users)
	}
	for _, u := range users.Items {
		out["user/"+u.Name] = fmt.Sprintf("%s | enabled=%v access=%s roles=%v", conds(u.Status.Conditions), u.Status.Enabled, u.Status.Access, u.Status.EffectiveRoles)
	}
	for _, a := range apps.Items {
		out["app/"+a.Name] = fmt.Sprintf("%s | enabled=%v access=%s roles=%v", conds(a.Status.Conditions), a.Status.Enabled, a.Status.Access, a.Status.EffectiveRoles)
	}
	for _, r := range roles.Items {
		out["role/"+r.Name] = fmt.Sprintf("%s | %s %s", conds(r.Status.Conditions), r.Status.RoleName, r.Status.BusinessUnit)
	}
	for _, t := range teams.Items {
		out["team/"+t.Name] = fmt.Sprintf("%s | members=%d", conds(t.Status.Conditions), t.Status.MemberCount)
	}
	return out
}

// settled reports whether every object's Ready condition describes its current generation.
func settled(ns string) bool {
	var envs accessv1alpha1.EnvironmentList
	var users accessv1alpha1.PlatformUserList
	var apps accessv1alpha1.ApplicationUserList
	var roles accessv1alpha1.SecurityRoleList
	var teams accessv1alpha1.TeamList
	for _, l := range []client.ObjectList{&envs, &users, &apps, &roles, &teams} {
		Expect(k8sClient.List(ctx, l, client.InNamespace(ns))).To(Succeed())
	}
	var objs []client.Object
	for i := range envs.Items {
		objs = append(objs, &envs.Items[i])
	}
	for i := range users.Items {
		objs = append(objs, &users.Items[i])
	}
	for i := range apps.Items {
		objs = append(objs, &apps.Items[i])
	}
	for i := range roles.Items {
		objs = append(objs, &roles.Items[i])
	}
	for i := range teams.Items {
		objs = append(objs, &teams.Items[i])
	}
	for _, o := range objs {
		c := findReady(conditionsOf(o))
		if c == nil || c.ObservedGeneration != o.GetGeneration() || c.Reason == accessv1alpha1.ReasonReconciling || c.Reason == accessv1alpha1.ReasonAwaitingAllocation {
			return false
		}
	}
	return true
}

var _ = Describe("Convergence", func() {
	It("EV1 EV3: objects applied in reverse order (users before their environment) converge to the same state", func() {
		forward, reverse := newNamespace(), newNamespace()
		for _, o := range fleet(forward) {
			create(o)
		}
		// Dependents before what they depend on: users and application users, then teams, then
		// roles, then the environment. Within a kind the order stays, since EV1 grants by
		// creation time and a reversed line of users would rightly be served in reverse.
		rank := func(o client.Object) int {
			switch o.(type) {
			case *accessv1alpha1.PlatformUser, *accessv1alpha1.ApplicationUser:
				return 0
			case *accessv1alpha1.Team:
				return 1
			case *accessv1alpha1.SecurityRole:
				return 2
			}
			return 3
		}
		objs := fleet(reverse)
		sort.SliceStable(objs, func(i, j int) bool { return rank(objs[i]) < rank(objs[j]) })
		Expect(objs[0]).To(BeAssignableToTypeOf(&accessv1alpha1.PlatformUser{}))
		Expect(objs[len(objs)-1]).To(BeAssignableToTypeOf(&accessv1alpha1.Environment{}))
		for _, o := range objs {
			create(o)
		}
		Eventually(func() bool { return settled(forward) && settled(reverse) }).Should(BeTrue())
		Eventually(func() string { return cmp.Diff(snapshot(forward), snapshot(reverse)) }).Should(BeEmpty())

		got := snapshot(forward)
		Expect(got["env/fleet"]).To(ContainSubstring("slots [bot-0 bot-1 bot-2 bot-3 bot-4 bot-5 bot-6] waiting [bot-7 bot-8]"))
		Expect(got["env/fleet"]).To(ContainSubstring("PLAN1 [rep-0 rep-1] waiting [rep-2]"))
		Expect(got["user/bot-8"]).To(ContainSubstring("Ready=False/NonInteractiveLimitReached"))
		Expect(got["user/rep-2"]).To(ContainSubstring("Ready=False/SeatsExhausted"))
		Expect(got["user/wrong-unit"]).To(ContainSubstring("Ready=False/LicenseNotOffered"))
		Expect(got["user/rep-0"]).To(ContainSubstring("Ready=True"))
		Expect(got["team/sellers"]).To(ContainSubstring("members=12"))
	})

	It("no write when nothing changed: a further reconcile of every converged object writes nothing", func() {
		ns := newNamespace()
		for _, o := range fleet(ns) {
			create(o)
		}
		Eventually(func() bool { return settled(ns) }).Should(BeTrue())
		Eventually(func() string { return snapshot(ns)["env/fleet"] }).Should(ContainSubstring("waiting [bot-7 bot-8]"))
		// A group team writes its member count once its group has been quiet for a few seconds.
		Eventually(func() string { return snapshot(ns)["team/sellers"] }).Should(ContainSubstring("members=12"))
		// Let the manager's cache catch up with the last writes before reconciling by hand.
		Consistently(func() map[string]string { return snapshot(ns) }, "1s").Should(Equal(snapshot(ns)))

		counting := &writeCounter{Client: mgrClient}
		reconcilers := map[string]interface {
			Reconcile(ctx2 context.Context, req ctrl.Request) (ctrl.Result, error)
		}{
			"env":  &controllers.EnvironmentReconciler{Client: counting},
			"user": &controllers.PlatformUserReconciler{Client: counting},
			"app":  &controllers.ApplicationUserReconciler{Client: counting},
			"role": &controllers.SecurityRoleReconciler{Client: counting},
			"team": &controllers.TeamReconciler{Client: counting},
		}
		reconciled := 0
		for k := range snapshot(ns) {
			kind, name, _ := strings.Cut(k, "/")
			_, err := reconcilers[kind].Reconcile(ctx, ctrl.Request{NamespacedName: key(ns, name)})
			Expect(err).NotTo(HaveOccurred(), k)
			reconciled++
		}
		Expect(reconciled).To(BeNumerically(">=", 20))
		Expect(counting.writes.Load()).To(BeZero(), "writes after convergence")
	})
})

// writeCounter counts every write a reconciler makes through it.
type writeCounter struct {
	client.Client
	writes atomic.Int32
}

func (w *writeCounter) Create(c context.Context, obj client.Object, opts ...client.CreateOption) error {
	w.writes.Add(1)
	return w.Client.Create(c, obj, opts...)
}

func (w *writeCounter) Update(c context.Context, obj client.Object, opts ...client.UpdateOption) error {
	w.writes.Add(1)
	return w.Client.Update(c, obj, opts...)
}

func (w *writeCounter) Patch(c context.Context, obj client.Object, patch client.Patch, opts ...client.PatchOption) error {
	w.writes.Add(1)
	return w.Client.Patch(c, obj, patch, opts...)
}

func (w *writeCounter) Delete(c context.Context, obj client.Object, opts ...client.DeleteOption) error {
	w.writes.Add(1)
	return w.Client.Delete(c, obj, opts...)
}

func (w *writeCounter) Status() client.SubResourceWriter {
	return &statusCounter{SubResourceWriter: w.Client.Status(), w: w}
}

type statusCounter struct {
	client.SubResourceWriter
	w *writeCounter
}

func (s *statusCounter) Update(c context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	s.w.writes.Add(1)
	return s.SubResourceWriter.Update(c, obj, opts...)
}

func (s *statusCounter) Patch(c context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	s.w.writes.Add(1)
	return s.SubResourceWriter.Patch(c, obj, patch, opts...)
}
