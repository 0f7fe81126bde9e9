package checkaccess_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-cmp/cmp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/checkaccess"
)

// update rewrites the golden file: go test ./internal/checkaccess/ -update, or UPDATE_GOLDEN=1.
var update = flag.Bool("update", false, "rewrite testdata/check-access.golden")

const golden = "testdata/check-access.golden"

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace}
}

func tableOf(name string, s v1.PermissionSetting) v1.TablePermission {
	return v1.TablePermission{Table: name, PermissionSetting: s}
}

func effective(name, roleName, source string) v1.EffectiveRole {
	return v1.EffectiveRole{Name: name, RoleName: roleName, Source: source}
}

// setStatus writes what the user controllers would: enabled, effective roles, up to date.
func setStatus(obj client.Object, status *v1.PrincipalStatus, enabled bool, roles ...v1.EffectiveRole) {
	status.Enabled = enabled
	status.EffectiveRoles = roles
	status.ObservedGeneration = obj.GetGeneration()
	Expect(k8sClient.Status().Update(ctx, obj)).To(Succeed())
}

func run(opts checkaccess.Options) (string, error) {
	opts.Namespace = namespace
	var out bytes.Buffer
	err := checkaccess.Run(ctx, k8sClient, opts, &out)
	return out.String(), err
}

func runJSON(opts checkaccess.Options) checkaccess.Report {
	opts.Output = checkaccess.OutputJSON
	out, err := run(opts)
	Expect(err).NotTo(HaveOccurred())
	var rep checkaccess.Report
	Expect(json.Unmarshal([]byte(out), &rep)).To(Succeed(), out)
	return rep
}

func lookup(rep checkaccess.Report, table string, p access.Privilege) access.PrivilegeAccess {
	ta, _ := rep.Lookup(table)
	return ta.Privilege(p)
}

