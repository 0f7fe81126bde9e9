package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
	"github.com/accessplane/dataverse-access-operator/internal/dvsync"
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// SecretsFrom reads credentials Secrets with a reader that does not cache: only the Secrets
// named by Environments are read, one GET each, and no Secret of the cluster is listed or
// watched. The pool reads one when an Environment syncs, not per object.
func SecretsFrom(r client.Reader) dvsync.SecretReader {
	return func(ctx context.Context, namespace, name string) (*dvsync.Secret, error) {
		var s corev1.Secret
		if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, nil
			}
			return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
		}
		return &dvsync.Secret{Data: s.Data, ResourceVersion: s.ResourceVersion}, nil
	}
}

// syncStep is the Dataverse target's part of acting, shared by every kind: nothing without a
// target; otherwise the kind's external client runs with the desired value (or its fresh outcome
// is reused), and Synced, Ready-requires-Synced and the observed record are written into the
// status being built.
type syncStep struct {
	pool *dvsync.Pool
	now  func() time.Time
	// wake reconciles an Environment when one of its objects was throttled, so it reports it.
	wake *wakeups
	// tombs are objects deleted while holding DataverseFinalizer, whose records are still to go.
	tombs tombstones
}

// syncInput is one object's part in the step.
type syncInput struct {
	env        *accessv1alpha1.Environment
	obj        client.Object
	kind       string
	conditions *[]metav1.Condition
	record     **accessv1alpha1.DataverseRecord
	// desired is what Dataverse should hold (a decide.Desired* value); its hash is the sync's
	// freshness fingerprint, so a change of anything the sync reads makes it run again.
	desired any
	// notSynced, when set, says why nothing is synced (the decision refused a duplicate).
	notSynced string
	apply     func(ctx context.Context, t *dvsync.Target) dvsync.Result
	// entra is the Entra ID target's outcome for the object (a person), nil without one: a
	// problem there is Synced's reason before Dataverse's, and a change there makes Dataverse
	// follow at once.
	entra *entraOutcome
}

// applySynced writes Synced: the Entra ID side's outcome when it is not Synced (its facts decide
// enablement, so they are the first thing to fix), else Dataverse's.
func applySynced(in syncInput, r dvsync.Result) {
	if in.entra != nil && !in.entra.result.Synced() {
		r = in.entra.result
	}
	decide.ApplySynced(in.conditions, in.obj.GetGeneration(), r.Reason, r.Message)
}

// targetOf reports whether env names a Dataverse target the operator can reach.
func (s *syncStep) targetOf(env *accessv1alpha1.Environment) bool {
	return s != nil && s.pool != nil && env != nil && env.Spec.Dataverse != nil
}

func objectKey(kind string, o client.Object) string {
	return kind + "/" + o.GetNamespace() + "/" + o.GetName()
}

// forget drops what the pool keeps of an object that is gone (and of its connection, for an
// Environment).
func (s *syncStep) forget(kind string, key client.ObjectKey) {
	if s == nil || s.pool == nil {
		return
	}
	s.pool.ForgetObject(kind + "/" + key.Namespace + "/" + key.Name)
	if kind == kindEnvironment {
		s.pool.ForgetEnvironment(key.Namespace, key.Name)
	}
}

