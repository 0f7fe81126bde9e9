package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
	"github.com/accessplane/dataverse-access-operator/test/e2e/localcluster"
)

// entraView is what the demo shows of Entra ID: the directory as the emulator holds it, with
// names for its ids.
type entraView struct {
	d         emulator.DirectoryDump
	byID      map[string]*emulator.DirectoryUserDump
	groupName map[string]string
	skuPart   map[string]string
}

func readEntra(ctx context.Context, emu *localcluster.Emulator) (*entraView, error) {
	d, err := emu.Directory(ctx)
	if err != nil {
		return nil, err
	}
	v := &entraView{d: d, byID: map[string]*emulator.DirectoryUserDump{}, groupName: map[string]string{}, skuPart: map[string]string{}}
	for i := range d.Users {
		v.byID[strings.ToLower(d.Users[i].ID)] = &d.Users[i]
	}
	for _, g := range d.Groups {
		v.groupName[strings.ToLower(g.ID)] = g.DisplayName
	}
	for _, s := range d.SubscribedSkus {
		v.skuPart[strings.ToLower(s.SkuID)] = s.SkuPartNumber
	}
	return v, nil
}

func (v *entraView) user(upn string) *emulator.DirectoryUserDump {
	for i := range v.d.Users {
		if strings.EqualFold(v.d.Users[i].UserPrincipalName, upn) {
			return &v.d.Users[i]
		}
	}
	return nil
}

func (v *entraView) memberOf(u *emulator.DirectoryUserDump, groupID string) bool {
	for _, g := range u.MemberOf {
		if strings.EqualFold(g, groupID) {
			return true
		}
	}
	return false
}

// licenses are a person's licenses by part number, saying how each is assigned.
func (v *entraView) licenses(u *emulator.DirectoryUserDump) string {
	var out []string
	for _, s := range u.LicenseAssignmentStates {
		how := "direct"
		if s.AssignedByGroup != nil {
			how = "by group " + v.groupName[strings.ToLower(*s.AssignedByGroup)]
		}
		out = append(out, v.skuPart[strings.ToLower(s.SkuID)]+" ("+how+")")
	}
	sort.Strings(out)
	return list(out)
}

