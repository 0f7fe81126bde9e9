package e2e

import (
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	lua "github.com/yuin/gopher-lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// argoHealthFiles maps each kind to the file of its Argo CD health check in config/argocd: one
// script serves every kind.
var argoHealthFiles = map[string]string{
	"Environment":     "config/argocd/health.lua",
	"SecurityRole":    "config/argocd/health.lua",
	"PlatformUser":    "config/argocd/health.lua",
	"ApplicationUser": "config/argocd/health.lua",
	"Team":            "config/argocd/health.lua",
}

// argoHealthKey is the argocd-cm key Argo CD reads a kind's health check from.
func argoHealthKey(kind string) string {
	return "resource.customizations.health.access.accessplane.io_" + kind
}

// argoHealth runs an Argo CD health check the way Argo CD does: gopher-lua with only the package,
// base and table libraries open, the object as the global obj (JSON numbers as Lua numbers,
// lists as 1-based tables), and the returned table's status and message as the health.
func argoHealth(script string, obj *unstructured.Unstructured) (string, string, error) {
	l := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer l.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}} {
		l.Push(l.NewFunction(lib.open))
		l.Push(lua.LString(lib.name))
		l.Call(1, 0)
	}
	l.SetGlobal("obj", toLua(l, obj.Object))
	if err := l.DoString(script); err != nil {
		return "", "", fmt.Errorf("running the health check of %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	ret, ok := l.Get(-1).(*lua.LTable)
	if !ok {
		return "", "", fmt.Errorf("the health check of %s %s returned %s, not a table", obj.GetKind(), obj.GetName(), l.Get(-1).Type())
	}
	return lua.LVAsString(ret.RawGetString("status")), lua.LVAsString(ret.RawGetString("message")), nil
}

func toLua(l *lua.LState, v interface{}) lua.LValue {
	switch v := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(v)
	case string:
		return lua.LString(v)
	case int64:
		return lua.LNumber(v)
	case float64:
		return lua.LNumber(v)
	case []interface{}:
		t := l.CreateTable(len(v), 0)
		for _, item := range v {
			t.Append(toLua(l, item))
		}
		return t
	case map[string]interface{}:
		t := l.CreateTable(0, len(v))
		for k, item := range v {
			t.RawSetString(k, toLua(l, item))
		}
		return t
	}
	return lua.LNil
}

// kstatus computes what Flux (and anything else built on kstatus) sees.
func kstatus(obj *unstructured.Unstructured) (*status.Result, error) {
	return status.Compute(obj)
}

