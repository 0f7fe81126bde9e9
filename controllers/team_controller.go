package controllers

import (
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
	"github.com/accessplane/dataverse-access-operator/internal/dvsync"
)

// TeamReconciler reads a team's environment, roles and members, decides with decide.Team (SR5,
// TM1, EV3), and applies the desired team.
type TeamReconciler struct {
	client.Client
	Recorder events.EventRecorder
	sync     *syncStep
	entra    *entraStep
	recount  recountDebounce
}

const kindTeam = "Team"

func (r *TeamReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	return scaffold[accessv1alpha1.Team, *accessv1alpha1.Team]{
		client: r.Client, recorder: r.Recorder, decide: r.decide,
		status: func(t *accessv1alpha1.Team) any { return t.Status },
		onGone: func(ctx context.Context, key client.ObjectKey) (ctrl.Result, error) {
			r.recount.forget(key)
			return r.sync.gone(ctx, r.Client, kindTeam, key, deleteTeamRecord)
		},
		onDelete: r.reconcileDelete,
	}.reconcile(ctx, req)
}

func (r *TeamReconciler) decide(ctx context.Context, team *accessv1alpha1.Team) (decision, error) {
	in, err := decide.ReadTeam(ctx, newCacheReader(r.Client), team)
	if err != nil {
		return decision{}, err
	}
	out := decide.Team(in)
	// A group team's member count alone waits for its members' burst to end (groupRecount).
	if hold := r.recount.hold(client.ObjectKeyFromObject(team), time.Now()); hold > 0 && decide.OnlyMemberCountChanged(&team.Status, &out.Status) {
		return decision{deferWrite: true, requeueAfter: hold}, nil
	}
	team.Status = out.Status
	return decision{act: func(ctx context.Context) (acted, error) {
		if err := r.sync.keepRecordFinalizer(ctx, r.Client, in.Environment, team, out.Desired != nil); err != nil {
			return acted{}, err
		}
		// A group named by its display name goes to Dataverse as the object id Entra ID resolved.
		desired := r.entra.resolveGroup(in.Environment, out.Desired)
		after, events := r.sync.run(ctx, syncInput{env: in.Environment, obj: team, kind: kindTeam,
			conditions: &team.Status.Conditions, record: &team.Status.Dataverse, desired: desired,
			apply: func(ctx context.Context, t *dvsync.Target) dvsync.Result { return dvsync.Team(ctx, t, desired) }})
		return acted{events: events, requeueAfter: after}, nil
	}}, nil
}

// reconcileDelete removes the team's record when its environment deletes records.
func (r *TeamReconciler) reconcileDelete(ctx context.Context, team *accessv1alpha1.Team) (ctrl.Result, error) {
	return r.sync.deleteInDataverse(ctx, r.Client, team, team.Spec.EnvironmentName, deleteTeamRecord)
}

// deleteTeamRecord deletes a team's record, found by its id or its natural key (a group team's
// group, another's name in its unit).
func deleteTeamRecord(ctx context.Context, env *accessv1alpha1.Environment, t *dvsync.Target, o client.Object) error {
	team := o.(*accessv1alpha1.Team)
	bu := team.Status.BusinessUnit
	if bu == "" {
		bu = team.Spec.BusinessUnit
	}
	if bu == "" {
		bu = env.RootBusinessUnit()
	}
	return dvsync.DeleteTeam(ctx, t, recordID(team.Status.Dataverse), &decide.DesiredTeam{
		TeamName: team.DisplayTeamName(), Type: team.Spec.Type, Group: team.Spec.Group, BusinessUnit: bu})
}

// recountDebounce holds a group team's count-only status writes while users keep joining or
// leaving its group: the count is written once the group has been quiet for groupRecount, and
// at the latest groupRecountMax after the first change, instead of once per user.
type recountDebounce struct {
	mu      sync.Mutex
	pending map[client.ObjectKey]recountBurst
}

type recountBurst struct{ first, last time.Time }

