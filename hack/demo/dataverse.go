package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

// The credentials the demo's Secret holds; the emulator's token endpoint accepts only this secret
// for the operator's client id (emulator.OperatorApplicationID).
const (
	demoTenantID     = "8c2f6a1d-3e4b-4f5a-9b6c-7d8e9f0a1b2c"
	demoClientSecret = "demo-client-secret"
	demoOrganization = "Contoso"
)

// startDataverse runs bin/dataverse-emulator as its own process, with the environment
// config/samples-entra names, gated by its security group, and the tenant directory of
// config/samples-entra/entra-directory.json: people with sign-in allowed and no license, and a
// security group holding people who wait for a seat or a slot. Nothing in it is arranged to
// agree with the operator: the operator makes Entra ID so, and Dataverse follows.
func startDataverse(root, binary, dir string) (*localcluster.Emulator, string, error) {
	if _, err := os.Stat(binary); err != nil {
		return nil, "", fmt.Errorf("no emulator binary at %s: run make emulator (make demo does)", binary)
	}
	envID, securityGroupID, err := localcluster.EntraSamples(root)
	if err != nil {
		return nil, "", err
	}
	// Dataverse's own background sync from Entra ID runs about every 30 minutes; the demo's runs
	// every 10 seconds. The operator does not wait for it: it asks addUser after each change.
	emu, err := localcluster.StartEmulator(binary, dir, filepath.Join(dir, "demo-emulator.log"),
		localcluster.EntraEmulatorArgs(root, envID, securityGroupID, demoOrganization, demoClientSecret, 3*time.Second, 10*time.Second)...)
	if err != nil {
		return nil, "", err
	}
	return emu, securityGroupID, nil
}

