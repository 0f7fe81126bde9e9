package controllers

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	accessv1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/decide"
)

// cacheReader is decide.Reader over the informer cache: its lookups by key are the field indexes
// (indexes), and it reads without copying (shared), so what it returns must never be written;
// decisions never write their inputs. A missing object is nil, not an error.
type cacheReader struct{ c client.Reader }

// newCacheReader reads the decisions' inputs from c, a cache-backed reader whose indexes are
// registered (registerIndexes).
func newCacheReader(c client.Reader) decide.Reader { return cacheReader{c} }

func (r cacheReader) Environment(ctx context.Context, namespace, name string) (*accessv1alpha1.Environment, error) {
	return getShared[accessv1alpha1.Environment](ctx, r.c, namespace, name)
}

func (r cacheReader) SecurityRole(ctx context.Context, namespace, name string) (*accessv1alpha1.SecurityRole, error) {
	return getShared[accessv1alpha1.SecurityRole](ctx, r.c, namespace, name)
}

func (r cacheReader) PlatformUser(ctx context.Context, namespace, name string) (*accessv1alpha1.PlatformUser, error) {
	return getShared[accessv1alpha1.PlatformUser](ctx, r.c, namespace, name)
}

func (r cacheReader) UsersWithKey(ctx context.Context, namespace, k string) ([]accessv1alpha1.PlatformUser, error) {
	var l accessv1alpha1.PlatformUserList
	err := r.list(ctx, &l, namespace, indexUserKey, k)
	return l.Items, err
}

func (r cacheReader) AppsWithKey(ctx context.Context, namespace, k string) ([]accessv1alpha1.ApplicationUser, error) {
	var l accessv1alpha1.ApplicationUserList
	err := r.list(ctx, &l, namespace, indexAppKey, k)
	return l.Items, err
}

func (r cacheReader) RolesWithKey(ctx context.Context, namespace, k string) ([]accessv1alpha1.SecurityRole, error) {
	var l accessv1alpha1.SecurityRoleList
	err := r.list(ctx, &l, namespace, indexRoleKey, k)
	return l.Items, err
}

func (r cacheReader) UsersOf(ctx context.Context, namespace, environment string) ([]accessv1alpha1.PlatformUser, error) {
	var l accessv1alpha1.PlatformUserList
	err := r.list(ctx, &l, namespace, indexEnvironment, environment)
	return l.Items, err
}

func (r cacheReader) AppsOf(ctx context.Context, namespace, environment string) ([]accessv1alpha1.ApplicationUser, error) {
	var l accessv1alpha1.ApplicationUserList
	err := r.list(ctx, &l, namespace, indexEnvironment, environment)
	return l.Items, err
}

func (r cacheReader) TeamsListing(ctx context.Context, namespace, member string) ([]accessv1alpha1.Team, error) {
	var l accessv1alpha1.TeamList
	err := r.list(ctx, &l, namespace, indexMembers, member)
	return l.Items, err
}

func (r cacheReader) GroupTeams(ctx context.Context, namespace, environment, group string) ([]accessv1alpha1.Team, error) {
	var l accessv1alpha1.TeamList
	err := r.list(ctx, &l, namespace, indexGroupKey, key(environment, group))
	return l.Items, err
}

func (r cacheReader) GroupMembers(ctx context.Context, namespace, environment, group string) ([]accessv1alpha1.PlatformUser, error) {
	var l accessv1alpha1.PlatformUserList
	err := r.list(ctx, &l, namespace, indexUserGroups, key(environment, group))
	return l.Items, err
}

func (r cacheReader) list(ctx context.Context, l client.ObjectList, namespace, field, value string) error {
	return r.c.List(ctx, l, client.InNamespace(namespace), client.MatchingFields{field: value}, shared)
}

// getShared reads the named object, or nil when it does not exist.
func getShared[T any, P interface {
	*T
	client.Object
}](ctx context.Context, c client.Reader, namespace, name string) (*T, error) {
	var obj T
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, P(&obj), shared); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return &obj, nil
}

// shared reads an object or a list from the informer cache without copying it: what it returns
// is the cache's own data and must never be written. The reads feed decisions, which never write
// their inputs (decide's tests check every table case with untouched), and the watch handlers,
// which read names. Only the reconciled object itself is copied, since its status is set.
// Copying every dependency was most of the manager's allocations: a user's reconcile copied its
// Environment's whole ledger, and an Environment's copied all its users.
const shared = client.UnsafeDisableDeepCopy
