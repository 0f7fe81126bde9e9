package bench

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// kinds in the order the breakdown prints them.
var kinds = []string{"Environment", "SecurityRole", "PlatformUser", "ApplicationUser", "Team"}

func kindOf(o client.Object) string {
	switch o.(type) {
	case *accessv1alpha1.Environment:
		return "Environment"
	case *accessv1alpha1.SecurityRole:
		return "SecurityRole"
	case *accessv1alpha1.PlatformUser:
		return "PlatformUser"
	case *accessv1alpha1.ApplicationUser:
		return "ApplicationUser"
	case *accessv1alpha1.Team:
		return "Team"
	}
	return ""
}

// statusOf is a pointer to the object's status, for comparing and for copying it onto another
// object.
func statusOf(o client.Object) any {
	switch t := o.(type) {
	case *accessv1alpha1.Environment:
		return &t.Status
	case *accessv1alpha1.SecurityRole:
		return &t.Status
	case *accessv1alpha1.PlatformUser:
		return &t.Status
	case *accessv1alpha1.ApplicationUser:
		return &t.Status
	case *accessv1alpha1.Team:
		return &t.Status
	}
	return nil
}

// KindWrites counts what the bench's watch saw happen to the objects of one kind: every update is
// one write by someone (the bench's creates are Adds, so during convergence every update is the
// manager's), split by what changed.
type KindWrites struct {
	Objects int `json:"objects"`
	// Updates is every resourceVersion change after the create.
	Updates int `json:"updates"`
	// StatusChanges are the updates whose status differs from the previous version's.
	StatusChanges int `json:"statusChanges"`
	// TransitionTimeOnly are the status changes in which nothing but conditions'
	// lastTransitionTime moved: a condition set to another status and back within one
	// reconcile, written for nothing.
	TransitionTimeOnly int `json:"transitionTimeOnly"`
	// SpecChanges are the updates that moved metadata.generation.
	SpecChanges int `json:"specChanges"`
	// MetadataOnly are the rest: finalizers, labels, annotations, owner references.
	MetadataOnly int `json:"metadataOnly"`
	// StatusWhy counts the status changes by what changed: the conditions whose status or reason
	// moved ("Synced SyncPending>Synced"), else the top-level status fields that did.
	StatusWhy map[string]int `json:"statusWhy,omitempty"`
}

// transitionTimeOnly: the two versions' statuses differ only in their conditions'
// lastTransitionTime.
func transitionTimeOnly(old, o client.Object) bool {
	a, b := conditionsOf(old), conditionsOf(o)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Type != b[i].Type || a[i].Status != b[i].Status || a[i].Reason != b[i].Reason || a[i].Message != b[i].Message || a[i].ObservedGeneration != b[i].ObservedGeneration {
			return false
		}
	}
	// The conditions agree but for their times: compare the rest with old's times.
	c := o.DeepCopyObject().(client.Object)
	cc := c.(accessv1alpha1.ConditionsGetter).GetConditions()
	for i := range cc {
		cc[i].LastTransitionTime = a[i].LastTransitionTime
	}
	return equality.Semantic.DeepEqual(statusOf(old), statusOf(c))
}

// statusChangeWhy names what a status change moved: each condition whose status or reason
// changed, else the top-level status fields that differ.
func statusChangeWhy(old, o client.Object) string {
	a, b := conditionsOf(old), conditionsOf(o)
	var why []string
	for _, c := range b {
		prev := meta.FindStatusCondition(a, c.Type)
		switch {
		case prev == nil:
			why = append(why, fmt.Sprintf("%s >%s", c.Type, c.Reason))
		case prev.Status != c.Status || prev.Reason != c.Reason:
			why = append(why, fmt.Sprintf("%s %s>%s", c.Type, prev.Reason, c.Reason))
		}
	}
	if len(why) > 0 {
		return strings.Join(why, ", ")
	}
	ma, errA := runtime.DefaultUnstructuredConverter.ToUnstructured(statusOf(old))
	mb, errB := runtime.DefaultUnstructuredConverter.ToUnstructured(statusOf(o))
	if errA != nil || errB != nil {
		return "status"
	}
	keys := map[string]bool{}
	for k := range ma {
		keys[k] = true
	}
	for k := range mb {
		keys[k] = true
	}
	for k := range keys {
		if !equality.Semantic.DeepEqual(ma[k], mb[k]) {
			why = append(why, k)
		}
	}
	sort.Strings(why)
	return "fields " + strings.Join(why, ",")
}

// objState is what the tracker keeps of one object.
type objState struct {
	kind      string
	firstSeen time.Time
	settled   bool
	settledAt time.Time
	// users only: their environment and whether they are enabled.
	env     string
	enabled bool
}