func (v *entraView) group(id string) *emulator.DirectoryGroupDump {
	for i := range v.d.Groups {
		if strings.EqualFold(v.d.Groups[i].ID, id) {
			return &v.d.Groups[i]
		}
	}
	return nil
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// decidedWord is what the operator decided for a person, and why it is not enabled.
func decidedWord(o *unstructured.Unstructured, u *accessv1alpha1.PlatformUser) string {
	switch {
	case u.Status.Enabled:
		return "enabled"
	case !u.Spec.Enabled:
		return "disabled (spec.enabled false)"
	}
	if c := localcluster.Condition(o, "Ready"); c != nil {
		return fmt.Sprintf("waits (%v)", c["reason"])
	}
	return "not enabled"
}

// showEntra prints Entra ID as the operator made it next to what it decided: each person's direct
// membership of the security group and of the group team's group, its licenses, and Dataverse's
// isdisabled; the members it leaves alone; and the Graph writes it made.
func showEntra(ctx context.Context, root string, emu *localcluster.Emulator, objs []unstructured.Unstructured, securityGroupID, caFile string) error {
	step("What Entra ID holds (the emulator's Microsoft Graph tenant, GET /_emulator/directory), as the operator made it: nobody arranged it to agree")
	fmt.Printf("$ curl --cacert %s %s/_emulator/directory\n", caFile, emu.Info.URL)
	v, err := readEntra(ctx, emu)
	if err != nil {
		return err
	}
	dv, err := emu.Environment(ctx, localcluster.DataverseSamplesEnvironment)
	if err != nil {
		return err
	}
	var env accessv1alpha1.Environment
	var teamGroups []string
	for i := range objs {
		switch objs[i].GetKind() {
		case "Environment":
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[i].Object, &env); err != nil {
				return err
			}
		case "Team":
			var t accessv1alpha1.Team
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[i].Object, &t); err != nil {
				return err
			}
			if t.Spec.Type.IsGroupTeam() {
				teamGroups = append(teamGroups, strings.ToLower(t.Spec.Group))
			}
		}
	}
	sg := v.group(securityGroupID)
	if sg == nil {
		return fmt.Errorf("the tenant has no group %s", securityGroupID)
	}
	seed, err := emulator.ReadDirectorySeed(filepath.Join(root, localcluster.EntraSamplesDirectory))
	if err != nil {
		return err
	}
	var byHand []string
	for _, g := range seed.Groups {
		if strings.EqualFold(g.ID, securityGroupID) {
			byHand = g.Members
		}
	}
	fmt.Printf("\nThe security group %s (%s) lets only its direct members into %s. The tenant started with %s in it\n"+
		"(%s); the operator keeps exactly the people it decided enabled there, and takes out those waiting for a seat or a slot:\n",
		sg.DisplayName, sg.ID, localcluster.DataverseSamplesEnvironment, strings.Join(byHand, ", "), localcluster.EntraSamplesDirectory)
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	header := []string{"USER", "DECIDED", "IN " + sg.DisplayName}
	for _, g := range teamGroups {
		header = append(header, "IN "+v.groupName[g])
	}
	header = append(header, "LICENSES IN ENTRA ID", "|", "ISDISABLED IN DATAVERSE")
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	managed := map[string]bool{}
	for i := range objs {
		o := &objs[i]
		if o.GetKind() != "PlatformUser" {
			continue
		}
		var u accessv1alpha1.PlatformUser
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &u); err != nil {
			return err
		}
		if u.Spec.Stub {
			continue
		}
		du := v.user(u.Spec.UserName)
		if du == nil {
			fmt.Fprintf(tw, "%s\t%s\t(not in Entra ID)\n", u.Name, decidedWord(o, &u))
			continue
		}
		managed[strings.ToLower(du.ID)] = true
		row := []string{u.Name, decidedWord(o, &u), yesNo(v.memberOf(du, securityGroupID))}
		for _, g := range teamGroups {
			row = append(row, yesNo(v.memberOf(du, g)))
		}
		disabled := "(not in Dataverse)"
		if rec := find(dv.Users, "domainname", u.Spec.UserName); rec != nil {
			disabled = fmt.Sprint(rec["isdisabled"])
		}
		row = append(row, v.licenses(du), "|", disabled)
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	var others []string
	for _, m := range sg.Members {
		if !managed[strings.ToLower(m)] {
			if u := v.byID[strings.ToLower(m)]; u != nil {
				others = append(others, u.UserPrincipalName)
			} else {
				others = append(others, m)
			}
		}
	}
	fmt.Printf("Also in %s, managed by no PlatformUser (left alone, listed in the Environment's status.entra.unmanagedMembers): %s\n", sg.DisplayName, list(others))
	fmt.Printf("Tenant units: ")
	var units []string
	for _, s := range v.d.SubscribedSkus {
		units = append(units, fmt.Sprintf("%s %d of %d consumed", s.SkuPartNumber, s.ConsumedUnits, s.PrepaidUnits.Enabled))
	}
	fmt.Println(strings.Join(units, ", "))

	log, err := emu.Requests(ctx)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	var order []string
	for _, r := range emulator.Writes(emulator.GraphRequests(log)) {
		k := graphWriteKind(r, v)
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	sort.Strings(order)
	fmt.Printf("\nThe Graph writes the operator made (the emulator's request log; never accountEnabled, a profile field, a person or a group):\n")
	for _, k := range order {
		fmt.Printf("    %3d × %s\n", counts[k], k)
	}
	return nil
}