func (s *syncStep) run(ctx context.Context, in syncInput) (time.Duration, []decide.Event) {
	gen := in.obj.GetGeneration()
	if !s.targetOf(in.env) {
		*in.record = nil
		if s != nil && s.pool != nil {
			s.pool.ForgetObject(objectKey(in.kind, in.obj)) // a target removed
		}
		if in.entra != nil { // Entra ID is the only target
			applySynced(in, in.entra.result)
			return in.entra.result.RequeueAfter, nil
		}
		decide.RemoveSynced(in.conditions)
		return 0, nil
	}
	if in.notSynced != "" {
		decide.ApplySynced(in.conditions, gen, accessv1alpha1.ReasonSyncPending, in.notSynced)
		return 0, nil
	}
	entraChanged := in.entra != nil && in.entra.changed
	start := now(s.now)
	key, uid := objectKey(in.kind, in.obj), string(in.obj.GetUID())
	fp := syncFingerprint(in.env, in.desired)
	// A fresh Synced outcome is reused only with the record it observed: a status write that
	// failed (a conflict) lost it, and the next reconcile reads Dataverse again.
	// A change just made in Entra ID is followed at once: Dataverse is read again and asked.
	if r, left, ok := s.pool.Fresh(key, uid, fp, start); ok && !entraChanged && (*in.record != nil || !r.Synced()) {
		applySynced(in, r)
		return soonestOf(left, in.entra), nil
	}
	var r dvsync.Result
	if t, failed := s.pool.Target(ctx, in.env, start); failed != nil {
		r = *failed
	} else {
		t.EntraChanged = entraChanged
		r = in.apply(ctx, t)
	}
	if in.kind != kindEnvironment && r.Deferred && len(r.Wrote) == 0 && s.pool.LastSynced(key, uid, fp) && syncedNow(in) && (in.entra == nil || in.entra.result.Synced()) {
		// A re-check held back by the budget or by throttling found nothing: the last one stands
		// (the Environment, where throttling is reported, says it).
		if r.Reason == accessv1alpha1.ReasonThrottled {
			s.pool.NoteThrottled(in.env, now(s.now).Add(r.RequeueAfter))
			s.wake.add(client.ObjectKeyFromObject(in.env))
		}
		return soonestOf(r.RequeueAfter, in.entra), nil
	}
	s.record(in, r)
	after := s.pool.Record(key, uid, fp, start, r)
	if r.Reason == accessv1alpha1.ReasonThrottled {
		// The retry time counts from the answer, after the client's own retries, not from the start.
		s.pool.NoteThrottled(in.env, now(s.now).Add(r.RequeueAfter))
		s.wake.add(client.ObjectKeyFromObject(in.env))
	}
	return soonestOf(after, in.entra), syncEvents(r)
}

// syncedNow reports whether the object's status says Synced True for its generation.
func syncedNow(in syncInput) bool {
	c := meta.FindStatusCondition(*in.conditions, accessv1alpha1.ConditionSynced)
	return c != nil && c.Status == metav1.ConditionTrue && c.ObservedGeneration == in.obj.GetGeneration()
}

func soonestOf(after time.Duration, e *entraOutcome) time.Duration {
	if e == nil {
		return after
	}
	return soonest(after, e.result.RequeueAfter)
}

// record writes a sync's outcome into the status being built: the observed record and Synced.
func (s *syncStep) record(in syncInput, r dvsync.Result) {
	if r.Record != nil {
		// The last correction stays until another is made: a re-read that corrects nothing
		// changes no status, and a correction changes it (so its event is a new one, not a
		// repeat of the last in the same series).
		if *in.record != nil && len(r.Wrote) == 0 {
			r.Record.LastCorrection = (*in.record).LastCorrection
		}
		*in.record = r.Record
	}
	if len(r.Wrote) > 0 && *in.record != nil {
		(*in.record).LastCorrection = truncate(strings.Join(r.Wrote, "; "), 1024)
	}
	applySynced(in, r)
}

func syncEvents(r dvsync.Result) []decide.Event {
	var events []decide.Event
	if len(r.Wrote) > 0 {
		events = append(events, decide.Event{Type: corev1.EventTypeNormal, Reason: "Synced", Action: "Sync",
			Message: "Dataverse corrected: " + strings.Join(r.Wrote, "; ")})
	}
	if r.Reason == accessv1alpha1.ReasonDrifted {
		events = append(events, decide.Event{Type: corev1.EventTypeWarning, Reason: accessv1alpha1.ReasonDrifted, Action: "Observe", Message: r.Message})
	}
	return events
}

// syncFingerprint identifies everything a sync reads: the desired value, the environment's
// target (its spec, by generation) and the business-unit ids its sync recorded.
func syncFingerprint(env *accessv1alpha1.Environment, desired any) string {
	b, _ := json.Marshal(struct {
		Env     string
		Gen     int64
		Units   []accessv1alpha1.BusinessUnitRecord
		Desired any
	}{string(env.UID), env.Generation, businessUnitRecords(env), desired})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
