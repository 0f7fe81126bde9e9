package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// TestCacheReader: each of the cache reader's lookups is answered by its field index, within the
// namespace, and a missing object is nil, not an error.
func TestCacheReader(t *testing.T) {
	ctx := context.Background()
	t0 := metav1.NewTime(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	meta := func(ns, name string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: t0}
	}
	user := func(ns, name, env, userName string, groups ...string) *accessv1alpha1.PlatformUser {
		return &accessv1alpha1.PlatformUser{ObjectMeta: meta(ns, name),
			Spec: accessv1alpha1.PlatformUserSpec{EnvironmentName: env, UserName: userName, SecurityGroups: groups}}
	}
	objs := []client.Object{
		&accessv1alpha1.Environment{ObjectMeta: meta("a", "prod")},
		&accessv1alpha1.SecurityRole{ObjectMeta: meta("a", "sales"), Spec: accessv1alpha1.SecurityRoleSpec{EnvironmentName: "prod", RoleName: "Sales"}},
		&accessv1alpha1.SecurityRole{ObjectMeta: meta("a", "sales-copy"), Spec: accessv1alpha1.SecurityRoleSpec{EnvironmentName: "prod", RoleName: "SALES"}},
		&accessv1alpha1.SecurityRole{ObjectMeta: meta("a", "other"), Spec: accessv1alpha1.SecurityRoleSpec{EnvironmentName: "prod"}},
		user("a", "ada", "prod", "Ada@contoso.com", "sg"),
		user("a", "ada-copy", "prod", "ada@contoso.com"),
		user("a", "bob", "test", "bob@contoso.com", "sg"),
		user("b", "ada", "prod", "ada@contoso.com", "sg"), // another namespace: never an answer for a
		&accessv1alpha1.ApplicationUser{ObjectMeta: meta("a", "etl"), Spec: accessv1alpha1.ApplicationUserSpec{EnvironmentName: "prod", ApplicationID: "ID-1"}},
		&accessv1alpha1.ApplicationUser{ObjectMeta: meta("a", "etl-copy"), Spec: accessv1alpha1.ApplicationUserSpec{EnvironmentName: "prod", ApplicationID: "id-1"}},
		&accessv1alpha1.ApplicationUser{ObjectMeta: meta("a", "sync"), Spec: accessv1alpha1.ApplicationUserSpec{EnvironmentName: "test", ApplicationID: "id-2"}},
		&accessv1alpha1.Team{ObjectMeta: meta("a", "sellers"), Spec: accessv1alpha1.TeamSpec{EnvironmentName: "prod", Type: accessv1alpha1.TeamOwner, Members: []string{"ada", "bob"}}},
		&accessv1alpha1.Team{ObjectMeta: meta("a", "support"), Spec: accessv1alpha1.TeamSpec{EnvironmentName: "prod", Type: accessv1alpha1.TeamAADSecurityGroup, Group: "sg"}},
		&accessv1alpha1.Team{ObjectMeta: meta("a", "test-support"), Spec: accessv1alpha1.TeamSpec{EnvironmentName: "test", Type: accessv1alpha1.TeamAADSecurityGroup, Group: "sg"}},
	}
	scheme := runtime.NewScheme()
	if err := accessv1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	b := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...)
	for _, ix := range indexes() {
		b = b.WithIndex(ix.obj, ix.field, ix.extract)
	}
	r := newCacheReader(b.Build())

	got := map[string][]string{}
	record := func(what string, names []string, err error) {
		if err != nil {
			names = []string{"error: " + err.Error()}
		}
		got[what] = names
	}
	// one is the name of a single object read, none when it is nil.
	one := func(name string, isNil bool) []string {
		if isNil {
			return nil
		}
		return []string{name}
	}
	env, err := r.Environment(ctx, "a", "prod")
	record("Environment prod", one("prod", env == nil), err)
	env, err = r.Environment(ctx, "a", "missing")
	record("Environment missing", one("missing", env == nil), err)
	role, err := r.SecurityRole(ctx, "a", "sales")
	record("SecurityRole sales", one("sales", role == nil), err)
	role, err = r.SecurityRole(ctx, "a", "missing")
	record("SecurityRole missing", one("missing", role == nil), err)
	u, err := r.PlatformUser(ctx, "a", "bob")
	record("PlatformUser bob", one("bob", u == nil || u.Spec.EnvironmentName != "test"), err)
	u, err = r.PlatformUser(ctx, "a", "missing")
	record("PlatformUser missing", one("missing", u == nil), err)

	users, err := r.UsersWithKey(ctx, "a", decide.UserKey(user("a", "x", "prod", "ADA@contoso.com")))
	record("UsersWithKey", names(users), err)
	apps, err := r.AppsWithKey(ctx, "a", "prod/id-1")
	record("AppsWithKey", names(apps), err)
	roles, err := r.RolesWithKey(ctx, "a", "prod/sales")
	record("RolesWithKey", names(roles), err)
	users, err = r.UsersOf(ctx, "a", "prod")
	record("UsersOf prod", names(users), err)
	apps, err = r.AppsOf(ctx, "a", "test")
	record("AppsOf test", names(apps), err)
	teams, err := r.TeamsListing(ctx, "a", "bob")
	record("TeamsListing bob", names(teams), err)
	teams, err = r.GroupTeams(ctx, "a", "prod", "sg")
	record("GroupTeams prod sg", names(teams), err)
	users, err = r.GroupMembers(ctx, "a", "prod", "sg")
	record("GroupMembers prod sg", names(users), err)

	want := map[string][]string{
		"Environment prod":     {"prod"},
		"Environment missing":  nil,
		"SecurityRole sales":   {"sales"},
		"SecurityRole missing": nil,
		"PlatformUser bob":     {"bob"},
		"PlatformUser missing": nil,
		"UsersWithKey":         {"ada", "ada-copy"},
		"AppsWithKey":          {"etl", "etl-copy"},
		"RolesWithKey":         {"sales", "sales-copy"},
		"UsersOf prod":         {"ada", "ada-copy"},
		"AppsOf test":          {"sync"},
		"TeamsListing bob":     {"sellers"},
		"GroupTeams prod sg":   {"support"},
		"GroupMembers prod sg": {"ada"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
}

// names are the objects' names, in the order listed (the fake client sorts them by name).
func names[T any, P interface {
	*T
	GetName() string
}](items []T) []string {
	var out []string
	for i := range items {
		out = append(out, P(&items[i]).GetName())
	}
	return out
}