// tracker follows every watch event of the bench's namespace: it knows, as the events arrive,
// the moment the last object settled (so convergence ends when it did, not at the next poll), how
// many writes of each kind the watch saw, when each object settled, when each claimant was
// granted, and how long each Environment spent AwaitingAllocation.
type tracker struct {
	mu           sync.Mutex
	want         int
	objs         map[string]*objState
	userCounts   map[string][2]int32 // per environment, from the users: total, enabled
	envCounts    map[string][2]int32 // per environment, from its status.users
	envHasCounts map[string]bool
	envMatch     map[string]bool // per Environment object: its status.users is caught up
	unsettled    int
	mismatched   int
	allSettled   bool
	allSettledAt time.Time
	lastEvent    time.Time
	writes       map[string]*KindWrites
	granted      map[string]time.Time     // PlatformUser name -> first seen holding a slot or seat
	awaitingFrom map[string]time.Time     // Environment -> since when Ready says AwaitingAllocation
	awaited      map[string]time.Duration // Environment -> total time AwaitingAllocation
}

func newTracker() *tracker {
	t := &tracker{
		objs: map[string]*objState{}, userCounts: map[string][2]int32{}, envCounts: map[string][2]int32{},
		envHasCounts: map[string]bool{}, envMatch: map[string]bool{}, writes: map[string]*KindWrites{},
		granted: map[string]time.Time{}, awaitingFrom: map[string]time.Time{}, awaited: map[string]time.Duration{},
	}
	for _, k := range kinds {
		t.writes[k] = &KindWrites{}
	}
	return t
}

// expect sets how many objects make a complete fleet (the workload and the built-in roles).
func (t *tracker) expect(n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.want = n
	t.evaluate(time.Now())
}

func (t *tracker) handler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if o, ok := obj.(client.Object); ok {
				t.observe(nil, o, false)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(client.Object)
			n, ok2 := newObj.(client.Object)
			if ok1 && ok2 && o.GetResourceVersion() != n.GetResourceVersion() {
				t.observe(o, n, false)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if o, ok := obj.(client.Object); ok {
				t.observe(nil, o, true)
			}
		},
	}
}

func (t *tracker) observe(old, o client.Object, deleted bool) {
	now := time.Now()
	kind := kindOf(o)
	if kind == "" {
		return
	}
	key := kind + "/" + o.GetName()
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastEvent = now
	w := t.writes[kind]
	st := t.objs[key]
	if st == nil && !deleted {
		st = &objState{kind: kind, firstSeen: now}
		t.objs[key] = st
		t.unsettled++
		w.Objects++
	}
	if st == nil {
		return
	}
	if old != nil {
		w.Updates++
		switch {
		case !equality.Semantic.DeepEqual(statusOf(old), statusOf(o)):
			w.StatusChanges++
			if w.StatusWhy == nil {
				w.StatusWhy = map[string]int{}
			}
			w.StatusWhy[statusChangeWhy(old, o)]++
			if transitionTimeOnly(old, o) {
				w.TransitionTimeOnly++
			}
		case old.GetGeneration() != o.GetGeneration():
			w.SpecChanges++
		default:
			w.MetadataOnly++
		}
	}

	// Users feed their environment's expected counts.
	if st.env != "" {
		c := t.userCounts[st.env]
		c[0]--
		if st.enabled {
			c[1]--
		}
		t.userCounts[st.env] = c
		t.rematch(st.env)
	}
	var env string
	var enabled bool
	switch u := o.(type) {
	case *accessv1alpha1.PlatformUser:
		env, enabled = u.Spec.EnvironmentName, u.Status.Enabled
	case *accessv1alpha1.ApplicationUser:
		env, enabled = u.Spec.EnvironmentName, u.Status.Enabled
	}
	if deleted {
		env = ""
	}
	st.env, st.enabled = env, enabled
	if env != "" {
		c := t.userCounts[env]
		c[0]++
		if enabled {
			c[1]++
		}
		t.userCounts[env] = c
		t.rematch(env)
	}

	if e, ok := o.(*accessv1alpha1.Environment); ok {
		t.observeEnvironment(e, deleted, now)
	}

	settled := false
	if !deleted {
		settled, _ = settledObject(o)
	}
	switch {
	case settled && !st.settled:
		t.unsettled--
		st.settledAt = now
	case !settled && st.settled:
		t.unsettled++
		st.settledAt = time.Time{}
	}
	st.settled = settled
	if deleted {
		if !st.settled {
			t.unsettled--
		}
		delete(t.objs, key)
		w.Objects--
	}
	t.evaluate(now)
}

