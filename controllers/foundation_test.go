package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

var _ = Describe("Foundation: the five kinds on a real kube-apiserver", func() {
	It("creates one object of each kind and reads it back", func() {
		meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "default"} }
		objs := []client.Object{
			&accessv1alpha1.Environment{ObjectMeta: meta("found-env"), Spec: accessv1alpha1.EnvironmentSpec{Product: accessv1alpha1.ProductPowerApps}},
			&accessv1alpha1.SecurityRole{ObjectMeta: meta("found-role"), Spec: accessv1alpha1.SecurityRoleSpec{EnvironmentName: "found-env"}},
			&accessv1alpha1.PlatformUser{ObjectMeta: meta("found-user"), Spec: accessv1alpha1.PlatformUserSpec{EnvironmentName: "found-env", UserName: "ada@contoso.com", Enabled: true}},
			&accessv1alpha1.ApplicationUser{ObjectMeta: meta("found-app"), Spec: accessv1alpha1.ApplicationUserSpec{EnvironmentName: "found-env", ApplicationID: "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab", Enabled: true}},
			&accessv1alpha1.Team{ObjectMeta: meta("found-team"), Spec: accessv1alpha1.TeamSpec{EnvironmentName: "found-env", Type: accessv1alpha1.TeamOwner}},
		}
		for _, obj := range objs {
			Expect(k8sClient.Create(ctx, obj)).To(Succeed(), "create %T", obj)
			read := obj.DeepCopyObject().(client.Object)
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), read)).To(Succeed())
			Expect(read.GetUID()).NotTo(BeEmpty())
			Expect(read.GetName()).To(Equal(obj.GetName()))
		}
		var user accessv1alpha1.PlatformUser
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: "default", Name: "found-user"}, &user)).To(Succeed())
		Expect(user.Spec.EnvironmentName).To(Equal("found-env"))
		Expect(user.Spec.AccessMode).To(Equal(accessv1alpha1.AccessModeReadWrite), "defaulted by the API server")
		for _, obj := range objs {
			Expect(k8sClient.Delete(ctx, obj)).To(Succeed())
		}
	})
})
