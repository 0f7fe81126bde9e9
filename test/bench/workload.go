package bench

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
)

// Size is how much the bench creates.
type Size struct {
	Environments         int
	UsersPerEnvironment  int
	NonInteractivePerEnv int
	ApplicationUsers     int
	Roles                int
	Teams                int
}

// Expected is how many objects should end Stalled for a reason the workload provokes on purpose.
type Expected struct {
	LimitReached   int // NonInteractive users beyond seven per environment (AM6)
	SeatsExhausted int // licensed users beyond the seats (LI1)
}

// workload builds every object of the run, environments first, and what it expects to stall.
// Every environment gets the same shape: a three-unit tree, a security group, seats for all
// licensed users but a tenth, NonInteractive users past the limit, Administrative users, roles of
// its own spread over its units, and group teams that hold roles.
func workload(ns string, s Size) ([]client.Object, Expected) {
	var objs []client.Object
	var exp Expected
	per := func(total, i int) int { // share of total for environment i
		n := total / s.Environments
		if i < total%s.Environments {
			n++
		}
		return n
	}
	appIndex := 0
	for e := 0; e < s.Environments; e++ {
		env := fmt.Sprintf("env-%02d", e)
		admins := s.UsersPerEnvironment / 10
		licensed := s.UsersPerEnvironment - s.NonInteractivePerEnv - admins
		seats := licensed - licensed/10
		objs = append(objs, &accessv1alpha1.Environment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: env},
			Spec: accessv1alpha1.EnvironmentSpec{
				Type: "Production", Product: accessv1alpha1.ProductDynamics365, SecurityGroup: "sg-" + env,
				BusinessUnits: []accessv1alpha1.BusinessUnit{{Name: "hq"}, {Name: "sales", Parent: "hq"}, {Name: "service", Parent: "hq"}},
				Licenses:      []accessv1alpha1.LicenseSeats{{SKU: "PLAN1", Seats: int32(seats)}},
			},
		})
		if s.NonInteractivePerEnv > accessv1alpha1.NonInteractiveSlotLimit {
			exp.LimitReached += s.NonInteractivePerEnv - accessv1alpha1.NonInteractiveSlotLimit
		}
		if licensed > seats {
			exp.SeatsExhausted += licensed - seats
		}

		roles := per(s.Roles, e)
		if roles == 0 {
			roles = 1 // every user needs one
		}
		for r := 0; r < roles; r++ {
			objs = append(objs, &accessv1alpha1.SecurityRole{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-role-%02d", env, r)},
				Spec: accessv1alpha1.SecurityRoleSpec{
					EnvironmentName: env, RoleName: fmt.Sprintf("Role %d", r),
					MemberPrivilegeInheritance: []accessv1alpha1.MemberPrivilegeInheritance{accessv1alpha1.InheritDirectUserBasicAndTeam, accessv1alpha1.InheritTeamPrivilegesOnly}[r%2],
					Tables: []accessv1alpha1.TablePermission{
						{Table: "webresource", PermissionSetting: accessv1alpha1.PermissionReference},
						{Table: "account", PermissionSetting: []accessv1alpha1.PermissionSetting{accessv1alpha1.PermissionCollaborate, accessv1alpha1.PermissionPrivate, accessv1alpha1.PermissionFullAccess}[r%3]},
						{Table: "contact", Privileges: &accessv1alpha1.TablePrivileges{Read: accessv1alpha1.AccessDeep, Write: accessv1alpha1.AccessBasic}},
					},
				},
			})
		}
		roleOf := func(i int) string { return fmt.Sprintf("%s-role-%02d", env, i%roles) }

		for t := 0; t < per(s.Teams, e); t++ {
			objs = append(objs, &accessv1alpha1.Team{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-team-%02d", env, t)},
				Spec: accessv1alpha1.TeamSpec{EnvironmentName: env, Type: accessv1alpha1.TeamAADSecurityGroup,
					Group: fmt.Sprintf("%s-group-%02d", env, t), SecurityRoles: []string{roleOf(t)}},
			})
		}
		teams := per(s.Teams, e)

		for u := 0; u < s.UsersPerEnvironment; u++ {
			spec := accessv1alpha1.PlatformUserSpec{
				EnvironmentName: env, UserName: fmt.Sprintf("user-%03d@%s.example.com", u, env), Enabled: true,
				AccessMode: accessv1alpha1.AccessModeReadWrite, SecurityGroups: []string{"sg-" + env},
				SecurityRoles: []string{roleOf(u)},
			}
			switch {
			case u < s.NonInteractivePerEnv:
				spec.AccessMode = accessv1alpha1.AccessModeNonInteractive
			case u < s.NonInteractivePerEnv+admins:
				spec.AccessMode = accessv1alpha1.AccessModeAdministrative
			default:
				spec.License = "PLAN1"
			}
			if teams > 0 && u%3 == 0 {
				spec.SecurityGroups = append(spec.SecurityGroups, fmt.Sprintf("%s-group-%02d", env, u%teams))
			}
			objs = append(objs, &accessv1alpha1.PlatformUser{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-user-%03d", env, u)}, Spec: spec})
		}
		for a := 0; a < per(s.ApplicationUsers, e); a++ {
			objs = append(objs, &accessv1alpha1.ApplicationUser{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("%s-app-%03d", env, a)},
				Spec: accessv1alpha1.ApplicationUserSpec{EnvironmentName: env, Enabled: true,
					ApplicationID: fmt.Sprintf("00000000-0000-4000-8000-%012d", appIndex), SecurityRoles: []string{roleOf(a)}},
			})
			appIndex++
		}
	}
	return objs, exp
}
