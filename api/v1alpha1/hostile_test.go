package v1alpha1_test

import (
	"encoding/json"
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// hostile builds an object of kind from a spec given as Go values, so the corpus can hold what
// YAML could not easily say: huge lists, huge strings, control characters, wrong types.
func hostile(kind, ns string, spec map[string]interface{}) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]interface{}{"spec": spec}}
	u.SetGroupVersionKind(accessv1alpha1.GroupVersion.WithKind(kind))
	u.SetNamespace(ns)
	u.SetGenerateName("hostile-")
	return u
}

func strs(n int, f func(int) string) []interface{} {
	out := make([]interface{}, n)
	for i := range out {
		out[i] = f(i)
	}
	return out
}

func userSpec(extra map[string]interface{}) map[string]interface{} {
	s := map[string]interface{}{"environmentName": "prod", "userName": "ada@contoso.com"}
	for k, v := range extra {
		s[k] = v
	}
	return s
}

var _ = Describe("Hostile and malformed objects", Ordered, ContinueOnFailure, func() {
	var ns string
	BeforeAll(func() { ns = newNamespace("hostile") })

	// Every refusal must leave nothing behind in the namespace.
	AfterEach(func() {
		for _, l := range []client.ObjectList{&accessv1alpha1.PlatformUserList{}, &accessv1alpha1.SecurityRoleList{}, &accessv1alpha1.EnvironmentList{}, &accessv1alpha1.TeamList{}, &accessv1alpha1.ApplicationUserList{}} {
			Expect(k8sClient.List(ctx, l, client.InNamespace(ns))).To(Succeed())
			Expect(l).To(HaveField("Items", BeEmpty()), "a refused object was stored")
		}
	})

	DescribeTable("is refused as Invalid on the offending field",
		func(kind string, spec map[string]interface{}, field, message string) {
			expectRefused(k8sClient.Create(ctx, hostile(kind, ns, spec)), field, message)
		},
		// Oversized lists: maxItems keeps objects small and CEL's cost bounded.
		Entry("1,000 security roles", "PlatformUser", userSpec(map[string]interface{}{
			"securityRoles": strs(1000, func(i int) string { return fmt.Sprintf("role-%d", i) })}), "spec.securityRoles", "must have at most 64 items"),
		Entry("5,000 security groups", "PlatformUser", userSpec(map[string]interface{}{
			"securityGroups": strs(5000, func(i int) string { return fmt.Sprintf("g%d", i) })}), "spec.securityGroups", "must have at most 64 items"),
		Entry("2,000 tables", "SecurityRole", map[string]interface{}{"environmentName": "prod",
			"tables": func() []interface{} {
				out := make([]interface{}, 2000)
				for i := range out {
					out[i] = map[string]interface{}{"table": fmt.Sprintf("t%d", i), "permissionSetting": "FullAccess"}
				}
				return out
			}()}, "spec.tables", "must have at most 256 items"),
		Entry("500 business units", "Environment", map[string]interface{}{
			"businessUnits": func() []interface{} {
				out := []interface{}{map[string]interface{}{"name": "root"}}
				for i := 0; i < 500; i++ {
					out = append(out, map[string]interface{}{"name": fmt.Sprintf("bu-%d", i), "parent": "root"})
				}
				return out
			}()}, "spec.businessUnits", "must have at most 100 items"),
		Entry("2,000 team members", "Team", map[string]interface{}{"environmentName": "prod", "type": "Owner",
			"members": strs(2000, func(i int) string { return fmt.Sprintf("u-%d", i) })}, "spec.members", "must have at most 1000 items"),
		// Huge strings.
		Entry("a 100 KiB userName", "PlatformUser", map[string]interface{}{"environmentName": "prod",
			"userName": strings.Repeat("a", 100*1024) + "@contoso.com"}, "spec.userName", "may not be more than 113 bytes"),
		Entry("a 1 MiB description", "ApplicationUser", map[string]interface{}{"environmentName": "prod",
			"applicationId": "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab", "description": strings.Repeat("x", 1<<20)}, "spec.description", "may not be more than 1024 bytes"),
		Entry("a 10 KiB security group name", "PlatformUser", userSpec(map[string]interface{}{
			"securityGroups": []interface{}{strings.Repeat("g", 10*1024)}}), "spec.securityGroups[0]", "may not be more than 256 bytes"),
		// Unicode and control characters where names must be plain.
		Entry("a non-ASCII user name", "PlatformUser", map[string]interface{}{"environmentName": "prod", "userName": "ádä@cöntoso.com"}, "spec.userName", "should match"),
		Entry("a zero-width space in an environment reference", "PlatformUser", map[string]interface{}{"environmentName": "pro\u200bd", "userName": "ada@contoso.com"}, "spec.environmentName", "should match"),
		Entry("a NUL byte in a role reference", "PlatformUser", userSpec(map[string]interface{}{"securityRoles": []interface{}{"role\x00x"}}), "spec.securityRoles[0]", "should match"),
		Entry("a right-to-left override in a business unit", "Environment", map[string]interface{}{
			"businessUnits": []interface{}{map[string]interface{}{"name": "root\u202e"}}}, "spec.businessUnits[0].name", "should match"),
		Entry("a newline in a license SKU", "PlatformUser", userSpec(map[string]interface{}{"license": "PLAN1\nPLAN2"}), "spec.license", "should match"),
		Entry("an emoji table name", "SecurityRole", map[string]interface{}{"environmentName": "prod",
			"tables": []interface{}{map[string]interface{}{"table": "🙂"}}}, "spec.tables[0].table", "should match"),
		// Wrong types.
		Entry("accessMode as a number", "PlatformUser", userSpec(map[string]interface{}{"accessMode": 5}), "spec.accessMode", "must be of type string"),
		Entry("enabled as a string", "PlatformUser", userSpec(map[string]interface{}{"enabled": "yes"}), "spec.enabled", "must be of type boolean"),
		Entry("securityRoles as a string", "PlatformUser", userSpec(map[string]interface{}{"securityRoles": "admin"}), "spec.securityRoles", "must be of type array"),
		Entry("tables as an object", "SecurityRole", map[string]interface{}{"environmentName": "prod", "tables": map[string]interface{}{"account": "FullAccess"}}, "spec.tables", "must be of type array"),
		Entry("seats as a string", "Environment", map[string]interface{}{"licenses": []interface{}{map[string]interface{}{"sku": "PLAN1", "seats": "ten"}}}, "spec.licenses[0].seats", "must be of type integer"),
		Entry("negative seats", "Environment", map[string]interface{}{"licenses": []interface{}{map[string]interface{}{"sku": "PLAN1", "seats": -1}}}, "spec.licenses[0].seats", "should be greater than or equal to 0"),
		Entry("a trillion seats", "Environment", map[string]interface{}{"licenses": []interface{}{map[string]interface{}{"sku": "PLAN1", "seats": 1e12}}}, "spec.licenses[0].seats", "should be less than or equal to 1000000"),
		Entry("profile as a list", "PlatformUser", userSpec(map[string]interface{}{"profile": []interface{}{"Ada"}}), "spec.profile", "must be of type object"),
		Entry("a table privilege level as an object", "SecurityRole", map[string]interface{}{"environmentName": "prod",
			"tables": []interface{}{map[string]interface{}{"table": "account", "privileges": map[string]interface{}{"read": map[string]interface{}{"level": "Organization"}}}}}, "spec.tables[0].privileges.read", "must be of type string"),
	)

	It("a request larger than the API server takes is refused whole", func() {
		// 4 MiB of unknown fields: past the request limit, whatever the schema says.
		spec := userSpec(map[string]interface{}{"junk": strings.Repeat("z", 4<<20)})
		err := k8sClient.Create(ctx, hostile("PlatformUser", ns, spec))
		Expect(err).To(HaveOccurred())
		Expect(apierrors.IsRequestEntityTooLargeError(err) || apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)).To(BeTrue(), "got %v", err)
	})

	It("unknown fields are pruned, never stored", func() {
		obj := hostile("PlatformUser", ns, userSpec(map[string]interface{}{"grantEverything": true, "profile": map[string]interface{}{"firstName": "Ada", "isAdmin": true}}))
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		raw, err := json.Marshal(obj.Object["spec"])
		Expect(err).NotTo(HaveOccurred())
		Expect(string(raw)).NotTo(ContainSubstring("grantEverything"))
		Expect(string(raw)).NotTo(ContainSubstring("isAdmin"))
		Expect(k8sClient.Delete(ctx, obj)).To(Succeed())
	})
})
