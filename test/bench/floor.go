package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// converged is what the floor copies from the converged run: every object's final status as a
// merge patch, keyed by kind/name, and the objects the manager itself created (the built-in
// roles of each environment).
type converged struct {
	statusPatches map[string][]byte
	builtIns      map[string][]*accessv1alpha1.SecurityRole // by environment
}

func snapshot(objs []client.Object, workloadObjs []client.Object) (converged, error) {
	mine := map[string]bool{}
	for _, o := range workloadObjs {
		mine[kindOf(o)+"/"+o.GetName()] = true
	}
	c := converged{statusPatches: map[string][]byte{}, builtIns: map[string][]*accessv1alpha1.SecurityRole{}}
	for _, o := range objs {
		key := kindOf(o) + "/" + o.GetName()
		patch, err := json.Marshal(map[string]any{"status": statusOf(o)})
		if err != nil {
			return c, err
		}
		c.statusPatches[key] = patch
		if r, ok := o.(*accessv1alpha1.SecurityRole); ok && !mine[key] {
			c.builtIns[r.Spec.EnvironmentName] = append(c.builtIns[r.Spec.EnvironmentName], r)
		}
	}
	return c, nil
}

// FloorRun is one measurement of the floor.
type FloorRun struct {
	Seconds float64 `json:"seconds"`
	// CreatesSeconds is when the last of the bench's creates returned (the creates alone).
	CreatesSeconds float64 `json:"createsSeconds"`
	StatusWrites   int     `json:"statusWrites"`
}

// measureFloor does the job with the manager stopped, in a fresh namespace, by the cheapest
// means there are: the bench's creator (the same client and workers as the converged run) creates
// the same workload, and a bare client limited like the manager (qps <= 0: unthrottled) creates
// the built-in roles the manager would create and writes each object's converged status once,
// as soon as the object exists. Timed like convergence: from the first create to the last status
// write. The creates are not throttled at the manager's limits because in the converged run they
// are not either: the manager's limits bound only the manager's own requests.
func measureFloor(ctx context.Context, admin *rest.Config, creator client.Client, ns string, size Size, conv converged, qps float64, burst int) (FloorRun, error) {
	var run FloorRun
	cfg := rest.CopyConfig(admin)
	if qps > 0 {
		// One token bucket for the whole client, as the manager shares one across its kinds.
		cfg.QPS, cfg.Burst = float32(qps), burst
		cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(cfg.QPS, cfg.Burst)
	} else {
		cfg.QPS, cfg.Burst, cfg.RateLimiter = -1, 0, nil
	}
	writer, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return run, err
	}
	if err := creator.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return run, err
	}
	objs, _ := workload(ns, size)

	type task struct {
		obj    client.Object
		create bool
		patch  []byte
	}
	tasks := make(chan task, len(objs)+64)
	var firstErr atomic.Value
	fail := func(err error) {
		if err != nil && firstErr.Load() == nil {
			firstErr.Store(err)
		}
	}
	patchOf := func(o client.Object) []byte {
		p := conv.statusPatches[kindOf(o)+"/"+o.GetName()]
		if p == nil {
			fail(fmt.Errorf("no converged status for %s %s", kindOf(o), o.GetName()))
		}
		return p
	}

	var writes atomic.Int64
	var writers sync.WaitGroup
	start := time.Now()
	for w := 0; w < 32; w++ {
		writers.Add(1)
		go func() {
			defer writers.Done()
			for t := range tasks {
				if t.patch == nil {
					continue
				}
				if t.create {
					if err := writer.Create(ctx, t.obj); err != nil {
						fail(fmt.Errorf("floor: creating %s %s: %w", kindOf(t.obj), t.obj.GetName(), err))
						continue
					}
				}
				if err := writer.Status().Patch(ctx, t.obj, client.RawPatch(types.MergePatchType, t.patch)); err != nil {
					fail(fmt.Errorf("floor: status of %s %s: %w", kindOf(t.obj), t.obj.GetName(), err))
					continue
				}
				writes.Add(1)
			}
		}()
	}

	work := make(chan client.Object)
	var creators sync.WaitGroup
	for w := 0; w < 16; w++ {
		creators.Add(1)
		go func() {
			defer creators.Done()
			for o := range work {
				if err := creator.Create(ctx, o); err != nil {
					fail(fmt.Errorf("floor: creating %T %s: %w", o, o.GetName(), err))
					continue
				}
				tasks <- task{obj: o, patch: patchOf(o)}
				if _, isEnv := o.(*accessv1alpha1.Environment); isEnv {
					for _, r := range conv.builtIns[o.GetName()] {
						role := &accessv1alpha1.SecurityRole{
							ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: r.Name, Labels: r.Labels, Annotations: r.Annotations},
							Spec:       *r.Spec.DeepCopy(),
						}
						tasks <- task{obj: role, create: true, patch: patchOf(r)}
					}
				}
			}
		}()
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	creators.Wait()
	run.CreatesSeconds = time.Since(start).Seconds()
	close(tasks)
	writers.Wait()
	end := time.Since(start)
	if err, _ := firstErr.Load().(error); err != nil {
		return run, err
	}
	run.Seconds = end.Seconds()
	run.StatusWrites = int(writes.Load())
	return run, nil
}

// clearFloor deletes the floor's objects so the next measurement starts from the same store. With
// the manager stopped nothing holds a finalizer on them.
func clearFloor(ctx context.Context, c client.Client, ns string) error {
	for _, o := range []client.Object{&accessv1alpha1.PlatformUser{}, &accessv1alpha1.ApplicationUser{}, &accessv1alpha1.Team{}, &accessv1alpha1.SecurityRole{}, &accessv1alpha1.Environment{}} {
		if err := c.DeleteAllOf(ctx, o, client.InNamespace(ns)); err != nil {
			return err
		}
	}
	return nil
}
