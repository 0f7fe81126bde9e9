// Package plan is `manager plan`: it reads the YAML a pull request changes, without a cluster,
// and says what the operator would decide — what the API server would refuse (the CRDs' schema
// and CEL rules, evaluated offline), then Ready or Stalled for every object (the controllers' own
// decisions, internal/decide) — and, against a base (another folder or the live cluster), who
// gains or loses which access, who starts or stops waiting for a slot or a seat, and which
// objects change Ready.
package plan

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// Kind order in every listing: what others depend on first.
var kindOrder = map[string]int{"Environment": 0, "SecurityRole": 1, "Team": 2, "PlatformUser": 3, "ApplicationUser": 4}

// Epoch is the creation time plan gives the first object read from files: YAML carries no
// creationTimestamp, so objects get increasing times one second apart in input order (files
// sorted by path, documents in order). A fixed epoch keeps the output the same run after run.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// settleAfter is how long after the last creation the snapshot is decided: well past
// allocation.SettleWindow, so every claim is settled and the plan shows the converged state.
const settleAfter = time.Hour

// CreationOrderNote is printed with every plan and in the README: the one assumption plan makes
// that the files cannot tell.
const CreationOrderNote = "objects read from files are taken as created one second apart in input order (files sorted by path, documents in order); slots and seats go to waiting users in that order (EV1)"

// Options say what to plan and against what.
type Options struct {
	// Files are the files and directories of the proposed state (-f).
	Files []string
	// Base are the files and directories of the state to compare with (--base); none: no diff
	// unless BaseObjects is set.
	Base []string
	// BaseObjects is the live state (--cluster), read by the caller; its objects keep their
	// creation times and statuses.
	BaseObjects []unstructured.Unstructured
	// BaseName names the base in the output ("main", "cluster", a directory).
	BaseName string
	// Namespace is given to objects that set none.
	Namespace string
	// Admission checks objects as the API server would; required.
	Admission *Admission
	// Now is when the live base was read; zero for Epoch-based times.
	Now time.Time
}

// Refusal is one error the API server would refuse an object with.
type Refusal struct {
	Source    Source `json:"source"`
	Line      int    `json:"line,omitempty"`
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	// Field, Type and Message are the API status cause kubectl shows: the field path, the kind of
	// error and its message.
	Field   string `json:"field"`
	Type    string `json:"type"`
	Message string `json:"message"`
	// Kubectl is the whole error as kubectl apply prints it.
	Kubectl string `json:"kubectl"`
}

// Ignored is an object of another API that plan does not judge.
type Ignored struct {
	Source     Source `json:"source"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
}

// ObjectResult is the operator's verdict on one object once converged.
type ObjectResult struct {
	Namespace string  `json:"namespace"`
	Kind      string  `json:"kind"`
	Name      string  `json:"name"`
	Source    *Source `json:"source,omitempty"`
	// BuiltIn marks the roles an Environment creates.
	BuiltIn bool `json:"builtIn,omitempty"`
	// Ready is True, False or Unknown; Reason and Message are the Ready condition's.
	Ready   string `json:"ready"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
	Stalled bool   `json:"stalled"`
	// Unchanged is true when the base holds the same object with the same spec.
	Unchanged bool `json:"unchanged,omitempty"`
}

// Report is everything plan found, in a stable order.
type Report struct {
	Notes   []string       `json:"notes"`
	Refused []Refusal      `json:"refused"`
	Ignored []Ignored      `json:"ignored,omitempty"`
	Objects []ObjectResult `json:"objects"`
	// Diff is nil without a base.
	Diff    *Diff   `json:"diff,omitempty"`
	Summary Summary `json:"summary"`
}

// Summary counts what a CI job gates on.
type Summary struct {
	Objects int `json:"objects"`
	Refused int `json:"refused"`
	Ready   int `json:"ready"`
	Stalled int `json:"stalled"`
	// Other is objects neither Ready nor Stalled (the operator would still be working).
	Other int `json:"other"`
}

// Failed reports whether something would be refused or Stalled: exit code 1.
func (r *Report) Failed() bool { return r.Summary.Refused > 0 || r.Summary.Stalled > 0 }

// state is one side of the plan, decided.
type state struct {
	byNS map[string]*Snapshot
	// sources of the objects read from files, by key.
	sources map[objKey]Source
	// specs of the admitted objects, to tell changed objects from unchanged ones.
	objects map[objKey]*unstructured.Unstructured
}

