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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
	"github.com/accessplane/dataverse-access-operator/internal/dvsync"
)

// DataverseFinalizer holds an object whose record the operator deletes from Dataverse when it is
// deleted (spec.dataverse.deletionPolicy Delete): roles, teams and application users.
const DataverseFinalizer = "access.accessplane.io/dataverse-record"

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// SecretsFrom reads credentials Secrets with a reader that does not cache: only the Secrets
// named by Environments are read, one GET each, and no Secret of the cluster is listed or watched.
func SecretsFrom(r client.Reader) dvsync.SecretReader {
	return func(ctx context.Context, namespace, name string) (map[string][]byte, bool, error) {
		var s corev1.Secret
		if err := r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
		}
		return s.Data, true, nil
	}
}

// syncStep is the sync target's step after a decision, shared by every kind: nothing without a
// target; otherwise the kind's external client runs (or its fresh outcome is reused), and Synced,
// Ready-requires-Synced and the observed record are written into the status being built.
type syncStep struct {
	pool *dvsync.Pool
	now  func() time.Time
	// throttled wakes an Environment when one of its objects was throttled, so it reports it.
	throttled chan event.GenericEvent
}

// syncInput is one object's part in the step.
type syncInput struct {
	env        *accessv1alpha1.Environment
	obj        client.Object
	conditions *[]metav1.Condition
	record     **accessv1alpha1.DataverseRecord
	// decided is what the sync applies; when it and the environment's generation are unchanged,
	// a Synced outcome is reused until the sync interval passes.
	decided any
	// skip, when set, says why the object is not synced (it was refused as a duplicate).
	skip  string
	apply func(ctx context.Context, t *dvsync.Target) dvsync.Result
}

// targetOf reports whether env names a Dataverse target the operator can reach.
func (s *syncStep) targetOf(env *accessv1alpha1.Environment) bool {
	return s != nil && s.pool != nil && env != nil && env.Spec.Dataverse != nil
}

func (s *syncStep) run(ctx context.Context, in syncInput) (time.Duration, []decide.Event) {
	gen := in.obj.GetGeneration()
	if !s.targetOf(in.env) {
		decide.RemoveSynced(in.conditions)
		*in.record = nil
		return 0, nil
	}
	if in.skip != "" {
		decide.ApplySynced(in.conditions, gen, accessv1alpha1.ReasonSyncPending, in.skip)
		return 0, nil
	}
	start := now(s.now)
	uid := string(in.obj.GetUID())
	fp := syncFingerprint(in.env, gen, in.decided)
	// A fresh outcome is reused only with the record it observed: a status write that failed
	// (a conflict) lost it, and the next reconcile reads Dataverse again.
	if r, left, ok := s.pool.Fresh(uid, fp, start); ok && *in.record != nil {
		decide.ApplySynced(in.conditions, gen, r.Reason, r.Message)
		return left, nil
	}
	t, failed := s.pool.Target(ctx, in.env, start)
	var r dvsync.Result
	if failed != nil {
		r = *failed
	} else {
		r = in.apply(ctx, t)
	}
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
	decide.ApplySynced(in.conditions, gen, r.Reason, r.Message)
	after := s.pool.Record(uid, fp, start, r)
	if r.Reason == accessv1alpha1.ReasonThrottled {
		// The retry time counts from the answer, after the client's own retries, not from the start.
		s.pool.NoteThrottled(in.env.Namespace, in.env.Name, now(s.now).Add(r.RequeueAfter))
		select {
		case s.throttled <- event.GenericEvent{Object: in.env}:
		default: // the Environment is already woken; it reads the time from the pool
		}
	}
	var events []decide.Event
	if len(r.Wrote) > 0 {
		events = append(events, decide.Event{Type: corev1.EventTypeNormal, Reason: "Synced", Action: "Sync",
			Message: "Dataverse corrected: " + strings.Join(r.Wrote, "; ")})
	}
	if r.Reason == accessv1alpha1.ReasonDrifted {
		events = append(events, decide.Event{Type: corev1.EventTypeWarning, Reason: accessv1alpha1.ReasonDrifted, Action: "Observe", Message: r.Message})
	}
	return after, events
}

