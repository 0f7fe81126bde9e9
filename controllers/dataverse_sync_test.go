package controllers_test

import (
	"fmt"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/controllers"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

// withSyncInterval makes drift be re-observed every d.
func withSyncInterval(d time.Duration) func(*accessv1alpha1.Environment) {
	return func(e *accessv1alpha1.Environment) {
		e.Spec.Dataverse.SyncInterval = &metav1.Duration{Duration: d}
	}
}

// defaultIntervalAfterSpec puts the default sync interval back when the spec ends, so its
// objects stop being synced every few seconds while specs that count reconciles run.
func defaultIntervalAfterSpec(ns, env string) {
	DeferCleanup(func() {
		update(environment(ns, env), func(e *accessv1alpha1.Environment) { e.Spec.Dataverse.SyncInterval = nil })
	})
}

func withDeletionPolicy(p accessv1alpha1.DeletionPolicy) func(*accessv1alpha1.Environment) {
	return func(e *accessv1alpha1.Environment) { e.Spec.Dataverse.DeletionPolicy = p }
}

func withEntraObjectID(id string) func(*accessv1alpha1.PlatformUser) {
	return func(u *accessv1alpha1.PlatformUser) { u.Spec.EntraObjectID = id }
}

func appUser(ns, name, env, appID string, roles ...string) *accessv1alpha1.ApplicationUser {
	return &accessv1alpha1.ApplicationUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: accessv1alpha1.ApplicationUserSpec{EnvironmentName: env, Enabled: true, ApplicationID: appID, SecurityRoles: roles}}
}

func applicationUser(ns, name string) *accessv1alpha1.ApplicationUser {
	return &accessv1alpha1.ApplicationUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

// eventNotes are the notes of the events of one reason about one object.
func eventNotes(ns, name, reason string) []string {
	var evs eventsv1.EventList
	ExpectWithOffset(1, k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
	var out []string
	for _, ev := range evs.Items {
		if ev.Regarding.Name == name && ev.Reason == reason {
			out = append(out, ev.Note)
		}
	}
	return out
}

// field reads one field of the record whose key field has value, from a fresh dump.
func field(dv string, set func(emulator.EnvironmentDump) []map[string]any, key, value, name string) func() any {
	return func() any {
		r := recordNamed(set(dumpOf(dv)), key, value)
		if r == nil {
			return nil
		}
		return r[name]
	}
}

func usersOf(d emulator.EnvironmentDump) []map[string]any       { return d.Users }
func rolesOf(d emulator.EnvironmentDump) []map[string]any       { return d.Roles }
func teamRecordsOf(d emulator.EnvironmentDump) []map[string]any { return d.Teams }

// duplicates lists the natural keys held by more than one record of the dump: roles by name and
// unit (the service copies a role into every unit below its own), users by application id or
// user name, teams by name and unit.
func duplicates(d emulator.EnvironmentDump) []string {
	seen := map[string]int{}
	for _, r := range d.Roles {
		seen[fmt.Sprintf("role %v in %v", r["name"], r["_businessunitid_value"])]++
	}
	for _, u := range d.Users {
		app, _ := u["applicationid"].(string)
		domain, _ := u["domainname"].(string)
		switch {
		case app != "":
			seen["application user "+app]++
		case domain != "":
			seen["user "+domain]++
		default:
			seen[fmt.Sprintf("service user %v", u["fullname"])]++ // SYSTEM, INTEGRATION
		}
	}
	for _, t := range d.Teams {
		seen[fmt.Sprintf("team %v in %v", t["name"], t["_businessunitid_value"])]++
	}
	var out []string
	for k, n := range seen {
		if n > 1 {
			out = append(out, fmt.Sprintf("%s ×%d", k, n))
		}
	}
	return out
}

// patchesTo lists the PATCH requests to one record.
func patchesTo(dv, set, id string) []string {
	var out []string
	for _, r := range emu.Requests() {
		if r.Environment == dv && r.Method == "PATCH" && strings.Contains(r.Path, "/"+set+"("+id+")") {
			out = append(out, r.Path)
		}
	}
	return out
}

// lostAnswers counts the requests the emulator dropped the connection of.
func lostAnswers(dv string) int {
	n := 0
	for _, r := range emu.Requests() {
		if r.Environment == dv && r.Status < 0 {
			n++
		}
	}
	return n
}

func nonInteractiveLedger(ns, env string) func() *accessv1alpha1.SlotLedger {
	return func() *accessv1alpha1.SlotLedger {
		var e accessv1alpha1.Environment
		ExpectWithOffset(1, k8sClient.Get(ctx, key(ns, env), &e)).To(Succeed())
		return e.Status.NonInteractive
	}
}

func hasFinalizer(obj client.Object) bool {
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	return controllerutil.ContainsFinalizer(obj, controllers.DataverseFinalizer)
}

func deleteAndWait(objs ...client.Object) {
	for _, o := range objs {
		ExpectWithOffset(1, k8sClient.Delete(ctx, o)).To(Succeed(), "delete %s", o.GetName())
	}
	for _, o := range objs {
		EventuallyWithOffset(1, func() bool {
			return apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(o), o))
		}, "30s").Should(BeTrue(), "%s is gone", o.GetName())
	}
}