type objKey struct{ Namespace, Kind, Name string }

func (k objKey) String() string { return k.Kind + " " + k.Name }

// Run plans opts. An *InputErrors error means the input could not be read (exit code 2).
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.Admission == nil {
		return nil, fmt.Errorf("plan: no admission")
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	// Input errors of loading and of checking the objects are reported together.
	headDocs, loadErr := Load(opts.Files)
	var inputErrs InputErrors
	var err error
	if loadErr != nil && !errors.As(loadErr, &inputErrs) {
		return nil, loadErr
	}
	rep := &Report{Notes: []string{CreationOrderNote}, Refused: []Refusal{}, Objects: []ObjectResult{}}

	var base *state
	var baseDocs []Document
	hasBase := len(opts.Base) > 0 || opts.BaseObjects != nil
	start := Epoch
	if opts.BaseObjects != nil {
		for i := range opts.BaseObjects {
			baseDocs = append(baseDocs, Document{Source: Source{File: opts.BaseName}, Object: &opts.BaseObjects[i]})
		}
		// New objects are created after the live ones, now.
		start = opts.Now.Truncate(time.Second)
		for i := range opts.BaseObjects {
			if t := opts.BaseObjects[i].GetCreationTimestamp().Time; !t.Before(start) {
				start = t.Add(time.Second)
			}
		}
	} else if len(opts.Base) > 0 {
		if baseDocs, err = Load(opts.Base); err != nil {
			return nil, fmt.Errorf("in the base: %w", err)
		}
	}
	var now time.Time
	if hasBase {
		baseStart := Epoch
		// The base is what is merged already: its own refusals are not this change's to report.
		base, _, _, err = admitAll(ctx, opts, baseDocs, nil, &baseStart, opts.BaseObjects != nil)
		if err != nil {
			return nil, fmt.Errorf("in the base: %w", err)
		}
		if opts.BaseObjects == nil {
			start = baseStart
		}
	}
	head, refused, ignored, err := admitAll(ctx, opts, headDocs, base, &start, false)
	if err != nil || len(inputErrs) > 0 {
		var more InputErrors
		if err != nil && !errors.As(err, &more) {
			return nil, err
		}
		return nil, append(inputErrs, more...)
	}
	now = start.Add(settleAfter)
	if !opts.Now.IsZero() && opts.Now.Add(settleAfter).After(now) {
		now = opts.Now.Add(settleAfter)
	}
	if base != nil {
		base.converge(now)
		// Objects the change keeps start from the base's decided status, as in the cluster: a
		// holder keeps its slot, a waiting user its place (EV1).
		head.inheritStatus(base)
	}
	head.converge(now)

	rep.Refused = refused
	rep.Ignored = ignored
	rep.Notes = append(rep.Notes, head.dataverseNotes()...)
	rep.Objects = head.results(base)
	if base != nil {
		rep.Diff = diff(base, head)
		rep.Notes = append(rep.Notes, fmt.Sprintf("compared with %s; the files are the whole desired state: an object the base has and they lack counts as deleted, as when Flux or Argo CD prune", opts.BaseName))
	}
	for _, o := range rep.Objects {
		rep.Summary.Objects++
		switch {
		case o.Stalled:
			rep.Summary.Stalled++
		case o.Ready == string(metav1.ConditionTrue):
			rep.Summary.Ready++
		default:
			rep.Summary.Other++
		}
	}
	rep.Summary.Refused = len(rep.Refused)
	return rep, nil
}

