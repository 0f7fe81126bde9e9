package controllers_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

// behindTheBack sends one Web API request to an emulated environment as another admin would
// (the suite's static token, not the operator's client), and expects a 2xx.
func behindTheBack(dvName, method, path string, body any) {
	GinkgoHelper()
	var payload []byte
	if body != nil {
		payload, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, dataverseURL(dvName)+"/api/data/v9.2/"+path, bytes.NewReader(payload))
	Expect(err).NotTo(HaveOccurred())
	req.Header.Set("Authorization", "Bearer "+staticToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := emulatorHTTPClient().Do(req)
	Expect(err).NotTo(HaveOccurred())
	resp.Body.Close()
	Expect(resp.StatusCode).To(BeNumerically("<", 300), "%s %s", method, path)
}

// writesSince lists an emulated environment's writes after the first n of the log.
func writesSince(dvName string, n int) []string {
	var out []string
	for _, r := range emulator.Writes(emu.Requests())[n:] {
		if r.Environment == dvName {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

var _ = Describe("Sync target: drift behind the operator's back", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	// Issue 21: the bulk snapshot (read every half sync interval, its users through change
	// tracking where systemusers has it) must not hide a change made behind the operator's back:
	// each is found and corrected within the sync interval, with change tracking on and off.
	driftCorrected := func(tracked bool) {
		const env, interval = "drift", 6 * time.Second
		adaOID, bobOID := "0d1f3a1e-5c7d-4e2f-8a6b-1c2d3e4f5a61", "0d1f3a1e-5c7d-4e2f-8a6b-1c2d3e4f5a62"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage, func(e *accessv1alpha1.Environment) {
			e.Spec.Dataverse.SyncInterval = &metav1.Duration{Duration: interval}
		})
		Expect(emu.SetChangeTracking(dv, "systemuser", tracked)).To(Succeed())
		Expect(emu.SetEntraUser(dv, emulator.EntraUser{ObjectID: adaOID, UPN: "ada@contoso.com", Licensed: true})).To(Succeed())
		Expect(emu.SetEntraUser(dv, emulator.EntraUser{ObjectID: bobOID, UPN: "bob@contoso.com", Licensed: true})).To(Succeed())
		create(e, role(ns, "seller", env, func(r *accessv1alpha1.SecurityRole) { r.Spec.RoleName = "Seller" }),
			user(ns, "ada", env, withLicense("PLAN1"), withRoles("seller"), func(u *accessv1alpha1.PlatformUser) { u.Spec.EntraObjectID = adaOID }),
			user(ns, "bob", env, withLicense("PLAN1"), withRoles("seller"), func(u *accessv1alpha1.PlatformUser) { u.Spec.EntraObjectID = bobOID }),
			team(ns, "closers", env, accessv1alpha1.TeamOwner, func(t *accessv1alpha1.Team) {
				t.Spec.Members = []string{"ada"}
				t.Spec.SecurityRoles = []string{"seller"}
			}))
		for _, o := range []client.Object{securityRole(ns, "seller"), platformUser(ns, "ada"), platformUser(ns, "bob"),
			&accessv1alpha1.Team{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "closers"}}} {
			Eventually(readyReason(o), "90s").Should(Equal("True"))
		}
		d := dumpOf(dv)
		ada, bob := recordNamed(d.Users, "domainname", "ada@contoso.com"), recordNamed(d.Users, "domainname", "bob@contoso.com")
		seller, closers := recordNamed(d.Roles, "name", "Seller"), recordNamed(d.Teams, "name", "closers")
		Expect([]map[string]any{ada, bob, seller, closers}).NotTo(ContainElement(BeNil()))
		adaID, bobID := ada["systemuserid"].(string), bob["systemuserid"].(string)
		sellerID, closersID := seller["roleid"].(string), closers["teamid"].(string)

		By("letting it settle, then changing four things behind its back at once")
		Eventually(func() bool {
			n := len(writesTo(dv))
			time.Sleep(2 * time.Second)
			return len(writesTo(dv)) == n
		}, "30s").Should(BeTrue(), "the environment still writes")
		mark := len(emulator.Writes(emu.Requests()))
		changedAt := time.Now()
		behindTheBack(dv, http.MethodDelete, "systemusers("+adaID+")/systemuserroles_association/$ref?$id="+url.QueryEscape(dataverseURL(dv)+"/api/data/v9.2/roles("+sellerID+")"), nil)
		Expect(emu.Patch(dv, "systemusers", bobID, map[string]any{"accessmode": 1})).To(Succeed())
		Expect(emu.SetRolePrivileges(dv, sellerID, map[string]string{"prvReadAccount": "Local", "prvWriteAccount": "Local", "prvReadWebResource": "Global", "prvDeleteAccount": "Global"})).To(Succeed())
		behindTheBack(dv, http.MethodPost, "teams("+closersID+")/Microsoft.Dynamics.CRM.AddMembersTeam",
			map[string]any{"Members": []map[string]string{{"@odata.type": "Microsoft.Dynamics.CRM.systemuser", "systemuserid": bobID}}})

		By("seeing and correcting each within one sync interval (and the snapshot's half-interval reread)")
		want := []struct{ what, method, target string }{
			{"ada's role given back", "POST", "systemusers(" + adaID + ")/systemuserroles_association"},
			{"bob's access mode set back", "PATCH", "systemusers(" + bobID + ")"},
			{"Seller's privileges put back", "POST", "roles(" + sellerID + ")/Microsoft.Dynamics.CRM.ReplacePrivilegesRole"},
			{"bob taken out of closers", "POST", "teams(" + closersID + ")/Microsoft.Dynamics.CRM.RemoveMembersTeam"},
		}
		corrected := func() []string {
			var missing []string
		next:
			for _, w := range want {
				for _, got := range writesSince(dv, mark) {
					if strings.HasPrefix(got, w.method) && strings.Contains(got, "/api/data/v9.2/"+w.target) {
						continue next
					}
				}
				missing = append(missing, w.what)
			}
			return missing
		}
		Eventually(corrected, interval+interval/2+10*time.Second, "250ms").Should(BeEmpty(), func() string { return strings.Join(writesSince(dv, mark), "\n") })
		took := time.Since(changedAt)
		GinkgoWriter.Printf("corrected within %s: %v\n", took.Round(100*time.Millisecond), writesSince(dv, mark))
		d = dumpOf(dv)
		Expect(recordNamed(d.Users, "domainname", "bob@contoso.com")["accessmode"]).To(BeEquivalentTo(0))
		tracking := 0
		for _, r := range emu.Requests() {
			if r.Environment == dv && r.Method == http.MethodGet && strings.Contains(r.Path, "deltatoken") {
				tracking++
			}
		}
		if tracked {
			Expect(tracking).To(BeNumerically(">", 0), "with change tracking on, the snapshot follows its deltaLinks")
		} else {
			Expect(tracking).To(BeZero(), "with change tracking off, no deltaLink is read")
		}
	}
	It("with change tracking on systemusers: a role removed from a user, an access mode changed, a privilege added to a role and a member added to a team are each corrected within one sync interval", func() {
		driftCorrected(true)
	})
	It("with change tracking off: the same four changes are each corrected within one sync interval", func() {
		driftCorrected(false)
	})
})
