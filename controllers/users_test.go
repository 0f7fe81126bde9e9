package controllers_test

import (
	"fmt"
	"sort"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

func slotHolders(ns, env string) func() []string {
	return func() []string {
		var e accessv1alpha1.Environment
		Expect(k8sClient.Get(ctx, key(ns, env), &e)).To(Succeed())
		if e.Status.NonInteractive == nil {
			return nil
		}
		return ledgerNames(e.Status.NonInteractive.Holders)
	}
}

func slotWaiting(ns, env string) []string {
	var e accessv1alpha1.Environment
	Expect(k8sClient.Get(ctx, key(ns, env), &e)).To(Succeed())
	if e.Status.NonInteractive == nil {
		return nil
	}
	return ledgerNames(e.Status.NonInteractive.Waiting)
}

func ledgerNames(es []accessv1alpha1.LedgerEntry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

var _ = Describe("Non-interactive slots", func() {
	var ns string
	const env = "ops"
	var users []*accessv1alpha1.PlatformUser

	BeforeEach(func() {
		ns = newNamespace()
		create(environment(ns, env), role(ns, "integration", env))
		users = nil
		for i := 0; i < 20; i++ {
			users = append(users, user(ns, fmt.Sprintf("ni-%02d", i), env, nonInteractive, withRoles("integration")))
		}
		// AM6: twenty users created at once, in parallel.
		var wg sync.WaitGroup
		for _, u := range users {
			wg.Add(1)
			go func(u *accessv1alpha1.PlatformUser) {
				defer GinkgoRecover()
				defer wg.Done()
				Expect(k8sClient.Create(ctx, u)).To(Succeed())
			}(u)
		}
		wg.Wait()
	})

	// creationOrder is the order EV1 grants in: creation time, name as tie-break.
	creationOrder := func() []string {
		var list accessv1alpha1.PlatformUserList
		Expect(k8sClient.List(ctx, &list, client.InNamespace(ns))).To(Succeed())
		sort.Slice(list.Items, func(i, j int) bool {
			a, b := list.Items[i], list.Items[j]
			if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
				return a.CreationTimestamp.Before(&b.CreationTimestamp)
			}
			return a.Name < b.Name
		})
		var out []string
		for _, u := range list.Items {
			out = append(out, u.Name)
		}
		return out
	}

	It("AM6 EV1: of 20 NonInteractive users created concurrently exactly 7 hold slots and 13 wait in creation order", func() {
		order := creationOrder()
		Eventually(slotHolders(ns, env)).Should(Equal(order[:7]))
		Expect(slotWaiting(ns, env)).To(Equal(order[7:]))

		for i, name := range order {
			u := &accessv1alpha1.PlatformUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
			if i < 7 {
				Eventually(readyReason(u)).Should(Equal("True"), name)
				Expect(condition(u, accessv1alpha1.ConditionNonInteractiveSlot).Reason).To(Equal(accessv1alpha1.ReasonSlotGranted))
				Expect(u.Status.Access).To(Equal(accessv1alpha1.AccessProgrammatic), "AM4: NonInteractive is programmatic only")
				continue
			}
			Eventually(readyReason(u)).Should(Equal(accessv1alpha1.ReasonNonInteractiveLimitReached), name)
			Expect(stalledReason(u)).To(Equal(accessv1alpha1.ReasonNonInteractiveLimitReached), "Stalled names the same reason")
			ready := condition(u, accessv1alpha1.ConditionReady)
			Expect(ready.Message).To(ContainSubstring(fmt.Sprintf("%s@contoso.com is %s of 13 waiting", name, ordinalOf(i-6))))
			Expect(ready.Message).To(ContainSubstring("delete a NonInteractive user"))
		}

		By("the environment shows 7/7 in its ledger")
		var e accessv1alpha1.Environment
		Expect(k8sClient.Get(ctx, key(ns, env), &e)).To(Succeed())
		Expect(e.Status.NonInteractive.Usage).To(Equal("7/7"))

		By("one Warning event on the Environment names the users waiting because the limit is reached")
		Eventually(func() []string {
			var evs eventsv1.EventList
			Expect(k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
			var notes []string
			for _, ev := range evs.Items {
				if ev.Regarding.Name == env && ev.Reason == accessv1alpha1.ReasonNonInteractiveLimitReached {
					notes = append(notes, ev.Note)
				}
			}
			return notes
		}).Should(ContainElement(ContainSubstring(order[7]+", ")), "the first waiter is named first")
	})

	It("EV1: deleting a holder promotes the first waiter; switching a holder to ReadWrite frees its slot; a switch to NonInteractive queues behind earlier waiters", func() {
		order := creationOrder()
		Eventually(slotHolders(ns, env)).Should(Equal(order[:7]))

		By("deleting a holder")
		Expect(k8sClient.Delete(ctx, &accessv1alpha1.PlatformUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: order[0]}})).To(Succeed())
		Eventually(slotHolders(ns, env)).Should(Equal(append(append([]string{}, order[1:7]...), order[7])))
		promoted := &accessv1alpha1.PlatformUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: order[7]}}
		Eventually(readyReason(promoted)).Should(Equal("True"))
		Expect(stalledReason(promoted)).To(BeEmpty())

		By("switching a holder to ReadWrite")
		holder := &accessv1alpha1.PlatformUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: order[1]}}
		update(holder, func(u *accessv1alpha1.PlatformUser) {
			u.Spec.AccessMode = accessv1alpha1.AccessModeReadWrite
			u.Spec.License = "PLAN1"
		})
		Eventually(slotHolders(ns, env)).Should(Equal(append(append([]string{}, order[2:7]...), order[7], order[8])))

		By("switching it back: it queues behind the earlier waiters")
		update(holder, func(u *accessv1alpha1.PlatformUser) {
			u.Spec.AccessMode = accessv1alpha1.AccessModeNonInteractive
			u.Spec.License = ""
		})
		Eventually(func() []string { return slotWaiting(ns, env) }).Should(Equal(append(append([]string{}, order[9:]...), order[1])))
		Eventually(readyReason(holder)).Should(Equal(accessv1alpha1.ReasonNonInteractiveLimitReached))
	})

	It("EV1: a second manager started after the first is stopped keeps holders and order", func() {
		order := creationOrder()
		Eventually(slotHolders(ns, env)).Should(Equal(order[:7]))
		Eventually(func() []string { return slotWaiting(ns, env) }).Should(Equal(order[7:]))
		var before accessv1alpha1.Environment
		Expect(k8sClient.Get(ctx, key(ns, env), &before)).To(Succeed())

		stopManager()
		runs := managerRuns.Load()
		stopManager = startManager()
		Expect(managerRuns.Load()).To(Equal(runs + 1))

		// Touch the environment so the new manager's authority reconciles it for sure.
		update(environment(ns, env), func(e *accessv1alpha1.Environment) { e.Annotations = map[string]string{"test/touch": "1"} })
		last := &accessv1alpha1.PlatformUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: order[19]}}
		Eventually(readyReason(last)).Should(Equal(accessv1alpha1.ReasonNonInteractiveLimitReached))
		Consistently(func() any {
			var now accessv1alpha1.Environment
			Expect(k8sClient.Get(ctx, key(ns, env), &now)).To(Succeed())
			return now.Status.NonInteractive
		}, "2s").Should(Equal(before.Status.NonInteractive), "holders, waiting order and grant times are unchanged")
	})

	It("AM7: 50 ApplicationUsers are all Ready and take no slot", func() {
		order := creationOrder()
		Eventually(slotHolders(ns, env)).Should(Equal(order[:7]))
		for i := 0; i < 50; i++ {
			create(&accessv1alpha1.ApplicationUser{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("app-%02d", i)},
				Spec: accessv1alpha1.ApplicationUserSpec{EnvironmentName: env, Enabled: true, SecurityRoles: []string{"integration"},
					ApplicationID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i)},
			})
		}
		Eventually(func() int {
			var apps accessv1alpha1.ApplicationUserList
			Expect(k8sClient.List(ctx, &apps, client.InNamespace(ns))).To(Succeed())
			ready := 0
			for i := range apps.Items {
				a := &apps.Items[i]
				if c := findReady(a.Status.Conditions); c != nil && c.Status == metav1.ConditionTrue && a.Status.Enabled && a.Status.Access == accessv1alpha1.AccessProgrammatic {
					ready++
				}
			}
			return ready
		}).Should(Equal(50))
		Eventually(func() int32 {
			var e accessv1alpha1.Environment
			Expect(k8sClient.Get(ctx, key(ns, env), &e)).To(Succeed())
			return e.Status.Users.Application
		}).Should(Equal(int32(50)))
		Expect(slotHolders(ns, env)()).To(Equal(order[:7]), "slot use unchanged")
		Expect(slotWaiting(ns, env)).To(Equal(order[7:]))
	})
})

func findReady(conds []metav1.Condition) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == accessv1alpha1.ConditionReady {
			return &conds[i]
		}
	}
	return nil
}

func ordinalOf(n int) string {
	switch n {
	case 1:
		return "1st"
	case 2:
		return "2nd"
	case 3:
		return "3rd"
	}
	return fmt.Sprintf("%dth", n)
}