func (t *tracker) observeEnvironment(e *accessv1alpha1.Environment, deleted bool, now time.Time) {
	if deleted {
		if m, ok := t.envMatch[e.Name]; ok && !m {
			t.mismatched--
		}
		delete(t.envMatch, e.Name)
		delete(t.envHasCounts, e.Name)
		return
	}
	if u := e.Status.Users; u != nil {
		t.envCounts[e.Name] = [2]int32{u.Total, u.Enabled}
		t.envHasCounts[e.Name] = true
	} else {
		t.envHasCounts[e.Name] = false
	}
	if _, ok := t.envMatch[e.Name]; !ok {
		t.envMatch[e.Name] = false
		t.mismatched++
	}
	t.rematch(e.Name)

	if l := e.Status.NonInteractive; l != nil {
		for _, h := range l.Holders {
			if _, ok := t.granted[h.Name]; !ok {
				t.granted[h.Name] = now
			}
		}
	}
	for _, s := range e.Status.Seats {
		for _, h := range s.Holders {
			if _, ok := t.granted[h.Name]; !ok {
				t.granted[h.Name] = now
			}
		}
	}
	ready := meta.FindStatusCondition(e.Status.Conditions, accessv1alpha1.ConditionReady)
	awaiting := ready != nil && ready.Reason == accessv1alpha1.ReasonAwaitingAllocation
	from, was := t.awaitingFrom[e.Name]
	switch {
	case awaiting && !was:
		t.awaitingFrom[e.Name] = now
	case !awaiting && was:
		t.awaited[e.Name] += now.Sub(from)
		delete(t.awaitingFrom, e.Name)
	}
}

// rematch recomputes whether an Environment's status.users agrees with its users.
func (t *tracker) rematch(env string) {
	prev, isEnv := t.envMatch[env]
	if !isEnv {
		return
	}
	c := t.envCounts[env]
	m := t.envHasCounts[env] && c == t.userCounts[env]
	if m != prev {
		if m {
			t.mismatched--
		} else {
			t.mismatched++
		}
		t.envMatch[env] = m
	}
}

func (t *tracker) evaluate(now time.Time) {
	all := t.want > 0 && len(t.objs) >= t.want && t.unsettled == 0 && t.mismatched == 0
	if all && !t.allSettled {
		t.allSettledAt = now
	}
	t.allSettled = all
}

// settledNow says whether every object is settled, since when, and how many are.
func (t *tracker) settledNow() (bool, time.Time, int, int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.allSettled, t.allSettledAt, len(t.objs) - t.unsettled, len(t.objs)
}

// writeCounts copies the per-kind write counts.
func (t *tracker) writeCounts() map[string]KindWrites {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := map[string]KindWrites{}
	for k, w := range t.writes {
		out[k] = *w
	}
	return out
}

// Latency summarizes durations in seconds.
type Latency struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	Max   float64 `json:"max"`
}

func summarize(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return Latency{Count: len(ds), Mean: (sum / time.Duration(len(ds))).Seconds(), P50: ds[len(ds)/2].Seconds(), Max: ds[len(ds)-1].Seconds()}
}

// settleTimes is, per kind, how long objects took from the watch first seeing them to settling,
// and when the last of them settled, in seconds after start.
func (t *tracker) settleTimes(start time.Time) (map[string]Latency, map[string]float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	per := map[string][]time.Duration{}
	last := map[string]float64{}
	for _, st := range t.objs {
		if !st.settled {
			continue
		}
		per[st.kind] = append(per[st.kind], st.settledAt.Sub(st.firstSeen))
		if s := st.settledAt.Sub(start).Seconds(); s > last[st.kind] {
			last[st.kind] = s
		}
	}
	out := map[string]Latency{}
	for k, ds := range per {
		out[k] = summarize(ds)
	}
	return out, last
}

// grantLatency is how long claimants waited, from the watch first seeing the user to the watch
// first seeing it among its Environment's holders; and each Environment's total time
// AwaitingAllocation (an environment still awaiting counts up to now).
func (t *tracker) grantLatency(now time.Time) (Latency, Latency) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var grants []time.Duration
	for name, at := range t.granted {
		if st := t.objs["PlatformUser/"+name]; st != nil {
			grants = append(grants, at.Sub(st.firstSeen))
		}
	}
	var awaited []time.Duration
	for key, st := range t.objs {
		if st.kind != "Environment" {
			continue
		}
		name := key[len("Environment/"):]
		d := t.awaited[name]
		if from, ok := t.awaitingFrom[name]; ok {
			d += now.Sub(from)
		}
		awaited = append(awaited, d)
	}
	return summarize(grants), summarize(awaited)
}