var _ = Describe("check-access", Ordered, func() {
	BeforeAll(func() {
		objs := []client.Object{
			&v1.Environment{ObjectMeta: meta("contoso"), Spec: v1.EnvironmentSpec{
				Product: v1.ProductDynamics365,
				BusinessUnits: []v1.BusinessUnit{
					{Name: "contoso"}, {Name: "sales", Parent: "contoso"}, {Name: "emea", Parent: "sales"},
				},
			}},
			&v1.SecurityRole{ObjectMeta: meta("sales-manager"), Spec: v1.SecurityRoleSpec{
				EnvironmentName: "contoso", RoleName: "Sales Manager", BusinessUnit: "sales",
				Tables: []v1.TablePermission{
					{Table: "account", Privileges: &v1.TablePrivileges{
						Create: v1.AccessBasic, Read: v1.AccessDeep, Write: v1.AccessLocal, Delete: v1.AccessBasic,
						Append: v1.AccessLocal, AppendTo: v1.AccessLocal, Assign: v1.AccessBasic, Share: v1.AccessBasic}},
					tableOf("opportunity", v1.PermissionCollaborate),
					{Table: "webresource", Ownership: v1.OwnershipOrganization, PermissionSetting: v1.PermissionReference},
				},
				PrivacyPrivileges: []v1.NamedPrivilege{{Name: "ExportToExcel"}},
			}},
			&v1.SecurityRole{ObjectMeta: meta("team-reader"), Spec: v1.SecurityRoleSpec{
				EnvironmentName: "contoso", RoleName: "Team Reader", BusinessUnit: "sales",
				MemberPrivilegeInheritance: v1.InheritTeamPrivilegesOnly,
				Tables: []v1.TablePermission{
					{Table: "account", Privileges: &v1.TablePrivileges{Read: v1.AccessBusinessUnit, Write: v1.AccessUser}},
					tableOf("lead", v1.PermissionPrivate),
				},
			}},
			&v1.SecurityRole{ObjectMeta: meta("campaign-reader"), Spec: v1.SecurityRoleSpec{
				EnvironmentName: "contoso", RoleName: "Campaign Reader",
				Tables: []v1.TablePermission{tableOf("campaign", v1.PermissionReference)},
			}},
			// hq has no business unit: it is the environment's root (contoso).
			&v1.Team{ObjectMeta: meta("hq"), Spec: v1.TeamSpec{
				EnvironmentName: "contoso", Type: v1.TeamOwner,
				Members: []string{"alice"}, SecurityRoles: []string{"campaign-reader"},
			}},
			&v1.Team{ObjectMeta: meta("emea-group"), Spec: v1.TeamSpec{
				EnvironmentName: "contoso", Type: v1.TeamOwner, BusinessUnit: "emea",
				Members: []string{"alice"}, SecurityRoles: []string{"team-reader"},
			}},
		}
		for _, b := range []v1.BuiltInRole{
			v1.BuiltInSystemAdministrator, v1.BuiltInSystemCustomizer, v1.BuiltInBasicUser,
			v1.BuiltInEnvironmentMaker, v1.BuiltInSalesperson, v1.BuiltInCommonDataServiceUser,
		} {
			name := "contoso-" + strings.ToLower(strings.ReplaceAll(access.BuiltInDisplayName(b), " ", "-"))
			objs = append(objs, &v1.SecurityRole{ObjectMeta: meta(name), Spec: access.BuiltInRoleSpec("contoso", b)})
		}
		for _, obj := range objs {
			Expect(k8sClient.Create(ctx, obj)).To(Succeed(), "SR3 SR4 SR7 the API server accepts %s %q", obj.GetObjectKind(), obj.GetName())
		}

		alice := &v1.PlatformUser{ObjectMeta: meta("alice"), Spec: v1.PlatformUserSpec{
			EnvironmentName: "contoso", UserName: "alice@contoso.com", Enabled: true, BusinessUnit: "sales",
			License: "DYN365_ENTERPRISE_PLAN1", SecurityRoles: []string{"sales-manager", "contoso-basic-user"},
		}}
		Expect(k8sClient.Create(ctx, alice)).To(Succeed())
		setStatus(alice, &alice.Status.PrincipalStatus, true,
			effective("sales-manager", "Sales Manager", "Direct"),
			effective("contoso-basic-user", "Basic User", "Direct"),
			effective("team-reader", "Team Reader", "Team/emea-group"),
			effective("campaign-reader", "Campaign Reader", "Team/hq"))

		ana := &v1.PlatformUser{ObjectMeta: meta("ana"), Spec: v1.PlatformUserSpec{
			EnvironmentName: "contoso", UserName: "ana@contoso.com", Enabled: true,
			AccessMode: v1.AccessModeAdministrative, AdministratorRoles: []v1.AdministratorRole{v1.AdminGlobal},
		}}
		Expect(k8sClient.Create(ctx, ana)).To(Succeed())
		setStatus(ana, &ana.Status.PrincipalStatus, true,
			effective("contoso-system-administrator", "System Administrator", "AdministratorRole/GlobalAdministrator"))

		app := &v1.ApplicationUser{ObjectMeta: meta("erp-sync"), Spec: v1.ApplicationUserSpec{
			EnvironmentName: "contoso", ApplicationID: "6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab", Enabled: true,
			SecurityRoles: []string{"sales-manager"},
		}}
		Expect(k8sClient.Create(ctx, app)).To(Succeed())
		setStatus(app, &app.Status.PrincipalStatus, true, effective("sales-manager", "Sales Manager", "Direct"))

		bob := &v1.PlatformUser{ObjectMeta: meta("bob"), Spec: v1.PlatformUserSpec{
			EnvironmentName: "contoso", UserName: "bob@contoso.com", Enabled: true, License: "DYN365_ENTERPRISE_PLAN1",
		}}
		Expect(k8sClient.Create(ctx, bob)).To(Succeed())
		setStatus(bob, &bob.Status.PrincipalStatus, true,
			effective("ghost-role", "Ghost", "Direct"),
			effective("team-reader", "Team Reader", "Team/ghost-team"))
	})

	It("SR4 SR6 TM2 TM3 prints alice's access as in the golden file", func() {
		got, err := run(checkaccess.Options{User: "alice"})
		Expect(err).NotTo(HaveOccurred())
		if *update || os.Getenv("UPDATE_GOLDEN") == "1" {
			Expect(os.MkdirAll(filepath.Dir(golden), 0o755)).To(Succeed())
			Expect(os.WriteFile(golden, []byte(got), 0o644)).To(Succeed())
		}
		want, err := os.ReadFile(golden)
		Expect(err).NotTo(HaveOccurred(), "run with UPDATE_GOLDEN=1 to create %s", golden)
		Expect(cmp.Diff(string(want), got)).To(BeEmpty(), "output differs from %s (-want +got); UPDATE_GOLDEN=1 rewrites it", golden)
	})

	It("SR2 SR6 TM2 TM3 JSON output has the canonical levels and the grants that give them", func() {
		rep := runJSON(checkaccess.Options{User: "alice"})
		Expect(rep.Kind).To(Equal("PlatformUser"))
		Expect(rep.Environment).To(Equal("contoso"))
		Expect(rep.Principal).To(Equal("alice"))
		Expect(rep.BusinessUnit).To(Equal("sales"))
		Expect(rep.Access).To(Equal(v1.AccessFull))

		read := lookup(rep, "account", access.Read)
		Expect(read.Level).To(Equal(v1.AccessParentChildBusinessUnits), "SR2 Deep is ParentChildBusinessUnits; SR6 the highest grant wins")
		Expect(read.Grants).To(Equal([]access.Grant{
			{Role: "sales-manager", RoleName: "Sales Manager", Source: "Direct", Level: v1.AccessParentChildBusinessUnits, Via: access.ViaUser, BusinessUnit: "sales"},
			{Role: "team-reader", RoleName: "Team Reader", Source: "Team/emea-group", Level: v1.AccessBusinessUnit, Via: access.ViaTeam, Team: "emea-group", BusinessUnit: "emea"},
			{Role: "contoso-basic-user", RoleName: "Basic User", Source: "Direct", Level: v1.AccessUser, Via: access.ViaUser, BusinessUnit: "sales"},
		}))
		Expect(lookup(rep, "account", access.Write).Level).To(Equal(v1.AccessBusinessUnit), "SR2 Local is BusinessUnit")
		Expect(lookup(rep, "opportunity", access.Read).Level).To(Equal(v1.AccessOrganization), "SR4 Collaborate reads at Organization")
		Expect(lookup(rep, "opportunity", access.Write).Level).To(Equal(v1.AccessUser), "SR4 Collaborate writes at User")
		lead := lookup(rep, "lead", access.Create)
		Expect(lead.Level).To(Equal(v1.AccessUser))
		Expect(lead.Grants).To(HaveLen(1))
		Expect(lead.Grants[0].Via).To(Equal(access.ViaTeam), "TM2 a TeamPrivilegesOnly role reaches the member only through the team")
		Expect(lookup(rep, "campaign", access.Read).Grants).To(Equal([]access.Grant{
			{Role: "campaign-reader", RoleName: "Campaign Reader", Source: "Team/hq", Level: v1.AccessOrganization, Via: access.ViaTeam, Team: "hq", BusinessUnit: "contoso"},
			{Role: "campaign-reader", RoleName: "Campaign Reader", Source: "Team/hq", Level: v1.AccessUser, Via: access.ViaUser, Team: "hq", BusinessUnit: "sales"},
		}), "TM3 a DirectUserBasicAndTeam role reaches the member directly at Basic (User) level only, and at its own level through the team")
		Expect(lookup(rep, "invoice", access.Read).Level).To(Equal(v1.AccessNone))
		Expect(rep.Privacy).To(ContainElement(HaveField("Name", "ExportToExcel")))
	})

	It("SR6 filters the output to one table", func() {
		out, err := run(checkaccess.Options{User: "alice", Table: "lead"})
		Expect(err).NotTo(HaveOccurred())
		rows := strings.Split(strings.TrimSpace(out[strings.Index(out, "TABLE"):]), "\n")[1:]
		Expect(rows).To(HaveLen(8), out)
		for _, row := range rows {
			Expect(row).To(HavePrefix("lead "))
		}
		Expect(out).NotTo(ContainSubstring("PRIVACY"))
	})

	It("AM9 AM4 an Administrative Global Administrator holds System Administrator but reaches no customer data", func() {
		rep := runJSON(checkaccess.Options{User: "ana", Table: "invoice"})
		Expect(rep.Access).To(Equal(v1.AccessSettingsOnly))
		Expect(rep.BusinessUnit).To(Equal("contoso"), "an empty business unit is the environment's root")
		Expect(rep.Tables).To(HaveLen(1))
		for _, pa := range rep.Tables[0].Privileges {
			Expect(pa.Level).To(Equal(v1.AccessNone), "AM4 %s", pa.Privilege)
			Expect(pa.Granted).To(Equal(v1.AccessOrganization), "AM9 %s", pa.Privilege)
			Expect(pa.Grants).To(ConsistOf(HaveField("Source", "AdministratorRole/GlobalAdministrator")))
		}
		Expect(rep.Notes).To(ContainElement(access.NoteAdministrative))

		out, err := run(checkaccess.Options{User: "ana", Table: "invoice"})
		Expect(err).NotTo(HaveOccurred())
		Expect(out).To(ContainSubstring("invoice  read       None (granted Organization)  System Administrator (AdministratorRole/GlobalAdministrator)"))
	})

	It("AM7 falls back to an ApplicationUser, which is Programmatic", func() {
		rep := runJSON(checkaccess.Options{User: "erp-sync"})
		Expect(rep.Kind).To(Equal("ApplicationUser"))
		Expect(rep.Access).To(Equal(v1.AccessProgrammatic))
		Expect(rep.AccessMode).To(Equal(v1.AccessModeNonInteractive))
		Expect(lookup(rep, "account", access.Read).Level).To(Equal(v1.AccessParentChildBusinessUnits))
	})

	It("EV3 names every missing role and team", func() {
		_, err := run(checkaccess.Options{User: "bob"})
		Expect(err).To(HaveOccurred())
		Expect(err.Error()).To(ContainSubstring(`SecurityRole "ghost-role" not found in namespace "check-access"`))
		Expect(err.Error()).To(ContainSubstring(`Team "ghost-team" not found in namespace "check-access"`))
	})

	It("EV3 says when no user has the name", func() {
		_, err := run(checkaccess.Options{User: "nobody"})
		Expect(err).To(MatchError(`no PlatformUser or ApplicationUser "nobody" in namespace "check-access"`))
	})

	It("refuses an unknown output format", func() {
		_, err := run(checkaccess.Options{User: "alice", Output: "yaml"})
		Expect(err).To(MatchError(ContainSubstring(`unknown output "yaml"`)))
	})
})
