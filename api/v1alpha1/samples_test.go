package v1alpha1_test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
)

const samplesDir = "../../config/samples"

// sample is one document of a sample file.
type sample struct {
	file string
	obj  *unstructured.Unstructured
}

// loadSamples reads every document of a YAML file, skipping documents that hold only comments.
func loadSamples(file string) []sample {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(samplesDir, file))
	Expect(err).NotTo(HaveOccurred())
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []sample
	for {
		doc, err := reader.Read()
		if err == io.EOF {
			break
		}
		Expect(err).NotTo(HaveOccurred(), "reading %s", file)
		var m map[string]interface{}
		Expect(utilyaml.Unmarshal(doc, &m)).To(Succeed(), "decoding a document of %s", file)
		if len(m) == 0 {
			continue
		}
		out = append(out, sample{file: file, obj: &unstructured.Unstructured{Object: m}})
	}
	return out
}

// typed converts a sample to its Go type.
func typed[T any](s sample) *T {
	GinkgoHelper()
	out := new(T)
	Expect(runtime.DefaultUnstructuredConverter.FromUnstructured(s.obj.Object, out)).To(Succeed(), "%s %s", s.file, s.obj.GetName())
	return out
}

var _ = Describe("The samples in config/samples", Ordered, ContinueOnFailure, func() {
	var (
		files    []string
		samples  []sample
		env      *accessv1alpha1.Environment
		roles    []*accessv1alpha1.SecurityRole
		users    []*accessv1alpha1.PlatformUser
		apps     []*accessv1alpha1.ApplicationUser
		teams    []*accessv1alpha1.Team
		userDocs map[string]sample
	)

	BeforeAll(func() {
		kustomization := loadSamples("kustomization.yaml")
		Expect(kustomization).To(HaveLen(1))
		resources, found, err := unstructured.NestedStringSlice(kustomization[0].obj.Object, "resources")
		Expect(err).NotTo(HaveOccurred())
		Expect(found).To(BeTrue(), "kustomization.yaml has no resources")
		files = resources

		userDocs = map[string]sample{}
		for _, file := range files {
			for _, s := range loadSamples(file) {
				samples = append(samples, s)
				switch s.obj.GetKind() {
				case "Environment":
					Expect(env).To(BeNil(), "more than one Environment in the samples")
					env = typed[accessv1alpha1.Environment](s)
				case "SecurityRole":
					roles = append(roles, typed[accessv1alpha1.SecurityRole](s))
				case "PlatformUser":
					u := typed[accessv1alpha1.PlatformUser](s)
					if u.Spec.AccessMode == "" {
						u.Spec.AccessMode = accessv1alpha1.AccessModeReadWrite // the API default (AM1)
					}
					users = append(users, u)
					userDocs[s.obj.GetName()] = s
				case "ApplicationUser":
					apps = append(apps, typed[accessv1alpha1.ApplicationUser](s))
				case "Team":
					teams = append(teams, typed[accessv1alpha1.Team](s))
				default:
					Fail("unexpected kind " + s.obj.GetKind() + " in " + file)
				}
			}
		}
		Expect(env).NotTo(BeNil(), "no Environment in the samples")
	})

	It("kustomization.yaml lists every sample file, one file per kind", func() {
		entries, err := os.ReadDir(samplesDir)
		Expect(err).NotTo(HaveOccurred())
		var onDisk []string
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".yaml") && e.Name() != "kustomization.yaml" {
				onDisk = append(onDisk, e.Name())
			}
		}
		listed := append([]string(nil), files...)
		sort.Strings(listed)
		Expect(listed).To(Equal(onDisk))
		Expect(files).To(ConsistOf("environment.yaml", "securityroles.yaml", "teams.yaml", "platformusers.yaml", "applicationusers.yaml"))
		fileOf := map[string]string{
			"Environment": "environment.yaml", "SecurityRole": "securityroles.yaml", "Team": "teams.yaml",
			"PlatformUser": "platformusers.yaml", "ApplicationUser": "applicationusers.yaml",
		}
		for _, s := range samples {
			Expect(s.file).To(Equal(fileOf[s.obj.GetKind()]), "%s %s belongs in the file of its kind", s.obj.GetKind(), s.obj.GetName())
		}
	})

	It("are all accepted by the API server", func() {
		ns := newNamespace("samples")
		for _, s := range samples {
			obj := s.obj.DeepCopy()
			obj.SetNamespace(ns)
			Expect(k8sClient.Create(ctx, obj)).To(Succeed(), "%s: %s %s", s.file, s.obj.GetKind(), s.obj.GetName())
		}
	})

	It("set no namespace and all belong to the environment contoso-sales", func() {
		Expect(env.Name).To(Equal("contoso-sales"))
		for _, s := range samples {
			Expect(s.obj.GetAPIVersion()).To(Equal(accessv1alpha1.GroupVersion.String()))
			Expect(s.obj.GetNamespace()).To(BeEmpty(), "%s %s sets a namespace", s.obj.GetKind(), s.obj.GetName())
			if s.obj.GetKind() != "Environment" {
				envName, _, err := unstructured.NestedString(s.obj.Object, "spec", "environmentName")
				Expect(err).NotTo(HaveOccurred())
				Expect(envName).To(Equal("contoso-sales"), "%s %s", s.obj.GetKind(), s.obj.GetName())
			}
		}
	})

	It("EV2, EV3, SR5: reference only objects that exist, roles of their unit or above", func() {
		tree := butree.Tree(env.BusinessUnitParents())
		Expect(tree.Validate()).To(Succeed())
		root := env.RootBusinessUnit()
		unitOf := func(unit string) string {
			if unit == "" {
				return root
			}
			Expect(tree.Has(unit)).To(BeTrue(), "business unit %q is not in the tree", unit)
			return unit
		}
		roleUnit := map[string]string{
			accessv1alpha1.SystemAdministratorRoleName(env.Name):           root,
			env.Name + accessv1alpha1.BasicUserRoleSuffix:                  root,
			accessv1alpha1.StubDefaultRoleName(env.Name, env.Spec.Product): root,
		}
		for _, r := range roles {
			roleUnit[r.Name] = unitOf(r.Spec.BusinessUnit)
		}
		checkRoles := func(who, unit string, names []string) {
			for _, name := range names {
				ru, ok := roleUnit[name]
				Expect(ok).To(BeTrue(), "%s names role %q, which is neither a sample nor a built-in role", who, name)
				Expect(tree.IsAtOrBelow(unit, ru)).To(BeTrue(), "%s in %s holds %s of %s (SR5)", who, unit, name, ru)
			}
		}
		userNames := map[string]bool{}
		upns := map[string]bool{}
		for _, u := range users {
			checkRoles("PlatformUser "+u.Name, unitOf(u.Spec.BusinessUnit), u.Spec.SecurityRoles)
			userNames[u.Name] = true
			Expect(upns).NotTo(HaveKey(strings.ToLower(u.Spec.UserName)), "userName %s used twice", u.Spec.UserName)
			upns[strings.ToLower(u.Spec.UserName)] = true
		}
		appIDs := map[string]bool{}
		for _, a := range apps {
			checkRoles("ApplicationUser "+a.Name, unitOf(a.Spec.BusinessUnit), a.Spec.SecurityRoles)
			Expect(appIDs).NotTo(HaveKey(strings.ToLower(a.Spec.ApplicationID)))
			appIDs[strings.ToLower(a.Spec.ApplicationID)] = true
		}
		for _, t := range teams {
			checkRoles("Team "+t.Name, unitOf(t.Spec.BusinessUnit), t.Spec.SecurityRoles)
			for _, m := range t.Spec.Members {
				Expect(userNames).To(HaveKey(m), "Team %s lists member %q, which is not a sample PlatformUser", t.Name, m)
			}
			if t.Spec.Type.IsGroupTeam() {
				var members []string
				for _, u := range users {
					for _, g := range u.Spec.SecurityGroups {
						if g == t.Spec.Group {
							members = append(members, u.Name)
						}
					}
				}
				Expect(members).NotTo(BeEmpty(), "no user lists the group %s of team %s (TM1)", t.Spec.Group, t.Name)
			}
		}
	})

	It("AM6, LI1: show the limits: more NonInteractive users than slots, more licensed users than seats of one SKU", func() {
		nonInteractive := 0
		licensed := map[string]int{}
		for _, u := range users {
			if u.NeedsSlot() {
				nonInteractive++
			}
			if u.NeedsLicense() {
				licensed[u.Spec.License]++
			}
		}
		Expect(nonInteractive).To(Equal(9), "the demo has nine NonInteractive users for seven slots")
		Expect(nonInteractive).To(BeNumerically(">", accessv1alpha1.NonInteractiveSlotLimit))

		Expect(env.Spec.Licenses).To(HaveLen(2))
		short := 0
		for _, l := range env.Spec.Licenses {
			Expect(licensed[l.SKU]).To(BeNumerically(">", 0), "no user holds %s", l.SKU)
			if int32(licensed[l.SKU]) > l.Seats {
				short++
			}
		}
		Expect(short).To(Equal(1), "exactly one SKU has fewer seats than users, so seat waiting shows")
		for sku := range licensed {
			Expect(env.Spec.Licenses).To(ContainElement(HaveField("SKU", sku)), "license %s is not offered", sku)
		}
	})

	It("AM1-AM9, SR3-SR8, TM1-TM4: show every kind of principal, role and team the rules talk about", func() {
		By("the environment: a Dynamics365 product, a security group and a tree with a grandchild")
		Expect(env.Spec.Product).To(Equal(accessv1alpha1.ProductDynamics365))
		Expect(env.Spec.SecurityGroup).NotTo(BeEmpty())
		tree := butree.Tree(env.BusinessUnitParents())
		grandchild := false
		for _, parent := range tree {
			if parent != "" && tree[parent] != "" {
				grandchild = true
			}
		}
		Expect(grandchild).To(BeTrue(), "the business-unit tree has no grandchild")

		By("users of every access mode, a stub and a GlobalAdministrator")
		modes := map[accessv1alpha1.AccessMode]int{}
		stubs, globalAdmins := 0, 0
		for _, u := range users {
			modes[u.Spec.AccessMode]++
			if u.Spec.Stub {
				stubs++
				enabled, found, err := unstructured.NestedBool(userDocs[u.Name].obj.Object, "spec", "enabled")
				Expect(err).NotTo(HaveOccurred())
				Expect(found && !enabled).To(BeTrue(), "stub user %s must say enabled: false (AM8)", u.Name)
			}
			for _, r := range u.Spec.AdministratorRoles {
				if r == accessv1alpha1.AdminGlobal {
					globalAdmins++
				}
			}
		}
		Expect(modes[accessv1alpha1.AccessModeReadWrite]).To(BeNumerically(">=", 2))
		Expect(modes[accessv1alpha1.AccessModeAdministrative]).To(BeNumerically(">=", 1))
		Expect(stubs).To(Equal(1))
		Expect(globalAdmins).To(Equal(1))
		Expect(apps).To(HaveLen(2))

		By("roles: presets on several tables, webresource read and its absence, TeamPrivilegesOnly, a child unit")
		var presetRoles, withWebResource, withoutWebResource, teamOnly, inChildUnit int
		for _, r := range roles {
			presets, web := 0, false
			for _, t := range r.Spec.Tables {
				if t.PermissionSetting != "" && t.PermissionSetting != accessv1alpha1.PermissionCustom {
					presets++
				}
				if t.Table == "webresource" {
					switch {
					case t.PermissionSetting == accessv1alpha1.PermissionFullAccess, t.PermissionSetting == accessv1alpha1.PermissionReference,
						t.PermissionSetting == accessv1alpha1.PermissionCollaborate, t.PermissionSetting == accessv1alpha1.PermissionPrivate:
						web = true
					case t.Privileges != nil && t.Privileges.Read.Rank() > 0:
						web = true
					}
				}
			}
			if presets >= 3 {
				presetRoles++
			}
			if web {
				withWebResource++
			} else {
				withoutWebResource++
			}
			if r.Spec.MemberPrivilegeInheritance == accessv1alpha1.InheritTeamPrivilegesOnly {
				teamOnly++
			}
			if r.Spec.BusinessUnit != "" && r.Spec.BusinessUnit != env.RootBusinessUnit() {
				inChildUnit++
			}
		}
		Expect(presetRoles).To(BeNumerically(">=", 1))
		Expect(withWebResource).To(BeNumerically(">=", 1))
		Expect(withoutWebResource).To(Equal(1), "exactly one role lacks webresource read (SR8)")
		Expect(teamOnly).To(BeNumerically(">=", 1))
		Expect(inChildUnit).To(BeNumerically(">=", 1))

		By("teams: an Entra group team with a role, an Owner team with members, an Access team without roles")
		types := map[accessv1alpha1.TeamType]*accessv1alpha1.Team{}
		for _, t := range teams {
			types[t.Spec.Type] = t
		}
		Expect(types).To(HaveKey(accessv1alpha1.TeamAADSecurityGroup))
		Expect(types[accessv1alpha1.TeamAADSecurityGroup].Spec.SecurityRoles).NotTo(BeEmpty())
		Expect(types).To(HaveKey(accessv1alpha1.TeamOwner))
		Expect(types[accessv1alpha1.TeamOwner].Spec.Members).NotTo(BeEmpty())
		Expect(types).To(HaveKey(accessv1alpha1.TeamAccess))
		Expect(types[accessv1alpha1.TeamAccess].Spec.SecurityRoles).To(BeEmpty())
	})
})
