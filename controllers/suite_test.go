package controllers_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/controllers"
)

var (
	cfg         *rest.Config
	k8sClient   client.Client
	testEnv     *envtest.Environment
	ctx         context.Context
	cancel      context.CancelFunc
	stopManager func()
	// mgrClient is the running manager's cached client, for reconciling objects by hand.
	mgrClient client.Client
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(100 * time.Millisecond)
	RunSpecs(t, "Controllers Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	Expect(accessv1alpha1.AddToScheme(scheme.Scheme)).To(Succeed())

	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())
	startEmulator()
	stopManager = startManager()
})

var _ = AfterSuite(func() {
	if stopManager != nil {
		stopManager()
	}
	if emulatorServer != nil {
		emulatorServer.Close()
	}
	cancel()
	Expect(testEnv.Stop()).To(Succeed())
})

var managerRuns atomic.Int32

// runningControllers are the controllers of the manager startManager runs, for their state sizes.
var runningControllers *controllers.Controllers

// startManager runs a manager with every controller, as main.go does, and returns a function
// that stops it and waits until it has stopped.
func startManager() func() {
	skipNameValidation := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:     scheme.Scheme,
		Cache:      controllers.CacheOptions(),
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: &skipNameValidation},
	})
	Expect(err).NotTo(HaveOccurred())
	running, err := controllers.Setup(mgr, controllers.Options{MaxConcurrentReconciles: 4, Dataverse: dataversePool(mgr.GetAPIReader()), Entra: entraPool(mgr.GetAPIReader())})
	Expect(err).NotTo(HaveOccurred())
	runningControllers = running
	mgrCtx, mgrCancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(done)
		Expect(mgr.Start(mgrCtx)).To(Succeed())
	}()
	Expect(mgr.GetCache().WaitForCacheSync(mgrCtx)).To(BeTrue())
	mgrClient = mgr.GetClient()
	managerRuns.Add(1)
	return func() {
		mgrCancel()
		Eventually(done).Should(BeClosed())
	}
}

// newNamespace creates a namespace of its own for a test, so tests do not see each other.
func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

func key(ns, name string) client.ObjectKey { return client.ObjectKey{Namespace: ns, Name: name} }

func environment(ns, name string, mutate ...func(*accessv1alpha1.Environment)) *accessv1alpha1.Environment {
	e := &accessv1alpha1.Environment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       accessv1alpha1.EnvironmentSpec{Product: accessv1alpha1.ProductDynamics365, Type: "Sandbox"},
	}
	for _, m := range mutate {
		m(e)
	}
	return e
}

func user(ns, name, env string, mutate ...func(*accessv1alpha1.PlatformUser)) *accessv1alpha1.PlatformUser {
	u := &accessv1alpha1.PlatformUser{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.PlatformUserSpec{
			EnvironmentName: env, UserName: name + "@contoso.com", Enabled: true,
			AccessMode: accessv1alpha1.AccessModeReadWrite,
		},
	}
	for _, m := range mutate {
		m(u)
	}
	return u
}

func role(ns, name, env string, mutate ...func(*accessv1alpha1.SecurityRole)) *accessv1alpha1.SecurityRole {
	r := &accessv1alpha1.SecurityRole{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.SecurityRoleSpec{EnvironmentName: env, Tables: []accessv1alpha1.TablePermission{
			{Table: "webresource", PermissionSetting: accessv1alpha1.PermissionReference},
			{Table: "account", PermissionSetting: accessv1alpha1.PermissionCollaborate},
		}},
	}
	for _, m := range mutate {
		m(r)
	}
	return r
}

func nonInteractive(u *accessv1alpha1.PlatformUser) {
	u.Spec.AccessMode = accessv1alpha1.AccessModeNonInteractive
}

func withRoles(names ...string) func(*accessv1alpha1.PlatformUser) {
	return func(u *accessv1alpha1.PlatformUser) { u.Spec.SecurityRoles = names }
}

func withLicense(sku string) func(*accessv1alpha1.PlatformUser) {
	return func(u *accessv1alpha1.PlatformUser) { u.Spec.License = sku }
}

func create(objs ...client.Object) {
	for _, o := range objs {
		ExpectWithOffset(1, k8sClient.Create(ctx, o)).To(Succeed(), "create %s", o.GetName())
	}
}

// condition returns the condition of that type of a freshly read object, or nil.
func condition(obj client.Object, condType string) *metav1.Condition {
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	return meta.FindStatusCondition(conditionsOf(obj), condType)
}

func conditionsOf(obj client.Object) []metav1.Condition {
	return obj.(accessv1alpha1.ConditionsGetter).GetConditions()
}

// readyReason waits until the object's Ready condition describes its current generation and
// returns "True" or its False reason.
func readyReason(obj client.Object) func() string {
	return func() string {
		c := condition(obj, accessv1alpha1.ConditionReady)
		if c == nil || c.ObservedGeneration != obj.GetGeneration() {
			return "<pending>"
		}
		if c.Status == metav1.ConditionTrue {
			return "True"
		}
		return c.Reason
	}
}

func stalledReason(obj client.Object) string {
	c := condition(obj, accessv1alpha1.ConditionStalled)
	if c == nil || c.Status != metav1.ConditionTrue {
		return ""
	}
	return c.Reason
}

// update reads obj, applies mutate and writes it, retrying on conflicts with the controllers'
// own writes, as kubectl edit would.
func update[T client.Object](obj T, mutate func(T)) {
	EventuallyWithOffset(1, func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
			return err
		}
		mutate(obj)
		return k8sClient.Update(ctx, obj)
	}).Should(Succeed())
}