// waitSynced waits until every object of namespace has Synced True (the Stalled users included:
// they are written as decided, e.g. ReadWrite while waiting for a slot).
func waitSynced(ctx context.Context, cluster *localcluster.Cluster, namespace string, timeout time.Duration) ([]unstructured.Unstructured, error) {
	deadline := time.Now().Add(timeout)
	last := -1
	for {
		objs, err := cluster.Objects(ctx, namespace)
		if err != nil {
			return nil, err
		}
		synced := 0
		var pending []string
		for i := range objs {
			c := localcluster.Condition(&objs[i], "Synced")
			if c != nil && c["status"] == "True" {
				synced++
			} else if c != nil {
				pending = append(pending, fmt.Sprintf("%s/%s: %v: %v", objs[i].GetKind(), objs[i].GetName(), c["reason"], c["message"]))
			} else {
				pending = append(pending, fmt.Sprintf("%s/%s: no Synced condition", objs[i].GetKind(), objs[i].GetName()))
			}
		}
		if synced != last {
			fmt.Printf("    %d of %d objects Synced\n", synced, len(objs))
			last = synced
		}
		if synced == len(objs) && len(objs) > 0 {
			return objs, nil
		}
		if time.Now().After(deadline) {
			return objs, fmt.Errorf("%d of %d objects Synced after %s; still waiting: %s", synced, len(objs), timeout, strings.Join(pending, "; "))
		}
		select {
		case <-ctx.Done():
			return objs, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

var accessModeNames = map[int]string{0: "ReadWrite", 1: "Administrative", 2: "Read", 3: "SupportUser", 4: "NonInteractive", 5: "DelegatedAdmin"}

var teamTypeNames = map[int]string{0: "Owner", 1: "Access", 2: "AADSecurityGroup", 3: "AADOfficeGroup"}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func same(a, b []string) string {
	if strings.Join(a, "\x00") == strings.Join(b, "\x00") {
		return "yes"
	}
	return "DIFFERS"
}

func syncedOf(o *unstructured.Unstructured) string {
	c := localcluster.Condition(o, "Synced")
	if c == nil {
		return "-"
	}
	if c["status"] == "True" {
		return "True"
	}
	return fmt.Sprintf("False/%v", c["reason"])
}

func find(records []map[string]any, field, value string) map[string]any {
	for _, r := range records {
		if strings.EqualFold(fmt.Sprint(r[field]), value) {
			return r
		}
	}
	return nil
}

// showDataverse prints what the emulator holds next to what the cluster decided: units, users
// (access mode, enablement, direct roles), roles (privilege counts) and teams (members, roles).
func showDataverse(d emulator.EnvironmentDump, objs []unstructured.Unstructured) error {
	var env accessv1alpha1.Environment
	var users []accessv1alpha1.PlatformUser
	var apps []accessv1alpha1.ApplicationUser
	var roles []accessv1alpha1.SecurityRole
	var teams []accessv1alpha1.Team
	byName := map[string]*unstructured.Unstructured{}
	for i := range objs {
		o := &objs[i]
		byName[o.GetKind()+"/"+o.GetName()] = o
		var into any
		switch o.GetKind() {
		case "Environment":
			into = &env
		case "PlatformUser":
			users = append(users, accessv1alpha1.PlatformUser{})
			into = &users[len(users)-1]
		case "ApplicationUser":
			apps = append(apps, accessv1alpha1.ApplicationUser{})
			into = &apps[len(apps)-1]
		case "SecurityRole":
			roles = append(roles, accessv1alpha1.SecurityRole{})
			into = &roles[len(roles)-1]
		case "Team":
			teams = append(teams, accessv1alpha1.Team{})
			into = &teams[len(teams)-1]
		default:
			continue
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, into); err != nil {
			return err
		}
	}
	unitNames := map[string]string{}
	for _, b := range d.BusinessUnits {
		unitNames[fmt.Sprint(b["businessunitid"])] = fmt.Sprint(b["name"])
	}
	declared := map[string]string{}
	if env.Status.Dataverse != nil {
		for _, b := range env.Status.Dataverse.BusinessUnits {
			declared[b.ID] = b.Name
		}
	}
	unit := func(id any) string {
		s := fmt.Sprint(id)
		if n, ok := declared[s]; ok {
			if unitNames[s] != n {
				return n + " (" + unitNames[s] + ")"
			}
			return n
		}
		return unitNames[s]
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	row := func(cols ...string) { fmt.Fprintln(tw, strings.Join(cols, "\t")) }

	fmt.Printf("\nBusiness units (Dataverse's root carries the organization's name; the Environment adopts it as its root):\n")
	row("DECLARED", "IN DATAVERSE", "PARENT IN DATAVERSE")
	for _, b := range d.BusinessUnits {
		parent := "-"
		if p := b["_parentbusinessunitid_value"]; p != nil && p != "" {
			parent = unit(p)
		}
		row(declared[fmt.Sprint(b["businessunitid"])], fmt.Sprint(b["name"]), parent)
	}
	tw.Flush()

	fmt.Printf("\nUsers: what the cluster decided | what Dataverse holds (accessmode, isdisabled, islicensed come from Entra ID and the operator)\n")
	row("USER", "DECIDED MODE", "ENABLED", "DIRECT ROLES", "|", "ACCESSMODE", "ISDISABLED", "LICENSED", "UNIT", "ROLES IN DATAVERSE", "SAME", "SYNCED")
	managed := map[string]bool{}
	for i := range users {
		u := &users[i]
		o := byName["PlatformUser/"+u.Name]
		mode := string(u.Spec.AccessMode)
		if mode == "" {
			mode = "ReadWrite"
		}
		if u.Spec.Stub {
			row(u.Name, "Stub", fmt.Sprint(u.Status.Enabled), "-", "|", "(a stub: data import's)", "", "", "", "", "", syncedOf(o))
			continue
		}
		if mode == "NonInteractive" && !holdsSlot(u) {
			mode = "ReadWrite (waiting for a slot)"
		}
		decided := accessv1alpha1.DirectRoleNames(u.Status.EffectiveRoles)
		rec := find(d.Users, "domainname", u.Spec.UserName)
		if rec == nil {
			row(u.Name, mode, fmt.Sprint(u.Status.Enabled), list(decided), "|", "(not in Dataverse)", "", "", "", "", "DIFFERS", syncedOf(o))
			continue
		}
		managed[fmt.Sprint(rec["systemuserid"])] = true
		held := emulator.DumpStrings(rec["roles"])
		match := same(decided, held)
		if strings.SplitN(mode, " ", 2)[0] != accessModeNames[num(rec["accessmode"])] || rec["isdisabled"] == u.Status.Enabled {
			match = "DIFFERS"
		}
		row(u.Name, mode, fmt.Sprint(u.Status.Enabled), list(decided), "|", accessModeNames[num(rec["accessmode"])], fmt.Sprint(rec["isdisabled"]),
			fmt.Sprint(rec["islicensed"]), unit(rec["_businessunitid_value"]), list(held), match, syncedOf(o))
	}
	for i := range apps {
		a := &apps[i]
		o := byName["ApplicationUser/"+a.Name]
		decided := accessv1alpha1.DirectRoleNames(a.Status.EffectiveRoles)
		rec := find(d.Users, "applicationid", a.Spec.ApplicationID)
		if rec == nil {
			row(a.Name, "Application", fmt.Sprint(a.Spec.Enabled), list(decided), "|", "(not in Dataverse)", "", "", "", "", "DIFFERS", syncedOf(o))
			continue
		}
		managed[fmt.Sprint(rec["systemuserid"])] = true
		held := emulator.DumpStrings(rec["roles"])
		match := same(decided, held)
		if rec["isdisabled"] == a.Spec.Enabled {
			match = "DIFFERS"
		}
		row(a.Name, "Application", fmt.Sprint(a.Spec.Enabled), list(decided), "|", accessModeNames[num(rec["accessmode"])]+" (app)", fmt.Sprint(rec["isdisabled"]),
			fmt.Sprint(rec["islicensed"]), unit(rec["_businessunitid_value"]), list(held), match, syncedOf(o))
	}
	tw.Flush()
	var others []string
	for _, rec := range d.Users {
		if !managed[fmt.Sprint(rec["systemuserid"])] {
			name := fmt.Sprint(rec["domainname"])
			if app, _ := rec["applicationid"].(string); app == emulator.OperatorApplicationID {
				name = "the operator's own application user (" + app + ")"
			} else if name == "" || name == "<nil>" {
				name = fmt.Sprint(rec["fullname"])
			}
			others = append(others, name)
		}
	}
	sort.Strings(others)
	fmt.Printf("Also in Dataverse, managed by no object: %s\n", list(others))

	fmt.Printf("\nSecurity roles: the decided privileges are replaced as a whole; the built-in roles are adopted, never changed\n")
	row("ROLE", "NAME IN DATAVERSE", "UNIT", "PRIVILEGES IN DATAVERSE", "SYNCED")
	inDataverse := map[string]bool{}
	for i := range roles {
		r := &roles[i]
		o := byName["SecurityRole/"+r.Name]
		id := ""
		if r.Status.Dataverse != nil {
			id = r.Status.Dataverse.ID
		}
		rec := find(d.Roles, "roleid", id)
		if rec == nil {
			row(r.Name, r.DisplayRoleName(), r.Status.BusinessUnit, "(not in Dataverse)", syncedOf(o))
			continue
		}
		inDataverse[id] = true
		privs := ""
		switch p := rec["privileges"].(type) {
		case map[string]any:
			privs = fmt.Sprint(len(p))
		default:
			privs = fmt.Sprint(p)
		}
		row(r.Name, fmt.Sprint(rec["name"]), unit(rec["_businessunitid_value"]), privs, syncedOf(o))
	}
	tw.Flush()
	copies := 0
	for _, rec := range d.Roles {
		if !inDataverse[fmt.Sprint(rec["roleid"])] {
			copies++
		}
	}
	fmt.Printf("Also in Dataverse: %d more role records (the service's own roles, and its copy of each role in every unit below the role's own)\n", copies)

	fmt.Printf("\nTeams: an Owner or Access team's members are exactly the decided ones; a group team's come from its Entra group\n")
	row("TEAM", "TYPE", "DECIDED MEMBERS", "DECIDED ROLES", "|", "TYPE IN DATAVERSE", "MEMBERS IN DATAVERSE", "ROLES IN DATAVERSE", "SAME", "SYNCED")
	userNames := map[string]string{}
	for i := range users {
		userNames[users[i].Name] = strings.ToLower(users[i].Spec.UserName)
	}
	roleNames := map[string]string{}
	for i := range roles {
		roleNames[roles[i].Name] = roles[i].DisplayRoleName()
	}
	for i := range teams {
		t := &teams[i]
		o := byName["Team/"+t.Name]
		members := []string{}
		for _, m := range t.Spec.Members {
			members = append(members, userNames[m])
		}
		sort.Strings(members)
		decidedRoles := []string{}
		if t.Spec.Type != accessv1alpha1.TeamAccess {
			for _, r := range t.Spec.SecurityRoles {
				decidedRoles = append(decidedRoles, roleNames[r])
			}
		}
		sort.Strings(decidedRoles)
		shownMembers := list(members)
		if t.Spec.Type.IsGroupTeam() {
			shownMembers = fmt.Sprintf("(Entra group %s: %d in the cluster)", t.Spec.Group, t.Status.MemberCount)
		}
		rec := find(d.Teams, "name", t.DisplayTeamName())
		if rec == nil {
			row(t.Name, string(t.Spec.Type), shownMembers, list(decidedRoles), "|", "(not in Dataverse)", "", "", "DIFFERS", syncedOf(o))
			continue
		}
		held, heldRoles := emulator.DumpStrings(rec["members"]), emulator.DumpStrings(rec["roles"])
		match := same(decidedRoles, heldRoles)
		if !t.Spec.Type.IsGroupTeam() && same(members, held) != "yes" {
			match = "DIFFERS"
		}
		row(t.Name, string(t.Spec.Type), shownMembers, list(decidedRoles), "|", teamTypeNames[num(rec["teamtype"])], list(held), list(heldRoles), match, syncedOf(o))
	}
	tw.Flush()
	return nil
}

func holdsSlot(u *accessv1alpha1.PlatformUser) bool {
	for _, c := range u.Status.Conditions {
		if c.Type == accessv1alpha1.ConditionNonInteractiveSlot && c.Reason == accessv1alpha1.ReasonSlotGranted {
			return true
		}
	}
	return false
}
