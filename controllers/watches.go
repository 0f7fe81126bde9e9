package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/allocation"
)

type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

// environmentToDependents enqueues the objects of list's kind that belong to an Environment. On
// an update, only a spec change or deletion concerns all of them (no dependent reads the
// Environment's conditions); a ledger change concerns the users whose place in it changed (picked
// by which), so a grant does not wake the whole environment.
func environmentToDependents(c client.Reader, list func() client.ObjectList, which func(oldEnv, newEnv *accessv1alpha1.Environment) []string) handler.EventHandler {
	all := func(ctx context.Context, env client.Object, q queue) {
		for _, r := range requestsFor(ctx, c, list(), env.GetNamespace(), indexEnvironment, []string{env.GetName()}, types.NamespacedName{}) {
			q.Add(r)
		}
	}
	return handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q queue) { all(ctx, e.Object, q) },
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q queue) { all(ctx, e.Object, q) },
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			oldEnv, newEnv := e.ObjectOld.(*accessv1alpha1.Environment), e.ObjectNew.(*accessv1alpha1.Environment)
			if oldEnv.Generation != newEnv.Generation || !oldEnv.DeletionTimestamp.Equal(newEnv.DeletionTimestamp) ||
				!equality.Semantic.DeepEqual(businessUnitRecords(oldEnv), businessUnitRecords(newEnv)) {
				all(ctx, newEnv, q)
				return
			}
			if which == nil {
				return
			}
			for _, name := range which(oldEnv, newEnv) {
				q.Add(reconcile.Request{NamespacedName: types.NamespacedName{Namespace: newEnv.Namespace, Name: name}})
			}
		},
	}
}

// businessUnitRecords are the Dataverse ids of the environment's units: every dependent's sync
// waits for its unit's.
func businessUnitRecords(env *accessv1alpha1.Environment) []accessv1alpha1.BusinessUnitRecord {
	if env.Status.Dataverse == nil {
		return nil
	}
	return env.Status.Dataverse.BusinessUnits
}

func environmentToUsers(c client.Reader) handler.EventHandler {
	return environmentToDependents(c, func() client.ObjectList { return &accessv1alpha1.PlatformUserList{} }, ledgerChanges)
}

// ledgerChanges returns the users whose place in a slot or seat ledger differs between two
// versions of an Environment: the users whose conditions the change can alter.
func ledgerChanges(oldEnv, newEnv *accessv1alpha1.Environment) []string {
	before, after := ledgerPlaces(oldEnv), ledgerPlaces(newEnv)
	changed := map[string]bool{}
	for k, p := range before {
		if q, ok := after[k]; !ok || q != p {
			changed[k.user] = true
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			changed[k.user] = true
		}
	}
	out := make([]string, 0, len(changed))
	for n := range changed {
		out = append(out, n)
	}
	return out
}

type ledgerKey struct{ ledger, user string }

// ledgerPlaces maps every user of env's ledgers to what its conditions say of its place: that it
// holds, or its position in a line of a given length.
func ledgerPlaces(env *accessv1alpha1.Environment) map[ledgerKey]allocation.Place {
	out := map[ledgerKey]allocation.Place{}
	add := func(ledger string, holders, waiting []accessv1alpha1.LedgerEntry) {
		for _, h := range holders {
			out[ledgerKey{ledger, h.Name}] = allocation.Place{Held: true}
		}
		for i, w := range waiting {
			out[ledgerKey{ledger, w.Name}] = allocation.Place{Position: i + 1, Waiting: len(waiting)}
		}
	}
	if l := env.Status.NonInteractive; l != nil {
		add("slots", l.Holders, l.Waiting)
	}
	for _, s := range env.Status.Seats {
		add("seats/"+s.SKU, s.Holders, s.Waiting)
	}
	return out
}

// roleChanged passes creations, deletions and spec changes of a role.
func roleChanged() predicate.Predicate { return predicate.GenerationChangedPredicate{} }

// createdOrDeleted passes only creations and deletions.
func createdOrDeleted() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }}
}

// userAllocationChanged passes the PlatformUser changes the Environment's ledger and counts
// depend on: creation, deletion and spec changes. The Environment decides the users' enablement
// for its counts itself, so their status writes do not wake it.
func userAllocationChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() || !deletionEqual(e.ObjectOld, e.ObjectNew)
	}}
}

// appUserCountChanged passes the ApplicationUser changes the Environment's counts depend on.
func appUserCountChanged() predicate.Predicate { return userAllocationChanged() }

func deletionEqual(a, b client.Object) bool {
	return a.GetDeletionTimestamp().Equal(b.GetDeletionTimestamp())
}

// toEnvironment maps an object to the Environment it names.
func toEnvironment() handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: environmentNameOf(o)}}}
	})
}