func syncFingerprint(env *accessv1alpha1.Environment, generation int64, decided any) string {
	b, _ := json.Marshal(decided)
	h := sha256.Sum256(append([]byte(fmt.Sprintf("%d/%d/%s/", env.Generation, generation, env.UID)), b...))
	return hex.EncodeToString(h[:])
}

// keepDataverseFinalizer holds obj for deletion in Dataverse when its environment deletes records
// and it has one; otherwise it lets it go.
func keepDataverseFinalizer(ctx context.Context, c client.Client, env *accessv1alpha1.Environment, obj client.Object, record *accessv1alpha1.DataverseRecord) error {
	want := env != nil && env.Spec.Dataverse != nil && env.Spec.Dataverse.DeletionPolicy == accessv1alpha1.DeletionDelete && record != nil && record.ID != ""
	if want == controllerutil.ContainsFinalizer(obj, DataverseFinalizer) {
		return nil
	}
	// Patched on a copy: the answer carries the server's status, and obj holds the decided one
	// the scaffold writes next. obj takes the new finalizers and resourceVersion.
	cp := obj.DeepCopyObject().(client.Object)
	patch := client.MergeFrom(cp.DeepCopyObject().(client.Object))
	if want {
		controllerutil.AddFinalizer(cp, DataverseFinalizer)
	} else {
		controllerutil.RemoveFinalizer(cp, DataverseFinalizer)
	}
	if err := c.Patch(ctx, cp, patch); err != nil {
		return err
	}
	obj.SetFinalizers(cp.GetFinalizers())
	obj.SetResourceVersion(cp.GetResourceVersion())
	return nil
}

// deleteInDataverse removes a deleted object's record when its environment says Delete, then
// lets the object go. Without a target (or with Orphan) the record stays.
func (s *syncStep) deleteInDataverse(ctx context.Context, c client.Client, obj client.Object, envName string, del func(context.Context, *dvsync.Target) error) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(obj, DataverseFinalizer) {
		return ctrl.Result{}, nil
	}
	env, err := environmentOf(ctx, c, obj.GetNamespace(), envName)
	if err != nil {
		return ctrl.Result{}, err
	}
	if s.targetOf(env) && env.Spec.Dataverse.DeletionPolicy == accessv1alpha1.DeletionDelete && env.Spec.Dataverse.ManagementPolicy == accessv1alpha1.ManagementManage {
		t, failed := s.pool.Target(ctx, env, now(s.now))
		if failed != nil {
			return ctrl.Result{RequeueAfter: failed.RequeueAfter}, nil
		}
		if err := del(ctx, t); err != nil {
			r := dvsync.Failed(err, obj.GetName())
			ctrl.LoggerFrom(ctx).Info("deleting the Dataverse record failed; retrying", "reason", r.Reason, "message", r.Message)
			return ctrl.Result{RequeueAfter: r.RequeueAfter}, nil
		}
	}
	s.pool.ForgetObject(string(obj.GetUID()))
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	controllerutil.RemoveFinalizer(obj, DataverseFinalizer)
	return ctrl.Result{}, client.IgnoreNotFound(c.Patch(ctx, obj, patch))
}

// unsynced reports why an object is not synced: a duplicate's record belongs to the older object.
func unsynced(conds []metav1.Condition) string {
	switch r := decide.ConditionReason(conds, accessv1alpha1.ConditionReady); r {
	case accessv1alpha1.ReasonDuplicateUserName, accessv1alpha1.ReasonDuplicateApplicationID, accessv1alpha1.ReasonDuplicateRoleName:
		return "not synced: refused as a duplicate (" + r + "), the older object owns the Dataverse record"
	}
	return ""
}

// throttledEvents is the channel the Environment controller watches; a closed-over nil step has
// none to send on, so it gets one nobody writes to.
func (s *syncStep) throttledEvents() <-chan event.GenericEvent {
	if s == nil || s.throttled == nil {
		return make(chan event.GenericEvent)
	}
	return s.throttled
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
