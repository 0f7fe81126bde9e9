package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/accessplane/dataverse-access-operator/internal/webapi"
)

// User reads a person by object id or user principal name:
// GET /users/{id | userPrincipalName}?$select=id,userPrincipalName,accountEnabled,assignedLicenses,licenseAssignmentStates,usageLocation.
// A person Graph does not have is ErrNotFound (404 Request_ResourceNotFound).
func (cl *Client) User(ctx context.Context, idOrUPN string) (*User, error) {
	p, err := userPath("User", idOrUPN)
	if err != nil {
		return nil, err
	}
	var u User
	if err := cl.get(ctx, "User", webapi.Query(cl.base, p, "$select", userSelect), &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// GroupMembers lists a group's direct members that are users (not transitive: EN1 counts direct
// membership only): GET /groups/{id}/members/microsoft.graph.user?$select=id,userPrincipalName&$top=999,
// every page through @odata.nextLink ("List group members": "This operation is not transitive").
func (cl *Client) GroupMembers(ctx context.Context, groupID string) ([]Member, error) {
	if err := checkIDs("GroupMembers", groupID); err != nil {
		return nil, err
	}
	first := webapi.Query(cl.base, "/groups/"+groupID+"/members/microsoft.graph.user", "$select", "id,userPrincipalName", "$top", "999")
	return webapi.List[Member](ctx, cl.t, "GroupMembers", first, nil)
}

// GroupsByName lists the groups with exactly this display name:
// GET /groups?$filter=displayName eq '<name>'&$select=id,displayName,securityEnabled. Display names
// are not unique: the caller decides what several mean (ResolveGroup refuses them).
func (cl *Client) GroupsByName(ctx context.Context, displayName string) ([]Group, error) {
	if strings.TrimSpace(displayName) == "" {
		return nil, errors.New("graph GroupsByName: no display name")
	}
	first := webapi.Query(cl.base, "/groups", "$filter", "displayName eq "+webapi.QuoteString(displayName), "$select", groupSelect)
	return webapi.List[Group](ctx, cl.t, "GroupsByName", first, nil)
}

// Group reads a group by object id: GET /groups/{id}?$select=id,displayName,securityEnabled.
func (cl *Client) Group(ctx context.Context, id string) (*Group, error) {
	if err := checkIDs("Group", id); err != nil {
		return nil, err
	}
	var g Group
	if err := cl.get(ctx, "Group", webapi.Query(cl.base, "/groups/"+id, "$select", groupSelect), &g); err != nil {
		return nil, err
	}
	return &g, nil
}

// ResolveGroup finds the group spec.securityGroup or a group team's spec.group names: an object id
// is read (ErrNotFound when absent), a display name must match exactly one group (ErrNotFound for
// none, ErrAmbiguous for several); either way the group must be security-enabled
// (ErrNotSecurityGroup).
func (cl *Client) ResolveGroup(ctx context.Context, idOrName string) (*Group, error) {
	s := strings.TrimSpace(idOrName)
	var g *Group
	if webapi.IsGUID(s) {
		var err error
		if g, err = cl.Group(ctx, s); err != nil {
			return nil, err
		}
	} else {
		groups, err := cl.GroupsByName(ctx, s)
		if err != nil {
			return nil, err
		}
		switch len(groups) {
		case 0:
			return nil, fmt.Errorf("graph ResolveGroup: no group is named %q: %w", s, ErrNotFound)
		case 1:
			g = &groups[0]
		default:
			ids := make([]string, len(groups))
			for i, g := range groups {
				ids[i] = g.ID
			}
			return nil, fmt.Errorf("graph ResolveGroup: %d groups are named %q (%s); name the one meant by its object id: %w", len(groups), s, strings.Join(ids, ", "), ErrAmbiguous)
		}
	}
	if !g.SecurityEnabled {
		return nil, fmt.Errorf("graph ResolveGroup: group %q (%s) is not security-enabled: %w", g.DisplayName, g.ID, ErrNotSecurityGroup)
	}
	return g, nil
}

// AddMember makes a user a direct member of a group: POST /groups/{id}/members/$ref with
// {"@odata.id":"<base>/directoryObjects/{userId}"} → 204. A user already a member (400 "One or more
// added object references already exist…") counts as done. It is not resent after an unknown
// outcome (ErrAnswerLost): the caller reads the group's members first.
func (cl *Client) AddMember(ctx context.Context, groupID, userID string) error {
	if err := checkIDs("AddMember", groupID, userID); err != nil {
		return err
	}
	err := cl.t.Do(ctx, &webapi.Call{Op: "AddMember", Method: http.MethodPost, URL: cl.membersRef(groupID),
		Body: map[string]string{"@odata.id": cl.directoryObject(userID)}})
	if alreadyMember(err) {
		return nil
	}
	return err
}

// RemoveMember removes a user from a group's direct members: DELETE
// /groups/{id}/members/{userId}/$ref → 204 ("Remove member"), the reference only, never the user.
// A user who is not a member (404) counts as done; a resend after a lost answer finds that, so a
// removal is retried like a read.
func (cl *Client) RemoveMember(ctx context.Context, groupID, userID string) error {
	if err := checkIDs("RemoveMember", groupID, userID); err != nil {
		return err
	}
	err := cl.deleteRef(ctx, "RemoveMember", cl.memberRef(groupID, userID))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// deleteRef is the client's only DELETE, and it deletes references only: a URL that does not end
// in /$ref is refused before anything is sent.
func (cl *Client) deleteRef(ctx context.Context, op, u string) error {
	if !strings.HasSuffix(u, "/$ref") {
		return fmt.Errorf("graph %s: refusing DELETE %s: the client deletes references (/$ref) only", op, u)
	}
	return cl.t.Do(ctx, &webapi.Call{Op: op, Method: http.MethodDelete, URL: u, Idempotent: true})
}

// SubscribedSkus lists the tenant's subscriptions with their units: GET /subscribedSkus.
func (cl *Client) SubscribedSkus(ctx context.Context) ([]SubscribedSku, error) {
	return webapi.List[SubscribedSku](ctx, cl.t, "SubscribedSkus", cl.base+"/subscribedSkus", nil)
}

// AssignLicense adds and removes a user's direct licenses by SKU id: POST /users/{id}/assignLicense
// with {"addLicenses":[{"skuId":…,"disabledPlans":[]}],"removeLicenses":[…]} → 200. Its 400s say
// why with ErrNoUsageLocation, ErrNoLicensesLeft or ErrLicenseByGroup (and ErrBadRequest). It is
// not resent after an unknown outcome (ErrAnswerLost): the caller reads the user's licenses first.
func (cl *Client) AssignLicense(ctx context.Context, userID string, add, remove []string) error {
	if err := checkIDs("AssignLicense", append(append([]string{userID}, add...), remove...)...); err != nil {
		return err
	}
	if len(add) == 0 && len(remove) == 0 {
		return nil
	}
	type license struct {
		SkuID         string   `json:"skuId"`
		DisabledPlans []string `json:"disabledPlans"`
	}
	body := struct {
		AddLicenses    []license `json:"addLicenses"`
		RemoveLicenses []string  `json:"removeLicenses"`
	}{AddLicenses: []license{}, RemoveLicenses: []string{}}
	for _, id := range add {
		body.AddLicenses = append(body.AddLicenses, license{SkuID: id, DisabledPlans: []string{}})
	}
	body.RemoveLicenses = append(body.RemoveLicenses, remove...)
	return cl.t.Do(ctx, &webapi.Call{Op: "AssignLicense", Method: http.MethodPost, URL: cl.base + "/users/" + userID + "/assignLicense", Body: body})
}

func (cl *Client) get(ctx context.Context, op, u string, out any) error {
	return cl.t.Do(ctx, &webapi.Call{Op: op, Method: http.MethodGet, URL: u, Idempotent: true, Out: out})
}