// admitAll checks every document, admits it as the API server would (as an update of the base's
// object of the same name, if any) and builds the snapshot of what would be stored. A refused
// update leaves the base's object in place, as the API server would. start is the creation time
// of the next new object, advanced one second per object. live marks objects read from a
// cluster: they keep their own metadata and status and are not admitted again.
func admitAll(ctx context.Context, opts Options, docs []Document, base *state, start *time.Time, live bool) (*state, []Refusal, []Ignored, error) {
	st := &state{byNS: map[string]*Snapshot{}, sources: map[objKey]Source{}, objects: map[objKey]*unstructured.Unstructured{}}
	var errs InputErrors
	var refused []Refusal
	var ignored []Ignored
	seen := map[objKey]Source{}
	var jobs []admission
	for _, d := range docs {
		obj := d.Object
		gvk := obj.GroupVersionKind()
		if obj.GetAPIVersion() == "" || obj.GetKind() == "" {
			errs = append(errs, &InputError{Source: d.Source, Msg: "apiVersion or kind is missing: every object needs both, e.g. apiVersion: access.accessplane.io/v1alpha1 and kind: PlatformUser"})
			continue
		}
		if !opts.Admission.Knows(gvk) {
			if opts.Admission.OwnsGroup(gvk.Group) {
				errs = append(errs, &InputError{Source: d.Source, Msg: fmt.Sprintf("unknown kind %s in %s: use one of %s", gvk.Kind, gvk.GroupVersion(), opts.Admission.KindsOf(gvk.Group))})
				continue
			}
			ignored = append(ignored, Ignored{Source: d.Source, APIVersion: obj.GetAPIVersion(), Kind: obj.GetKind(), Name: obj.GetName()})
			continue
		}
		if obj.GetName() == "" {
			errs = append(errs, &InputError{Source: d.Source, Msg: fmt.Sprintf("%s has no metadata.name: give it a name", gvk.Kind)})
			continue
		}
		obj = obj.DeepCopy()
		if obj.GetNamespace() == "" {
			obj.SetNamespace(opts.Namespace)
		}
		key := objKey{obj.GetNamespace(), gvk.Kind, obj.GetName()}
		if first, dup := seen[key]; dup {
			errs = append(errs, &InputError{Source: d.Source, Msg: fmt.Sprintf("%s is also defined at %s: keep one of them", key, first)})
			continue
		}
		seen[key] = d.Source

		if live {
			st.add(key, d.Source, obj)
			continue
		}
		var old *unstructured.Unstructured
		if base != nil {
			old = base.objects[key]
		}
		jobs = append(jobs, admission{doc: d, key: key, obj: obj, old: old})
	}
	// Each object is admitted on its own, as the API server would: in parallel, then recorded in
	// input order, which sets the creation times.
	admitParallel(ctx, opts.Admission, jobs)
	for _, j := range jobs {
		key, old, admitted := j.key, j.old, j.admitted
		if len(j.errs) > 0 {
			refused = append(refused, refusalsOf(j.doc, key, j.errs)...)
			if old != nil {
				st.add(key, base.sources[key], old)
			}
			continue
		}
		if old == nil {
			// What the API server sets on create, so a later update of it validates as one.
			admitted.SetCreationTimestamp(metav1.NewTime(*start))
			admitted.SetResourceVersion("1")
			admitted.SetUID(types.UID(fmt.Sprintf("plan/%s/%s/%s", key.Namespace, key.Kind, key.Name)))
			*start = start.Add(time.Second)
		} else if !equality.Semantic.DeepEqual(admitted.Object["spec"], old.Object["spec"]) {
			// A spec change is a new generation, as the API server counts it.
			admitted.SetGeneration(old.GetGeneration() + 1)
		}
		st.add(key, j.doc.Source, admitted)
	}
	if len(errs) > 0 {
		return nil, nil, nil, errs
	}
	return st, refused, ignored, nil
}

// admission is one object to admit and its outcome.
type admission struct {
	doc      Document
	key      objKey
	obj, old *unstructured.Unstructured
	admitted *unstructured.Unstructured
	errs     field.ErrorList
}

// admitParallel admits every job, on as many goroutines as there are CPUs.
func admitParallel(ctx context.Context, adm *Admission, jobs []admission) {
	all := make([]int, len(jobs))
	for i := range all {
		all[i] = i
	}
	parallel(all, func(i int) { jobs[i].admitted, jobs[i].errs = adm.Admit(ctx, jobs[i].obj, jobs[i].old) })
}

// parallel runs do for every index on as many goroutines as there are CPUs; each index is done
// once, and results go where do puts them (by index), so their order is kept.
func parallel(indexes []int, do func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				do(i)
			}
		}()
	}
	for _, i := range indexes {
		next <- i
	}
	close(next)
	wg.Wait()
}

func refusalsOf(d Document, key objKey, ferrs field.ErrorList) []Refusal {
	kubectl := kubectlError(key, ferrs)
	var out []Refusal
	for _, fe := range ferrs {
		msg := fe.ErrorBody()
		if fe.Type == errorTypeUnknownField {
			msg = fe.Detail + ": remove it, or check its spelling against kubectl explain"
		}
		out = append(out, Refusal{
			Source: d.Source, Line: d.FieldLine(fe.Field), Namespace: key.Namespace, Kind: key.Kind, Name: key.Name,
			Field: fe.Field, Type: string(fe.Type), Message: msg, Kubectl: kubectl,
		})
	}
	return out
}