var _ = Describe("The Argo CD health checks of config/argocd, on objects in every state", func() {
	object := func(kind string, generation int64, status map[string]interface{}) *unstructured.Unstructured {
		o := &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "access.accessplane.io/v1alpha1", "kind": kind,
			"metadata": map[string]interface{}{"name": "x", "namespace": "y", "generation": generation},
		}}
		if status != nil {
			o.Object["status"] = status
		}
		return o
	}
	cond := func(t, s, reason, message string, generation int64) interface{} {
		return map[string]interface{}{"type": t, "status": s, "reason": reason, "message": message, "observedGeneration": generation}
	}
	DescribeTable("health and message",
		func(status map[string]interface{}, wantHealth, wantMessage string) {
			for kind, file := range argoHealthFiles {
				health, message, err := argoHealth(readFile(file), object(kind, 2, status))
				Expect(err).NotTo(HaveOccurred(), kind)
				Expect(health).To(Equal(wantHealth), kind)
				Expect(message).To(ContainSubstring(wantMessage), kind)
			}
		},
		Entry("no status yet: Progressing", nil, "Progressing", "Waiting for the operator"),
		Entry("status without conditions: Progressing", map[string]interface{}{"observedGeneration": int64(0)}, "Progressing", "Waiting for the operator"),
		Entry("an older generation observed: Progressing", map[string]interface{}{"observedGeneration": int64(1),
			"conditions": []interface{}{cond("Ready", "True", "Ready", "all set", 1)}}, "Progressing", "observe generation 2"),
		Entry("Ready: Healthy with its message", map[string]interface{}{"observedGeneration": int64(2),
			"conditions": []interface{}{cond("Ready", "True", "Ready", "all set", 2)}}, "Healthy", "all set"),
		Entry("Stalled: Degraded with its reason and message", map[string]interface{}{"observedGeneration": int64(2),
			"conditions": []interface{}{cond("Ready", "False", "SeatsExhausted", "no seat", 2), cond("Stalled", "True", "SeatsExhausted", "no seat", 2)}},
			"Degraded", "SeatsExhausted: no seat"),
		Entry("not Ready, not Stalled (still working): Progressing with the reason", map[string]interface{}{"observedGeneration": int64(2),
			"conditions": []interface{}{cond("Ready", "False", "AwaitingAllocation", "waiting for the environment", 2), cond("Stalled", "False", "AwaitingAllocation", "", 2)}},
			"Progressing", "AwaitingAllocation: waiting for the environment"),
		Entry("Ready of an older generation: Progressing", map[string]interface{}{"observedGeneration": int64(2),
			"conditions": []interface{}{cond("Ready", "True", "Ready", "all set", 1)}}, "Progressing", "Ready: all set"),
		// With a Dataverse target: the operator folds Synced into Ready; the message gives Synced's reason.
		Entry("Ready and Synced: Healthy, saying it is synced", map[string]interface{}{"observedGeneration": int64(2),
			"conditions": []interface{}{cond("Ready", "True", "Ready", "all set", 2), cond("Synced", "True", "Synced", "in place in Dataverse", 2)}},
			"Healthy", "all set (Synced)"),
		Entry("Synced False Throttled, folded into Ready: Progressing with the reason", map[string]interface{}{"observedGeneration": int64(2),
			"conditions": []interface{}{cond("Ready", "False", "Throttled", "retrying after 30s", 2), cond("Synced", "False", "Throttled", "retrying after 30s", 2)}},
			"Progressing", "Throttled: retrying after 30s"),
		Entry("Synced False AwaitingEntraSync, folded into Ready: Progressing with the reason", map[string]interface{}{"observedGeneration": int64(2),
			"conditions": []interface{}{cond("Ready", "False", "AwaitingEntraSync", "waiting for Entra ID", 2), cond("Synced", "False", "AwaitingEntraSync", "waiting for Entra ID", 2)}},
			"Progressing", "AwaitingEntraSync: waiting for Entra ID"),
		Entry("Synced False Drifted under Observe: Degraded with the differences", map[string]interface{}{"observedGeneration": int64(2),
			"conditions": []interface{}{cond("Ready", "False", "Drifted", "accessmode differs", 2), cond("Stalled", "True", "Drifted", "accessmode differs", 2),
				cond("Synced", "False", "Drifted", "accessmode differs", 2)}},
			"Degraded", "Drifted: accessmode differs"),
		Entry("Stalled for another reason while not Synced: Degraded with both reasons", map[string]interface{}{"observedGeneration": int64(2),
			"conditions": []interface{}{cond("Ready", "False", "SeatsExhausted", "no seat", 2), cond("Stalled", "True", "SeatsExhausted", "no seat", 2),
				cond("Synced", "False", "AwaitingEntraSync", "waiting for Entra ID", 2)}},
			"Degraded", "SeatsExhausted: no seat; Synced False, AwaitingEntraSync: waiting for Entra ID"),
		Entry("still deciding while a sync waits: Progressing with both reasons", map[string]interface{}{"observedGeneration": int64(2),
			"conditions": []interface{}{cond("Ready", "False", "AwaitingAllocation", "waiting for the environment", 2),
				cond("Synced", "False", "SyncPending", "waiting for business unit sales", 2)}},
			"Progressing", "AwaitingAllocation: waiting for the environment; Synced False, SyncPending: waiting for business unit sales"),
	)
})
