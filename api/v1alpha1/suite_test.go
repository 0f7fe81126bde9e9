package v1alpha1_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// The API contract suite: the CRDs generated from the markers in this package, installed on a real
// kube-apiserver and etcd, and nothing else (no controllers). Every single-object mistake must be
// refused at admission with a message that names the field and says what to change.

var (
	cfg       *rest.Config
	k8sClient client.Client
	testEnv   *envtest.Environment
	ctx       context.Context
	cancel    context.CancelFunc
)

func TestAPI(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "API Contract Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.Background())

	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	Expect(cfg).NotTo(BeNil())

	scheme := runtime.NewScheme()
	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(accessv1alpha1.AddToScheme(scheme)).To(Succeed())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if testEnv != nil {
		Expect(testEnv.Stop()).To(Succeed())
	}
})

// newNamespace creates a namespace of its own for one test group, so groups never see each
// other's objects. envtest runs no namespace controller, so it is never cleaned up: it does not
// need to be, the control plane is thrown away after the suite.
func newNamespace(prefix string) string {
	GinkgoHelper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// newObject builds an object of one of the five kinds from its spec, written as YAML (flow style
// keeps table entries on one line). An empty spec leaves spec out entirely.
func newObject(kind, namespace, spec string) *unstructured.Unstructured {
	GinkgoHelper()
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind(kind))
	u.SetNamespace(namespace)
	u.SetGenerateName("obj-")
	if spec != "" {
		var m map[string]interface{}
		Expect(utilyaml.Unmarshal([]byte(spec), &m)).To(Succeed(), "spec of the test object is not YAML: %s", spec)
		u.Object["spec"] = m
	}
	return u
}

// expectRefused asserts err is the API server refusing an object as Invalid, with a cause on the
// given field whose message contains the given text.
func expectRefused(err error, field, message string) {
	GinkgoHelper()
	Expect(err).To(HaveOccurred(), "the API server accepted an object it should refuse")
	Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want an Invalid error, got: %v", err)
	var status apierrors.APIStatus
	Expect(errors.As(err, &status)).To(BeTrue(), "not an API status error: %v", err)
	details := status.Status().Details
	Expect(details).NotTo(BeNil(), "the refusal has no details: %v", err)
	Expect(details.Causes).To(ContainElement(SatisfyAll(
		HaveField("Field", field),
		HaveField("Message", ContainSubstring(message)),
	)), "want a cause on %s containing %q; the refusal was: %v", field, message, err)
}