// kubectlError is the error kubectl apply prints for the refusal.
func kubectlError(key objKey, ferrs field.ErrorList) string {
	if len(ferrs) > 0 && ferrs[0].Type == errorTypeUnknownField {
		details := make([]string, len(ferrs))
		for i, fe := range ferrs {
			details[i] = fe.Detail
		}
		return fmt.Sprintf("Error from server (BadRequest): %s in version %q cannot be handled as a %s: strict decoding error: %s",
			key.Kind, v1alpha1.GroupVersion.Version, key.Kind, strings.Join(details, ", "))
	}
	return "The " + key.Kind + " " + fmt.Sprintf("%q is invalid: ", key.Name) + invalidList(ferrs)
}

// invalidList formats the causes as apierrors.NewInvalid does.
func invalidList(ferrs field.ErrorList) string {
	if len(ferrs) == 1 {
		return ferrs[0].Error()
	}
	msgs := make([]string, len(ferrs))
	for i, fe := range ferrs {
		msgs[i] = fe.Error()
	}
	return "[" + strings.Join(msgs, ", ") + "]"
}

// add puts an admitted object into its namespace's snapshot.
func (st *state) add(key objKey, src Source, obj *unstructured.Unstructured) {
	st.sources[key] = src
	st.objects[key] = obj
	snap := st.byNS[key.Namespace]
	if snap == nil {
		snap = &Snapshot{}
		st.byNS[key.Namespace] = snap
	}
	// Conversion of an admitted object cannot fail: the schema was checked against the types.
	switch key.Kind {
	case "Environment":
		var o v1alpha1.Environment
		mustConvert(obj, &o)
		snap.Environments = append(snap.Environments, o)
	case "SecurityRole":
		var o v1alpha1.SecurityRole
		mustConvert(obj, &o)
		snap.Roles = append(snap.Roles, o)
	case "PlatformUser":
		var o v1alpha1.PlatformUser
		mustConvert(obj, &o)
		snap.Users = append(snap.Users, o)
	case "ApplicationUser":
		var o v1alpha1.ApplicationUser
		mustConvert(obj, &o)
		snap.Apps = append(snap.Apps, o)
	case "Team":
		var o v1alpha1.Team
		mustConvert(obj, &o)
		snap.Teams = append(snap.Teams, o)
	}
}

func mustConvert(u *unstructured.Unstructured, into interface{}) {
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(u.Object, into); err != nil {
		panic(fmt.Sprintf("plan: an admitted %s does not convert: %v", u.GetKind(), err))
	}
}

func (st *state) converge(now time.Time) {
	for ns, snap := range st.byNS {
		next := converge(*snap, now)
		st.byNS[ns] = &next
	}
}

// inheritStatus gives every object that the base also has the base's decided status.
func (st *state) inheritStatus(base *state) {
	for ns, snap := range st.byNS {
		b := base.byNS[ns]
		if b == nil {
			continue
		}
		envs := map[string]*v1alpha1.Environment{}
		for i := range b.Environments {
			envs[b.Environments[i].Name] = &b.Environments[i]
		}
		for i := range snap.Environments {
			if o := envs[snap.Environments[i].Name]; o != nil {
				snap.Environments[i].Status = *o.Status.DeepCopy()
			}
		}
		roles := map[string]*v1alpha1.SecurityRole{}
		for i := range b.Roles {
			roles[b.Roles[i].Name] = &b.Roles[i]
		}
		for i := range snap.Roles {
			if o := roles[snap.Roles[i].Name]; o != nil {
				snap.Roles[i].Status = *o.Status.DeepCopy()
			}
		}
		users := map[string]*v1alpha1.PlatformUser{}
		for i := range b.Users {
			users[b.Users[i].Name] = &b.Users[i]
		}
		for i := range snap.Users {
			if o := users[snap.Users[i].Name]; o != nil {
				snap.Users[i].Status = *o.Status.DeepCopy()
			}
		}
		apps := map[string]*v1alpha1.ApplicationUser{}
		for i := range b.Apps {
			apps[b.Apps[i].Name] = &b.Apps[i]
		}
		for i := range snap.Apps {
			if o := apps[snap.Apps[i].Name]; o != nil {
				snap.Apps[i].Status = *o.Status.DeepCopy()
			}
		}
		teams := map[string]*v1alpha1.Team{}
		for i := range b.Teams {
			teams[b.Teams[i].Name] = &b.Teams[i]
		}
		for i := range snap.Teams {
			if o := teams[snap.Teams[i].Name]; o != nil {
				snap.Teams[i].Status = *o.Status.DeepCopy()
			}
		}
		// Built-in roles exist in the cluster once the base's environments made them.
		have := map[string]bool{}
		for i := range snap.Roles {
			have[snap.Roles[i].Name] = true
		}
		for i := range b.Roles {
			if r := &b.Roles[i]; isBuiltIn(r) && !have[r.Name] {
				snap.Roles = append(snap.Roles, *r.DeepCopy())
			}
		}
	}
}

