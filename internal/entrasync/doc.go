// Package entrasync applies decided state to Entra ID through Microsoft Graph: the Entra ID side
// of the sync contract (docs/design.md, "Sync contract"; DESIGN.md and docs/design.md, "Entra ID
// target (Microsoft Graph)" and "Observing at scale"). It holds no Kubernetes types: its input is
// plain values decided elsewhere (Environment, Person), and it applies no rule.
//
// Three steps, as in internal/dvsync:
//   - Observe reads in bulk, through a Reader (which has no write method): each group named,
//     resolved by id or display name; each group's direct members once, paged; every managed
//     person in $batch requests of 20; the tenant's subscribedSkus once. A snapshot costs
//     groups + member pages + ceil(people/20) + 1 requests, not requests per person.
//   - ComparePerson is pure: the writes that make Entra ID hold one person's decided state, only
//     for the facts Manage lists, and its Facts (what Entra ID holds, the typed problems, the
//     drift in facts not managed).
//   - Target.Sync runs the two and applies the writes through a Writer. NewTarget is the one place
//     the management policy is checked: a target under Observe has no writer. Each write made is
//     recorded in the snapshot, so comparing again finds nothing to do. A write whose answer is
//     lost (graph.ErrAnswerLost) is not sent again: the next Sync observes and decides.
//
// Only three writes exist (Op): add a direct member, remove one by its reference, assign or
// remove direct licenses. Never: accountEnabled, profile fields, creating or deleting people or
// groups, a license assigned by a group, a removal because a person was disabled (EN4).
//
// Where each fact comes from (Microsoft Graph v1.0 reference, learn.microsoft.com/graph/api/…,
// as summarized in DESIGN.md "Entra ID target"; internal/graph cites the same pages per call):
//   - a person, found by object id or user principal name, with accountEnabled,
//     assignedLicenses and licenseAssignmentStates ("Get user"): assignedLicenses includes the
//     licenses inherited from groups; licenseAssignmentStates[].assignedByGroup tells them apart
//     ("licenseAssignmentState resource type": null when assigned directly, else the group's id),
//     so License.Direct and License.ByGroups come from it; 404 is PersonNotFound;
//   - direct membership ("List group members": "Get a list of the group's direct members … This
//     operation is not transitive"), read with the microsoft.graph.user cast and $top=999, paged
//     by @odata.nextLink ("Paging Microsoft Graph data in your app"): EN1 counts direct membership
//     only, so a nested group's members are not members here;
//   - a group by display name ("List groups", $filter=displayName eq '…'): display names are not
//     unique, so none or several matches, or a group that is not securityEnabled, is a Problem;
//   - units per SKU ("List subscribedSkus"; "subscribedSku resource type": prepaidUnits.enabled,
//     consumedUnits "the number of licenses that have been assigned"), the skuId a
//     part number (spec.license) stands for, and TenantLicensesExhausted when none is left;
//   - writes: "Add members" (POST /groups/{id}/members/$ref; already a member is done), "Remove
//     member" (DELETE /groups/{id}/members/{id}/$ref — without /$ref the member itself is deleted,
//     which internal/graph refuses to send; not a member is done), "user: assignLicense"
//     (addLicenses/removeLicenses by skuId; refused without a usage location, with no unit left,
//     or for a license inherited from a group — the comparison foresees the first two);
//   - "Combine multiple HTTP requests using JSON batching": at most 20 requests a $batch, each
//     answered (and throttled) on its own.
package entrasync