var _ = Describe("Sync target: drift, slots, deletion, Entra ID and failures", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("Synced Manage: a role's privileges edited behind the operator's back and an access mode changed by another admin are corrected at the next sync interval, with a Synced event saying what was corrected", func() {
		const env = "fix"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage, withSyncInterval(2*time.Second))
		defaultIntervalAfterSpec(ns, env)
		adaID, err := emu.AddUnmanagedUser(dv, map[string]any{"domainname": "ada@contoso.com", "accessmode": 0})
		Expect(err).NotTo(HaveOccurred())
		create(e, role(ns, "seller", env, roleNamed("Seller")), user(ns, "ada", env, withLicense("PLAN1"), withRoles("seller")))
		Eventually(readyReason(securityRole(ns, "seller")), "60s").Should(Equal("True"))
		Eventually(readyReason(platformUser(ns, "ada")), "60s").Should(Equal("True"))
		seller := recordNamed(dumpOf(dv).Roles, "name", "Seller")
		Expect(seller).NotTo(BeNil())
		decided := seller["privileges"]
		Expect(decided).NotTo(BeEmpty())
		Expect(field(dv, usersOf, "domainname", "ada@contoso.com", "accessmode")()).To(BeEquivalentTo(0))

		By("another admin edits the role and the user")
		Expect(emu.SetRolePrivileges(dv, seller["roleid"].(string), map[string]string{"prvDeleteAccount": "Global", "prvReadContact": "Global"})).To(Succeed())
		Expect(emu.Patch(dv, "systemusers", adaID, map[string]any{"accessmode": 1})).To(Succeed())
		Expect(field(dv, rolesOf, "name", "Seller", "privileges")()).NotTo(Equal(decided))

		By("the next sync puts the decided state back")
		Eventually(field(dv, rolesOf, "name", "Seller", "privileges"), "20s").Should(Equal(decided))
		Eventually(field(dv, usersOf, "domainname", "ada@contoso.com", "accessmode"), "20s").Should(BeEquivalentTo(0))
		Eventually(func() []string { return eventNotes(ns, "seller", "Synced") }, "30s").Should(ContainElement(
			And(ContainSubstring("privileges differ"), Not(ContainSubstring("role missing")))), "a Synced event names the privileges corrected")
		Eventually(func() []string { return eventNotes(ns, "ada", "Synced") }, "30s").Should(ContainElement(
			ContainSubstring("accessmode Administrative, decided ReadWrite")), "a Synced event names the access mode corrected")
		Expect(readyReason(securityRole(ns, "seller"))()).To(Equal("True"))
		Expect(readyReason(platformUser(ns, "ada"))()).To(Equal("True"))
		r := securityRole(ns, "seller")
		Expect(k8sClient.Get(ctx, key(ns, "seller"), r)).To(Succeed())
		Expect(r.Status.Dataverse.LastCorrection).To(ContainSubstring("privileges differ"), "status.dataverse says what was last corrected")
		Expect(r.Status.Dataverse.LastCorrection).NotTo(ContainSubstring("role missing"))
	})

	It("Synced: applied in reverse order (team, application user, user, role, then the Environment) everything converges to the decided records without a duplicate, and nothing is written once converged", func() {
		const env = "backwards"
		const appID = "61111111-2222-4333-8444-555555555555"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage, func(e *accessv1alpha1.Environment) {
			e.Spec.BusinessUnits = []accessv1alpha1.BusinessUnit{{Name: "hq"}, {Name: "sales", Parent: "hq"}}
		})
		_, err := emu.AddUnmanagedUser(dv, map[string]any{"domainname": "ada@contoso.com", "accessmode": 0})
		Expect(err).NotTo(HaveOccurred())
		app := appUser(ns, "erp", env, appID, "seller")
		app.Spec.BusinessUnit = "sales"
		objs := []client.Object{
			team(ns, "closers", env, accessv1alpha1.TeamOwner, teamRoles("seller"), teamMembers("ada"), teamUnit("sales")),
			app,
			user(ns, "ada", env, withLicense("PLAN1"), withRoles("seller"), userUnit("sales")),
			role(ns, "seller", env, roleNamed("Seller"), roleUnit("sales")),
			e,
		}
		for _, o := range objs {
			create(o)
			time.Sleep(200 * time.Millisecond) // each finds the ones after it missing
		}
		for _, o := range objs {
			Eventually(readyReason(o), "60s").Should(Equal("True"), o.GetName())
		}
		d := dumpOf(dv)
		Expect(duplicates(d)).To(BeEmpty())
		sales := recordNamed(d.BusinessUnits, "name", "sales")
		Expect(sales).NotTo(BeNil())
		seller := recordNamed(d.Roles, "name", "Seller")
		Expect(seller).NotTo(BeNil())
		Expect(seller["_businessunitid_value"]).To(Equal(sales["businessunitid"]))
		ada := recordNamed(d.Users, "domainname", "ada@contoso.com")
		Expect(ada["_businessunitid_value"]).To(Equal(sales["businessunitid"]))
		Expect(ada["roles"]).To(ConsistOf("Seller"))
		erp := recordNamed(d.Users, "applicationid", appID)
		Expect(erp["_businessunitid_value"]).To(Equal(sales["businessunitid"]))
		Expect(erp["roles"]).To(ConsistOf("Seller"))
		closers := recordNamed(d.Teams, "name", "closers")
		Expect(closers["roles"]).To(ConsistOf("Seller"))
		Expect(closers["members"]).To(ConsistOf("ada@contoso.com"))

		before := len(writesTo(dv))
		Consistently(func() int { return len(writesTo(dv)) }, "2s").Should(Equal(before), "nothing is written once converged")
	})

	It("Slots: non-interactive users in Dataverse that no PlatformUser manages take slots first: with two, five of seven NonInteractive PlatformUsers hold one, the ledger shows 7/7 with 2 unmanaged, and application users count for nothing", func() {
		const env = "bots"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage)
		for i := 0; i < 2; i++ {
			_, err := emu.AddUnmanagedUser(dv, map[string]any{"domainname": fmt.Sprintf("legacy%d@contoso.com", i), "accessmode": 4})
			Expect(err).NotTo(HaveOccurred())
		}
		// AM7: an application user has accessmode 4 too, and never takes one of the seven.
		_, err := emu.AddUnmanagedUser(dv, map[string]any{"applicationid": "99999999-2222-4333-8444-555555555555", "accessmode": 4})
		Expect(err).NotTo(HaveOccurred())
		create(e, role(ns, "worker", env))
		for i := 0; i < 7; i++ {
			_, err := emu.AddUnmanagedUser(dv, map[string]any{"domainname": fmt.Sprintf("bot%d@contoso.com", i), "accessmode": 0})
			Expect(err).NotTo(HaveOccurred())
			create(user(ns, fmt.Sprintf("bot%d", i), env, nonInteractive, withRoles("worker")))
		}
		Eventually(func(g Gomega) {
			l := nonInteractiveLedger(ns, env)()
			g.Expect(l).NotTo(BeNil())
			g.Expect(l.Unmanaged).To(BeEquivalentTo(2))
			g.Expect(l.Used).To(BeEquivalentTo(7))
			g.Expect(l.Usage).To(Equal("7/7"))
			g.Expect(ledgerNames(l.Holders)).To(Equal([]string{"bot0", "bot1", "bot2", "bot3", "bot4"}))
			g.Expect(ledgerNames(l.Waiting)).To(Equal([]string{"bot5", "bot6"}))
		}, "60s").Should(Succeed())
		for i := 0; i < 5; i++ {
			Eventually(readyReason(platformUser(ns, fmt.Sprintf("bot%d", i))), "60s").Should(Equal("True"))
			Expect(field(dv, usersOf, "domainname", fmt.Sprintf("bot%d@contoso.com", i), "accessmode")()).To(BeEquivalentTo(4))
		}
		for i := 5; i < 7; i++ {
			Eventually(readyReason(platformUser(ns, fmt.Sprintf("bot%d", i))), "60s").Should(Equal(accessv1alpha1.ReasonNonInteractiveLimitReached))
		}
	})

	It("Slots: waiting users are never written as NonInteractive: of nine NonInteractive users the seven holders have accessmode 4, the two waiting keep 0 and their records are never PATCHed", func() {
		const env = "queue"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage)
		create(e, role(ns, "worker", env))
		ids := map[string]string{}
		for i := 0; i < 9; i++ {
			id, err := emu.AddUnmanagedUser(dv, map[string]any{"domainname": fmt.Sprintf("q%d@contoso.com", i), "accessmode": 0})
			Expect(err).NotTo(HaveOccurred())
			ids[fmt.Sprintf("q%d", i)] = id
			create(user(ns, fmt.Sprintf("q%d", i), env, nonInteractive, withRoles("worker")))
		}
		for i := 0; i < 7; i++ {
			Eventually(readyReason(platformUser(ns, fmt.Sprintf("q%d", i))), "60s").Should(Equal("True"))
		}
		for i := 7; i < 9; i++ {
			u := platformUser(ns, fmt.Sprintf("q%d", i))
			Eventually(readyReason(u), "60s").Should(Equal(accessv1alpha1.ReasonNonInteractiveLimitReached))
			// Written as it is (ReadWrite), and reported: Dataverse holds it enabled while it waits.
			Eventually(conditionOf(u, accessv1alpha1.ConditionSynced), "30s").Should(Equal("False/" + accessv1alpha1.ReasonEnablementDrift))
		}
		d := dumpOf(dv)
		for i := 0; i < 9; i++ {
			name := fmt.Sprintf("q%d", i)
			want := 4
			if i >= 7 {
				want = 0
				Expect(patchesTo(dv, "systemusers", ids[name])).To(BeEmpty(), "waiting user %s is never written", name)
			}
			Expect(recordNamed(d.Users, "domainname", name+"@contoso.com")["accessmode"]).To(BeEquivalentTo(want), name)
		}
	})

	It("deletionPolicy Orphan: roles, teams and application users carry no finalizer, and deleting them leaves their records in Dataverse", func() {
		const env = "keep"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage)
		const appID = "21111111-2222-4333-8444-555555555555"
		r := role(ns, "seller", env, roleNamed("Seller"))
		app := appUser(ns, "erp", env, appID, "seller")
		t := team(ns, "closers", env, accessv1alpha1.TeamOwner, teamRoles("seller"))
		create(e, r, app, t)
		for _, o := range []client.Object{r, app, t} {
			Eventually(readyReason(o), "60s").Should(Equal("True"), o.GetName())
			Expect(hasFinalizer(o)).To(BeFalse(), "%s: Orphan needs no finalizer", o.GetName())
		}
		deleteAndWait(r, app, t)
		d := dumpOf(dv)
		Expect(recordNamed(d.Roles, "name", "Seller")).NotTo(BeNil())
		Expect(recordNamed(d.Users, "applicationid", appID)).NotTo(BeNil())
		Expect(recordNamed(d.Teams, "name", "closers")).NotTo(BeNil())
	})

	It("deletionPolicy Delete: the finalizer is only on synced roles, teams and application users; deleting them removes their records, deleting a duplicate removes nothing, and an interactive user is never deleted", func() {
		const env = "purge"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage, withDeletionPolicy(accessv1alpha1.DeletionDelete))
		_, err := emu.AddUnmanagedUser(dv, map[string]any{"domainname": "ada@contoso.com", "accessmode": 0})
		Expect(err).NotTo(HaveOccurred())
		const appID = "31111111-2222-4333-8444-555555555555"
		r := role(ns, "seller", env, roleNamed("Seller"))
		app := appUser(ns, "erp", env, appID, "seller")
		t := team(ns, "closers", env, accessv1alpha1.TeamOwner, teamRoles("seller"), teamMembers("ada"))
		ada := user(ns, "ada", env, withLicense("PLAN1"), withRoles("seller"))
		create(e, r, app, t, ada)
		for _, o := range []client.Object{r, app, t, ada} {
			Eventually(readyReason(o), "60s").Should(Equal("True"), o.GetName())
		}
		dup := role(ns, "seller-copy", env, roleNamed("Seller"))
		create(dup)
		Eventually(readyReason(dup), "30s").Should(Equal(accessv1alpha1.ReasonDuplicateRoleName))

		for _, o := range []client.Object{r, app, t} {
			Expect(hasFinalizer(o)).To(BeTrue(), "%s was synced: Delete holds it", o.GetName())
		}
		Consistently(func() bool { return hasFinalizer(dup) }, "1s").Should(BeFalse(), "a duplicate owns no record")
		Expect(hasFinalizer(ada)).To(BeFalse(), "a person's record is never deleted: nothing to hold")

		By("deleting the duplicate leaves the role it duplicates")
		deleteAndWait(dup)
		Expect(recordNamed(dumpOf(dv).Roles, "name", "Seller")).NotTo(BeNil())

		By("deleting the person leaves its record")
		deleteAndWait(ada)
		Expect(recordNamed(dumpOf(dv).Users, "domainname", "ada@contoso.com")).NotTo(BeNil())

		By("deleting the role, team and application user removes their records")
		deleteAndWait(t, app, r)
		d := dumpOf(dv)
		Expect(recordNamed(d.Roles, "name", "Seller")).To(BeNil())
		Expect(recordNamed(d.Users, "applicationid", appID)).To(BeNil())
		Expect(recordNamed(d.Teams, "name", "closers")).To(BeNil())
		Expect(recordNamed(d.Users, "domainname", "ada@contoso.com")).NotTo(BeNil())
	})

	It("deletionPolicy Delete: a team created in Dataverse while its members are not there yet holds the finalizer, and deleting it removes its record", func() {
		const env = "half"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage, withDeletionPolicy(accessv1alpha1.DeletionDelete))
		// Not in Dataverse and no entraObjectId: it never arrives, so the team's members never sync.
		ghost := user(ns, "ghost", env, withLicense("PLAN1"))
		t := team(ns, "waiters", env, accessv1alpha1.TeamOwner, teamMembers("ghost"))
		create(e, ghost, t)
		Eventually(conditionOf(t, accessv1alpha1.ConditionSynced), "30s").Should(Equal("False/" + accessv1alpha1.ReasonSyncPending))
		Eventually(func() map[string]any { return recordNamed(dumpOf(dv).Teams, "name", "waiters") }, "10s").ShouldNot(BeNil())
		Eventually(func() bool { return hasFinalizer(t) }, "10s").Should(BeTrue(), "its record exists: Delete holds it")
		deleteAndWait(t)
		Expect(recordNamed(dumpOf(dv).Teams, "name", "waiters")).To(BeNil(), "its record went with it")
		deleteAndWait(ghost)
	})

	It("AwaitingEntraSync: a user added from Entra ID is Ready False AwaitingEntraSync until Entra ID's sync brings it into Dataverse, then Ready", func() {
		const env = "arrivals"
		const oid = "4b9f3a1e-5c7d-4e2f-8a6b-1c2d3e4f5a6b"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage)
		emu.AddEnvironment(emulator.EnvironmentConfig{Name: dv, OrganizationName: "Contoso " + dv, EntraSyncDelay: 4 * time.Second})
		Expect(emu.SetEntraUser(dv, emulator.EntraUser{ObjectID: oid, UPN: "grace@contoso.com", Licensed: true})).To(Succeed())
		grace := user(ns, "grace", env, withLicense("PLAN1"), withRoles("seller"), withEntraObjectID(oid))
		create(e, role(ns, "seller", env), grace)
		Eventually(conditionOf(grace, accessv1alpha1.ConditionSynced), "30s").Should(Equal("False/" + accessv1alpha1.ReasonAwaitingEntraSync))
		Expect(readyReason(grace)()).To(Equal(accessv1alpha1.ReasonAwaitingEntraSync))
		Expect(condition(grace, accessv1alpha1.ConditionSynced).Message).To(ContainSubstring("added from Entra ID (object " + oid + ")"))
		Expect(recordNamed(dumpOf(dv).Users, "azureactivedirectoryobjectid", oid)).To(BeNil(), "not in Dataverse yet")

		Eventually(readyReason(grace), "20s").Should(Equal("True"))
		var adds []string
		for _, r := range emu.Requests() {
			if strings.Contains(r.Path, emu.EnvironmentID(dv)+"/addUser") {
				adds = append(adds, r.Method+" "+r.Path)
			}
		}
		Expect(adds).To(HaveLen(1), "addUser is asked once, then the user is looked for until it arrives")
		rec := recordNamed(dumpOf(dv).Users, "azureactivedirectoryobjectid", oid)
		Expect(rec).NotTo(BeNil())
		Expect(rec["roles"]).To(ConsistOf("seller"))
		Expect(grace.Status.Dataverse.ID).To(Equal(rec["systemuserid"]))
	})

	It("Throttled: a 429 storm and bursts of 5xx and lost answers converge with no duplicate record, and Synced says Throttled with the retry time while Dataverse throttles", func() {
		const env = "storm"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage, func(e *accessv1alpha1.Environment) {
			e.Spec.BusinessUnits = []accessv1alpha1.BusinessUnit{{Name: "hq"}, {Name: "sales", Parent: "hq"}}
		})
		throttled := func(n, after int) emulator.Fault {
			return emulator.Fault{Environment: dv, Status: 429, Code: "0x80072322", Count: n, RetryAfter: after,
				Message: "Number of requests exceeded the limit of 6000 over time window of 300 seconds."}
		}
		// The environment's own read of its units meets more 429s than the client retries: Synced
		// Throttled. (Any method and path would do, but then whichever of its objects' reads comes
		// first meets them, and the Environment's Throttled may last less than a reconcile.)
		first := throttled(6, 1)
		first.Method, first.PathContains = "GET", "businessunits"
		emu.AddFault(first)
		// Creates whose answer is lost: done in Dataverse, unknown to the operator.
		for _, set := range []string{"businessunits", "roles", "systemusers", "teams"} {
			emu.AddFault(emulator.Fault{Environment: dv, Method: "POST", PathContains: set, DropAfter: true})
		}
		emu.AddFault(emulator.Fault{Environment: dv, Method: "POST", Status: 503, Code: "0x80040216", Message: "unavailable", Count: 3})
		emu.AddFault(emulator.Fault{Environment: dv, Method: "GET", Status: 502, Message: "bad gateway", Count: 3})
		emu.AddFault(throttled(8, 1))
		DeferCleanup(emu.ClearFaults)

		objs := []client.Object{e}
		for i := 0; i < 4; i++ {
			objs = append(objs,
				role(ns, fmt.Sprintf("r%d", i), env, roleNamed(fmt.Sprintf("Role %d", i)), roleUnit("sales")),
				appUser(ns, fmt.Sprintf("app%d", i), env, fmt.Sprintf("4%07d-2222-4333-8444-555555555555", i), fmt.Sprintf("r%d", i)),
				team(ns, fmt.Sprintf("t%d", i), env, accessv1alpha1.TeamOwner, teamRoles(fmt.Sprintf("r%d", i)), teamUnit("sales")))
			objs[len(objs)-2].(*accessv1alpha1.ApplicationUser).Spec.BusinessUnit = "sales"
		}
		create(objs...)
		Eventually(conditionOf(environment(ns, env), accessv1alpha1.ConditionSynced), "20s", "50ms").Should(Equal("False/" + accessv1alpha1.ReasonThrottled))
		// The retry time: the Environment's own throttled call ("retrying after 1s"), or, when one of
		// its objects' bulk snapshot read met the 429s first, when its requests resume.
		Expect(condition(environment(ns, env), accessv1alpha1.ConditionSynced).Message).To(Or(ContainSubstring("retrying after 1s"), MatchRegexp(`requests to environment storm resume at \d{4}-\d\d-\d\dT`)))

		for _, o := range objs {
			Eventually(readyReason(o), "60s").Should(Equal("True"), o.GetName())
		}
		d := dumpOf(dv)
		Expect(duplicates(d)).To(BeEmpty())
		for i := 0; i < 4; i++ {
			Expect(recordNamed(d.Roles, "name", fmt.Sprintf("Role %d", i))).NotTo(BeNil())
			Expect(recordNamed(d.Teams, "name", fmt.Sprintf("t%d", i))).NotTo(BeNil())
			Expect(recordNamed(d.Users, "applicationid", fmt.Sprintf("4%07d-2222-4333-8444-555555555555", i))).NotTo(BeNil())
		}
		lost, refused := lostAnswers(dv), 0
		for _, r := range emu.Requests() {
			if r.Environment == dv && r.Status == 429 {
				refused++
			}
		}
		Expect(lost).To(Equal(4), "every lost answer was met")
		Expect(refused).To(Equal(14), "every 429 was met")

		By("a create whose answer is lost is looked up again within seconds, not at an outage's pace")
		emu.AddFault(emulator.Fault{Environment: dv, Method: "POST", PathContains: "roles", DropAfter: true})
		late := role(ns, "late", env, roleNamed("Late"), roleUnit("sales"))
		create(late)
		Eventually(conditionOf(late, accessv1alpha1.ConditionSynced), "10s").Should(Equal("True/" + accessv1alpha1.ReasonSynced))
		Expect(duplicates(dumpOf(dv))).To(BeEmpty())
		Expect(lostAnswers(dv)).To(Equal(lost+1), "the late role's create was done and its answer lost")
		Expect(recordNamed(dumpOf(dv).Roles, "name", "Late")).NotTo(BeNil())
	})

	It("EnablementDrift: a person Entra ID disables while the operator decided it enabled is Ready False naming the Entra facts; an application user with spec.enabled false is disabled with a PATCH of isdisabled", func() {
		const env = "gate"
		const oid = "5b9f3a1e-5c7d-4e2f-8a6b-1c2d3e4f5a6b"
		const appID = "51111111-2222-4333-8444-555555555555"
		e, dv := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage, withSyncInterval(2*time.Second), withSecurityGroup("sg-sales"))
		defaultIntervalAfterSpec(ns, env)
		Expect(emu.SetEntraUser(dv, emulator.EntraUser{ObjectID: oid, UPN: "ada@contoso.com", Licensed: true})).To(Succeed())
		ada := user(ns, "ada", env, withLicense("PLAN1"), withRoles("seller"), withGroups("sg-sales"), withEntraObjectID(oid))
		app := appUser(ns, "erp", env, appID, "seller")
		create(e, role(ns, "seller", env), ada, app)
		Eventually(readyReason(ada), "60s").Should(Equal("True"))
		Eventually(readyReason(app), "60s").Should(Equal("True"))

		By("Entra ID blocks the person's sign-in")
		Expect(emu.SetEntraUser(dv, emulator.EntraUser{ObjectID: oid, UPN: "ada@contoso.com", Licensed: true, Disabled: true})).To(Succeed())
		Eventually(readyReason(ada), "20s").Should(Equal(accessv1alpha1.ReasonEnablementDrift))
		Expect(stalledReason(ada)).To(Equal(accessv1alpha1.ReasonEnablementDrift))
		msg := condition(ada, accessv1alpha1.ConditionReady).Message
		Expect(msg).To(And(ContainSubstring("in Entra ID check that sign-in is allowed"), ContainSubstring("security group sg-sales"), ContainSubstring("license PLAN1")))
		Expect(ada.Status.Dataverse.IsDisabled).To(HaveValue(BeTrue()))
		adaID := ada.Status.Dataverse.ID
		Expect(patchesTo(dv, "systemusers", adaID)).To(BeEmpty(), "a person's isdisabled is never PATCHed")

		By("Entra ID lets it in again")
		Expect(emu.SetEntraUser(dv, emulator.EntraUser{ObjectID: oid, UPN: "ada@contoso.com", Licensed: true})).To(Succeed())
		Eventually(readyReason(ada), "20s").Should(Equal("True"))

		By("the application user is disabled through the Web API")
		Expect(field(dv, usersOf, "applicationid", appID, "isdisabled")()).To(BeFalse())
		update(app, func(a *accessv1alpha1.ApplicationUser) { a.Spec.Enabled = false })
		Eventually(field(dv, usersOf, "applicationid", appID, "isdisabled"), "20s").Should(BeTrue())
		Eventually(conditionOf(app, accessv1alpha1.ConditionSynced), "20s").Should(Equal("True/" + accessv1alpha1.ReasonSynced))
		Expect(patchesTo(dv, "systemusers", app.Status.Dataverse.ID)).NotTo(BeEmpty())
	})

	It("Unauthorized: an Environment whose credentials Secret is missing is Synced False Unauthorized and Stalled, naming the Secret, and so are its roles", func() {
		const env = "nocreds"
		e, _ := syncedEnvironment(ns, env, accessv1alpha1.ManagementManage, func(e *accessv1alpha1.Environment) {
			e.Spec.Dataverse.CredentialsSecretRef.Name = "absent-dataverse"
		})
		r := role(ns, "seller", env)
		create(e, r)
		ppenv := environment(ns, env)
		Eventually(conditionOf(ppenv, accessv1alpha1.ConditionSynced), "30s").Should(Equal("False/" + accessv1alpha1.ReasonUnauthorized))
		Expect(readyReason(ppenv)()).To(Equal(accessv1alpha1.ReasonUnauthorized))
		Expect(stalledReason(ppenv)).To(Equal(accessv1alpha1.ReasonUnauthorized))
		Expect(condition(ppenv, accessv1alpha1.ConditionSynced).Message).To(And(ContainSubstring("Secret absent-dataverse"), ContainSubstring("namespace "+ns)))
		Eventually(conditionOf(r, accessv1alpha1.ConditionSynced), "30s").Should(Equal("False/" + accessv1alpha1.ReasonUnauthorized))
		Expect(stalledReason(r)).To(Equal(accessv1alpha1.ReasonUnauthorized))
	})
})
