package plan

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The base every diff case changes: one environment with a two-unit tree, two seats, a group
// team that holds a role, two licensed people and seven NonInteractive users (all seven slots).
const baseEnvironment = `apiVersion: access.accessplane.io/v1alpha1
kind: Environment
metadata:
  name: fab
spec:
  securityGroup: fab-users
  businessUnits:
  - name: hq
  - name: sales
    parent: hq
  licenses:
  - sku: PLAN
    seats: %d
`

const baseRoles = `apiVersion: access.accessplane.io/v1alpha1
kind: SecurityRole
metadata:
  name: reader
spec:
  environmentName: fab
  roleName: Reader
  tables:
  - table: webresource
    permissionSetting: Reference
  - table: invoice
    privileges:
      read: %s
---
apiVersion: access.accessplane.io/v1alpha1
kind: SecurityRole
metadata:
  name: editor
spec:
  environmentName: fab
  roleName: Editor
  tables:
  - table: webresource
    permissionSetting: Reference
  - table: quote
    privileges:
      write: BusinessUnit
`

const baseTeam = `apiVersion: access.accessplane.io/v1alpha1
kind: Team
metadata:
  name: sales-team
spec:
  environmentName: fab
  type: AADSecurityGroup
  group: fab-sales
  businessUnit: sales
  securityRoles: [%s]
`

func person(name string, groups string) string {
	return fmt.Sprintf(`apiVersion: access.accessplane.io/v1alpha1
kind: PlatformUser
metadata:
  name: %s
spec:
  environmentName: fab
  userName: %s@fab.example.com
  license: PLAN
  businessUnit: sales
  securityGroups: [%s]
  securityRoles: [fab-basic-user]
`, name, name, groups)
}

func service(n int) string {
	return fmt.Sprintf(`apiVersion: access.accessplane.io/v1alpha1
kind: PlatformUser
metadata:
  name: svc-%d
spec:
  environmentName: fab
  userName: svc-%d@fab.example.com
  accessMode: NonInteractive
  securityGroups: [fab-users]
  securityRoles: [fab-basic-user]
`, n, n)
}

// fixture writes a folder of the shape above, with the knobs each case turns.
type fixture struct {
	seats       int
	readerLevel string
	teamRoles   string
	annGroups   string
	services    int
}

var baseFixture = fixture{seats: 2, readerLevel: "User", teamRoles: "reader", annGroups: "fab-users, fab-sales", services: 7}

func (f fixture) write(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var users []string
	users = append(users, person("ann", f.annGroups), person("ben", "fab-users"))
	for i := 1; i <= f.services; i++ {
		users = append(users, service(i))
	}
	files := map[string]string{
		"1-environment.yaml": fmt.Sprintf(baseEnvironment, f.seats),
		"2-roles.yaml":       fmt.Sprintf(baseRoles, f.readerLevel),
		"3-teams.yaml":       fmt.Sprintf(baseTeam, f.teamRoles),
		"4-users.yaml":       strings.Join(users, "---\n"),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func planDirs(t *testing.T, head, base string) *Report {
	t.Helper()
	opts := Options{Files: []string{head}, Namespace: "ns", Admission: testAdmission(t), BaseName: "base"}
	if base != "" {
		opts.Base = []string{base}
	}
	rep, err := Run(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestDiff(t *testing.T) {
	cases := []struct {
		name   string
		change func(f *fixture)
		want   string
	}{
		{
			name:   "TM1, TM3: a group team gains a role: its member gains it directly at User and through the team at its level",
			change: func(f *fixture) { f.teamRoles = "reader, editor" },
			want: `Access changes
  PlatformUser ann
    +  quote  write  None -> BusinessUnit  through Editor (Team/sales-team via team, BU sales)

Slots and seats
  no change

Ready changes
  none
`,
		},
		{
			name:   "SR2, SR6: a role is raised from User to Organization: every holder's read rises",
			change: func(f *fixture) { f.readerLevel = "Organization" },
			want: `Access changes
  PlatformUser ann
    +  invoice  read  User -> Organization  through Reader (Team/sales-team via team, BU sales)

Slots and seats
  no change

Ready changes
  none
`,
		},
		{
			name:   "TM1: a user leaves the group team: it loses the team's roles",
			change: func(f *fixture) { f.annGroups = "fab-users" },
			want: `Access changes
  PlatformUser ann
    -  invoice  read  User -> None  was through Reader (Team/sales-team as member), Reader (Team/sales-team via team, BU sales)

Slots and seats
  no change

Ready changes
  none
`,
		},
		{
			name:   "AM6: an eighth NonInteractive user waits for a slot and is Stalled",
			change: func(f *fixture) { f.services = 8 },
			want: `Access changes
  none

Slots and seats
  fab: non-interactive slot svc-8: none -> waiting 1st of 1

Ready changes
  PlatformUser svc-8: absent -> NonInteractiveLimitReached, Stalled
`,
		},
		{
			name:   "LI1: a lowered seat count takes no seat back; the Environment is Stalled until use falls",
			change: func(f *fixture) { f.seats = 1 },
			want: `Access changes
  none

Slots and seats
  no change

Ready changes
  Environment fab: Ready -> SeatsBelowUsage, Stalled
`,
		},
		{
			name:   "no change, no diff",
			change: func(f *fixture) {},
			want: `Access changes
  none

Slots and seats
  no change

Ready changes
  none
`,
		},
	}
	base := baseFixture.write(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := baseFixture
			c.change(&f)
			rep := planDirs(t, f.write(t), base)
			var b strings.Builder
			writeDiffText(&b, rep.Diff)
			if d := cmp.Diff(c.want, b.String()); d != "" {
				t.Errorf("diff text (-want +got):\n%s", d)
			}
		})
	}
}