// graphWriteKind names a Graph write for a person to read: the call, and the group it is of.
func graphWriteKind(r emulator.LoggedRequest, v *entraView) string {
	p, _, _ := strings.Cut(strings.TrimPrefix(r.Path, "/graph/v1.0/"), "?")
	parts := strings.Split(p, "/")
	switch {
	case r.Method == http.MethodPost && len(parts) == 4 && parts[0] == "groups" && parts[3] == "$ref":
		return "POST /groups/{id}/members/$ref  add a direct member to " + v.groupName[strings.ToLower(parts[1])]
	case r.Method == http.MethodDelete && len(parts) == 5 && parts[0] == "groups" && parts[4] == "$ref":
		who := parts[3]
		if u := v.byID[strings.ToLower(who)]; u != nil {
			who = u.UserPrincipalName
		}
		return "DELETE /groups/{id}/members/{id}/$ref  remove " + who + " from " + v.groupName[strings.ToLower(parts[1])] + " (the reference only)"
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "users" && parts[2] == "assignLicense":
		return "POST /users/{id}/assignLicense  assign a license to a seat holder"
	}
	return r.Method + " /" + p
}

// disablePerson sets spec.enabled false on one PlatformUser with kubectl patch and shows the
// operator taking the person out of the security group in Entra ID — the license kept (EN4) — and
// Dataverse following at once through addUser.
func disablePerson(ctx context.Context, cluster *localcluster.Cluster, emu *localcluster.Emulator, namespace, name, securityGroupID string) error {
	step("Disabling %s the way the product recommends: out of the security group, the license kept (EN4)", name)
	var u accessv1alpha1.PlatformUser
	o, err := cluster.Objects(ctx, namespace)
	if err != nil {
		return err
	}
	for i := range o {
		if o[i].GetKind() == "PlatformUser" && o[i].GetName() == name {
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o[i].Object, &u); err != nil {
				return err
			}
		}
	}
	if u.Name == "" {
		return fmt.Errorf("no PlatformUser %s", name)
	}
	before, err := readEntra(ctx, emu)
	if err != nil {
		return err
	}
	du := before.user(u.Spec.UserName)
	if du == nil || !before.memberOf(du, securityGroupID) {
		return fmt.Errorf("%s is not a member of the security group before it is disabled", name)
	}
	patch := `{"spec":{"enabled":false}}`
	fmt.Printf("$ kubectl patch platformuser %s --type merge -p '%s'\n", name, patch)
	start := time.Now()
	out, err := cluster.Kubectl(ctx, "patch", "platformuser", name, "-n", namespace, "--type", "merge", "-p", patch)
	if err != nil {
		return err
	}
	fmt.Print(out)

	var rec map[string]any
	var after *entraView
	milestone := func(done *bool, ok bool, what string) {
		if ok && !*done {
			*done = true
			fmt.Printf("    after %4.1fs: %s\n", time.Since(start).Seconds(), what)
		}
	}
	var outOfGroup, disabledInDataverse, synced bool
	deadline := time.Now().Add(90 * time.Second)
	for !(outOfGroup && disabledInDataverse && synced) {
		if time.Now().After(deadline) {
			return fmt.Errorf("after 90s: %s out of the security group %t, disabled in Dataverse %t, Synced %t", name, outOfGroup, disabledInDataverse, synced)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if after, err = readEntra(ctx, emu); err != nil {
			return err
		}
		milestone(&outOfGroup, !after.memberOf(after.user(u.Spec.UserName), securityGroupID),
			"Entra ID: no longer a direct member of "+after.groupName[strings.ToLower(securityGroupID)])
		dv, err := emu.Environment(ctx, localcluster.DataverseSamplesEnvironment)
		if err != nil {
			return err
		}
		rec = find(dv.Users, "domainname", u.Spec.UserName)
		milestone(&disabledInDataverse, rec != nil && rec["isdisabled"] == true, "Dataverse: isdisabled true (it followed Entra ID at the operator's addUser)")
		state, _ := cluster.Kubectl(ctx, "get", "platformuser", name, "-n", namespace, "-o",
			`jsonpath={.status.enabled}/{.status.conditions[?(@.type=="Synced")].status}/{.status.conditions[?(@.type=="Synced")].observedGeneration}/{.metadata.generation}`)
		f := strings.Split(state, "/")
		milestone(&synced, disabledInDataverse && len(f) == 4 && f[0] == "false" && f[1] == "True" && f[2] == f[3],
			"the PlatformUser: Synced True (the operator's next look at Dataverse)")
	}

	args := []string{"get", "puser", name, "-o", "custom-columns=" +
		"NAME:.metadata.name,ENABLED:.status.enabled,READY:.status.conditions[?(@.type==\"Ready\")].status,REASON:.status.conditions[?(@.type==\"Ready\")].reason," +
		"SYNCED:.status.conditions[?(@.type==\"Synced\")].status,IN-SECURITY-GROUP:.status.entra.memberOfSecurityGroup,LICENSES:.status.entra.licenses[*].skuPartNumber"}
	fmt.Printf("$ kubectl %s\n", strings.Join(args, " "))
	out, err = cluster.Kubectl(ctx, append(args, "-n", namespace)...)
	if err != nil {
		return err
	}
	fmt.Print(out)
	if err := showEvents(ctx, cluster, namespace, name, start); err != nil {
		return err
	}

	log, err := emu.Requests(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("\nThe Graph writes since the patch (the emulator's request log):\n")
	for _, r := range emulator.Writes(emulator.GraphRequests(log)) {
		if !r.Time.Before(start) {
			p, _, _ := strings.Cut(r.Path, "?")
			fmt.Printf("    %s %s  → %d\n", r.Method, p, r.Status)
		}
	}
	adds := 0
	for _, r := range log {
		if !r.Time.Before(start) && r.Method == http.MethodPost && strings.Contains(r.Path, "/addUser") {
			adds++
		}
	}
	du = after.user(u.Spec.UserName)
	var groups []string
	for _, g := range du.MemberOf {
		groups = append(groups, after.groupName[strings.ToLower(g)])
	}
	member := "no group"
	if len(groups) > 0 {
		member = strings.Join(groups, ", ")
	}
	fmt.Printf("Entra ID: %s is a direct member of %s (no longer of %s); licenses: %s — kept\n",
		u.Spec.UserName, member, after.groupName[strings.ToLower(securityGroupID)], after.licenses(du))
	fmt.Printf("Dataverse (asked to follow with %d addUser): isdisabled %v, islicensed %v\n", adds, rec["isdisabled"], rec["islicensed"])
	return nil
}

// showEvents prints the Events of a PlatformUser recorded since a time, as kubectl get events
// lists them.
func showEvents(ctx context.Context, cluster *localcluster.Cluster, namespace, name string, since time.Time) error {
	fmt.Printf("$ kubectl get events --field-selector involvedObject.name=%s   # since the patch\n", name)
	out, err := cluster.Kubectl(ctx, "get", "events", "-n", namespace, "--field-selector", "involvedObject.name="+name, "-o", "json")
	if err != nil {
		return err
	}
	var list struct {
		Items []struct {
			Type, Reason, Message string
			EventTime             *metav1.MicroTime `json:"eventTime"`
			LastTimestamp         *metav1.Time      `json:"lastTimestamp"`
			Metadata              metav1.ObjectMeta `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tREASON\tMESSAGE")
	for _, e := range list.Items {
		at := e.Metadata.CreationTimestamp.Time
		switch {
		case e.LastTimestamp != nil && !e.LastTimestamp.IsZero():
			at = e.LastTimestamp.Time
		case e.EventTime != nil && !e.EventTime.IsZero():
			at = e.EventTime.Time
		}
		if at.Before(since.Truncate(time.Second)) {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", e.Type, e.Reason, e.Message)
	}
	return tw.Flush()
}