// forget drops what is kept of a team that is gone.
func (d *recountDebounce) forget(k client.ObjectKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.pending, k)
}

func (d *recountDebounce) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.pending)
}

func (d *recountDebounce) touch(k client.ObjectKey, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending == nil {
		d.pending = map[client.ObjectKey]recountBurst{}
	}
	b, ok := d.pending[k]
	if !ok {
		b.first = now
	}
	b.last = now
	d.pending[k] = b
}

// hold is how long a count-only write of k should still wait; 0 once it may be written.
func (d *recountDebounce) hold(k client.ObjectKey, now time.Time) time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	b, ok := d.pending[k]
	if !ok {
		return 0
	}
	until := b.last.Add(groupRecount)
	if deadline := b.first.Add(groupRecountMax); deadline.Before(until) {
		until = deadline
	}
	if !now.Before(until) {
		delete(d.pending, k)
		return 0
	}
	return until.Sub(now)
}

func (r *TeamReconciler) SetupWithManager(mgr ctrl.Manager, opts controller.Options) error {
	c := mgr.GetClient()
	// Listed members reach their teams at once (a missing member is a condition to clear); a
	// group team only recounts its members (TM1), so a burst of users joining is counted in one
	// write once the burst is over (recountDebounce) rather than one per user.
	teamsOfUser := func(ctx context.Context, o client.Object, q queue) {
		u := o.(*accessv1alpha1.PlatformUser)
		for _, r := range requestsFor(ctx, c, &accessv1alpha1.TeamList{}, u.Namespace, indexMembers, []string{u.Name}, client.ObjectKey{}) {
			q.Add(r)
		}
		var groups []string
		for _, g := range u.Spec.SecurityGroups {
			groups = append(groups, key(u.Spec.EnvironmentName, g))
		}
		for _, req := range requestsFor(ctx, c, &accessv1alpha1.TeamList{}, u.Namespace, indexGroupKey, groups, client.ObjectKey{}) {
			r.recount.touch(req.NamespacedName, time.Now())
			q.AddAfter(req, groupRecount)
		}
	}
	usersToTeams := handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q queue) { teamsOfUser(ctx, e.Object, q) },
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q queue) { teamsOfUser(ctx, e.Object, q) },
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			teamsOfUser(ctx, e.ObjectOld, q)
			teamsOfUser(ctx, e.ObjectNew, q)
		},
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&accessv1alpha1.Team{}).
		Watches(&accessv1alpha1.Team{}, r.sync.recordDeletions(kindTeam)).
		Watches(&accessv1alpha1.Environment{}, environmentToDependents(c, func() client.ObjectList { return &accessv1alpha1.TeamList{} }, nil)).
		Watches(&accessv1alpha1.SecurityRole{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
			return requestsFor(ctx, c, &accessv1alpha1.TeamList{}, o.GetNamespace(), indexRoles, []string{o.GetName()}, client.ObjectKey{})
		}), builder.WithPredicates(roleChanged())).
		// Membership follows users: creation, deletion, and changes of their groups (TM1).
		Watches(&accessv1alpha1.PlatformUser{}, usersToTeams, builder.WithPredicates(predicate.Funcs{
			UpdateFunc: func(e event.UpdateEvent) bool {
				a, b := e.ObjectOld.(*accessv1alpha1.PlatformUser), e.ObjectNew.(*accessv1alpha1.PlatformUser)
				// A member's Dataverse record lets the team's sync add it.
				return !slices.Equal(a.Spec.SecurityGroups, b.Spec.SecurityGroups) || recordID(a.Status.Dataverse) != recordID(b.Status.Dataverse)
			},
		})).
		WithOptions(opts).
		Complete(r)
}

// groupRecount is how long a group's membership must be quiet before its team writes a new member
// count, and groupRecountMax the longest a count waits: members arrive in bursts (a GitOps sync
// applies hundreds of users), and the count is the only thing that changes.
const (
	groupRecount    = 5 * time.Second
	groupRecountMax = time.Minute
)