// dataverseNotes say what plan cannot know offline: whether a Dataverse target accepts the
// decided state. The verdicts are the decisions; in the cluster, Ready also waits for Synced.
func (st *state) dataverseNotes() []string {
	var out []string
	for _, it := range st.items() {
		if env, ok := it.obj.(*v1alpha1.Environment); ok && env.Spec.Dataverse != nil {
			out = append(out, fmt.Sprintf("environment %s applies its decisions to Dataverse (spec.dataverse): plan shows the decisions; in the cluster its objects are Ready only once Synced, which needs the service", env.Name))
		}
	}
	return out
}

// isBuiltIn reports whether an Environment made the role (it carries the built-in label).
func isBuiltIn(r *v1alpha1.SecurityRole) bool {
	_, ok := r.Labels[builtInLabel]
	return ok
}

// item is one decided object of any kind, for listings.
type item struct {
	key   objKey
	obj   metav1.Object
	conds []metav1.Condition
	spec  interface{}
}

func (st *state) items() []item {
	var out []item
	for ns, s := range st.byNS {
		for i := range s.Environments {
			o := &s.Environments[i]
			out = append(out, item{objKey{ns, "Environment", o.Name}, o, o.Status.Conditions, o.Spec})
		}
		for i := range s.Roles {
			o := &s.Roles[i]
			out = append(out, item{objKey{ns, "SecurityRole", o.Name}, o, o.Status.Conditions, o.Spec})
		}
		for i := range s.Teams {
			o := &s.Teams[i]
			out = append(out, item{objKey{ns, "Team", o.Name}, o, o.Status.Conditions, o.Spec})
		}
		for i := range s.Users {
			o := &s.Users[i]
			out = append(out, item{objKey{ns, "PlatformUser", o.Name}, o, o.Status.Conditions, o.Spec})
		}
		for i := range s.Apps {
			o := &s.Apps[i]
			out = append(out, item{objKey{ns, "ApplicationUser", o.Name}, o, o.Status.Conditions, o.Spec})
		}
	}
	sort.Slice(out, func(i, j int) bool { return lessKey(out[i].key, out[j].key) })
	return out
}

func lessKey(a, b objKey) bool {
	if a.Namespace != b.Namespace {
		return a.Namespace < b.Namespace
	}
	if kindOrder[a.Kind] != kindOrder[b.Kind] {
		return kindOrder[a.Kind] < kindOrder[b.Kind]
	}
	return a.Name < b.Name
}

func (st *state) results(base *state) []ObjectResult {
	var baseSpecs map[objKey]interface{}
	if base != nil {
		baseSpecs = map[objKey]interface{}{}
		for _, it := range base.items() {
			baseSpecs[it.key] = it.spec
		}
	}
	out := []ObjectResult{}
	for _, it := range st.items() {
		r := ObjectResult{Namespace: it.key.Namespace, Kind: it.key.Kind, Name: it.key.Name}
		if src, ok := st.sources[it.key]; ok {
			s := src
			r.Source = &s
		} else {
			r.BuiltIn = true
		}
		r.Ready, r.Reason, r.Message, r.Stalled = verdictOf(it.conds)
		if baseSpecs != nil {
			if spec, ok := baseSpecs[it.key]; ok && equality.Semantic.DeepEqual(spec, it.spec) {
				r.Unchanged = true
			}
		}
		out = append(out, r)
	}
	return out
}

// verdictOf reads the Ready and Stalled conditions as kstatus and kubectl wait do.
func verdictOf(conds []metav1.Condition) (ready, reason, message string, stalled bool) {
	ready = string(metav1.ConditionUnknown)
	if c := meta.FindStatusCondition(conds, v1alpha1.ConditionReady); c != nil {
		ready, reason, message = string(c.Status), c.Reason, c.Message
	}
	stalled = meta.IsStatusConditionTrue(conds, v1alpha1.ConditionStalled)
	return ready, reason, message, stalled
}
