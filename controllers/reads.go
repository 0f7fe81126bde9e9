package controllers

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// The reads a decision needs, from the cache. A missing object is an answer (nil), not an error:
// the decision turns it into a condition (EV3).

// shared reads an object or a list from the informer cache without copying it: what it returns
// is the cache's own data and must never be written. The reads below feed decisions, which never
// write their inputs (decide's tests check every table case with untouched), and the watch
// handlers, which read names. Only the reconciled object itself is copied, since its status is
// set. Copying every dependency was most of the manager's allocations: a user's reconcile copied
// its Environment's whole ledger, and an Environment's copied all its users.
const shared = client.UnsafeDisableDeepCopy

// environmentOf gets the Environment an object names, or nil when it does not exist.
func environmentOf(ctx context.Context, c client.Reader, namespace, name string) (*accessv1alpha1.Environment, error) {
	var env accessv1alpha1.Environment
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &env, shared); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return &env, nil
}

// rolesNamed gets the named SecurityRoles that exist.
func rolesNamed(ctx context.Context, c client.Reader, namespace string, names ...[]string) (decide.Roles, error) {
	out := decide.Roles{}
	for _, list := range names {
		for _, name := range list {
			if _, done := out[name]; done || name == "" {
				continue
			}
			var role accessv1alpha1.SecurityRole
			switch err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &role, shared); {
			case apierrors.IsNotFound(err):
				out[name] = nil
			case err != nil:
				return nil, err
			default:
				out[name] = &role
			}
		}
	}
	return out, nil
}

// teamsOf lists the teams that may include a user: Owner and Access teams that list it, and
// group teams of its groups (TM1). decide.TeamIncludes decides.
func teamsOf(ctx context.Context, c client.Reader, u *accessv1alpha1.PlatformUser) ([]accessv1alpha1.Team, error) {
	var out []accessv1alpha1.Team
	var byMember accessv1alpha1.TeamList
	if err := c.List(ctx, &byMember, client.InNamespace(u.Namespace), client.MatchingFields{indexMembers: u.Name}, shared); err != nil {
		return nil, err
	}
	out = append(out, byMember.Items...)
	for _, g := range u.Spec.SecurityGroups {
		var byGroup accessv1alpha1.TeamList
		if err := c.List(ctx, &byGroup, client.InNamespace(u.Namespace), client.MatchingFields{indexGroupKey: key(u.Spec.EnvironmentName, g)}, shared); err != nil {
			return nil, err
		}
		out = append(out, byGroup.Items...)
	}
	return out, nil
}

// teamRoleNames are the roles the teams hold.
func teamRoleNames(teams []accessv1alpha1.Team) []string {
	var out []string
	for i := range teams {
		out = append(out, teams[i].Spec.SecurityRoles...)
	}
	return out
}
