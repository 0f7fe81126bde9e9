// Package checkaccess is the check-access command: it reads a user, its effective roles (as the
// controllers wrote them), those roles, its teams and its environment, and prints what the user can
// reach, table by table, with the grants that give it. The decisions are internal/access's; this
// package only reads and prints.
package checkaccess

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/access"
	"github.com/accessplane/dataverse-access-operator/internal/butree"
)

// Output formats.
const (
	OutputTable = "table"
	OutputJSON  = "json"
)

// Options say whom to check and how to print.
type Options struct {
	Namespace string
	// User is a PlatformUser name, or else an ApplicationUser name.
	User string
	// Table, when set, limits the output to one table.
	Table string
	// Output is "table" (the default) or "json".
	Output string
}

// Report is the JSON output: where the user lives, and the evaluation inline.
type Report struct {
	Kind        string `json:"kind"`
	Namespace   string `json:"namespace"`
	Environment string `json:"environment"`
	access.Result
}

// Subject is what evaluating a PlatformUser or an ApplicationUser needs of it: what the
// controllers wrote (whether it is enabled, its effective roles) and where it lives.
type Subject struct {
	Kind, Name, Environment, BusinessUnit string
	Mode                                  v1alpha1.AccessMode
	Application, Enabled                  bool
	Roles                                 []v1alpha1.EffectiveRole
	// Stale is true when the status describes an older generation than the spec.
	Stale bool
}

// SubjectOfPlatformUser is a PlatformUser as a Subject.
func SubjectOfPlatformUser(pu *v1alpha1.PlatformUser) Subject {
	return Subject{
		Kind: "PlatformUser", Name: pu.Name, Environment: pu.Spec.EnvironmentName, BusinessUnit: pu.Spec.BusinessUnit,
		Mode: pu.Spec.AccessMode, Enabled: pu.Status.Enabled, Roles: pu.Status.EffectiveRoles,
		Stale: pu.Status.ObservedGeneration != pu.Generation,
	}
}

// SubjectOfApplicationUser is an ApplicationUser as a Subject: non-interactive (AM7).
func SubjectOfApplicationUser(au *v1alpha1.ApplicationUser) Subject {
	return Subject{
		Kind: "ApplicationUser", Name: au.Name, Environment: au.Spec.EnvironmentName, BusinessUnit: au.Spec.BusinessUnit,
		Mode: v1alpha1.AccessModeNonInteractive, Application: true, Enabled: au.Status.Enabled, Roles: au.Status.EffectiveRoles,
		Stale: au.Status.ObservedGeneration != au.Generation,
	}
}

// Objects finds the roles and teams a subject's effective roles name, in its namespace. A
// missing object is a NotFound API error, as a client returns it.
type Objects interface {
	Role(name string) (*v1alpha1.SecurityRole, error)
	Team(name string) (*v1alpha1.Team, error)
}

// PrincipalOf resolves s into the principal access.Evaluate takes: each effective role with its
// spec and business unit, and for a role held through a team, the team's business unit (TM2).
// Every missing object is reported at once, so one run tells the whole story. check-access reads
// the objects from a cluster; plan passes the objects it decided offline.
func PrincipalOf(s Subject, env *v1alpha1.Environment, namespace string, objs Objects) (access.Principal, error) {
	root := env.RootBusinessUnit()
	p := access.Principal{
		Name:         s.Name,
		BusinessUnit: orDefault(s.BusinessUnit, root),
		AccessMode:   s.Mode,
		Application:  s.Application,
		Enabled:      s.Enabled,
	}
	var errs []error
	teams := map[string]*access.TeamRef{}
	for _, er := range s.Roles {
		role, err := objs.Role(er.Name)
		if err != nil {
			errs = append(errs, missing(err, "SecurityRole", er.Name, namespace, fmt.Sprintf("role of %s %q (source %s)", s.Kind, s.Name, er.Source)))
			continue
		}
		a := access.Assignment{
			Role: access.Role{
				Name:         role.Name,
				RoleName:     role.DisplayRoleName(),
				BusinessUnit: orDefault(role.Spec.BusinessUnit, root),
				Spec:         role.Spec,
			},
			Source: er.Source,
		}
		if teamName, ok := strings.CutPrefix(er.Source, v1alpha1.RoleSourceTeamPrefix); ok {
			ref, seen := teams[teamName]
			if !seen {
				team, err := objs.Team(teamName)
				if err != nil {
					errs = append(errs, missing(err, "Team", teamName, namespace, fmt.Sprintf("team of %s %q, through which it holds role %q", s.Kind, s.Name, er.Name)))
				} else {
					ref = &access.TeamRef{Name: team.Name, BusinessUnit: orDefault(team.Spec.BusinessUnit, root)}
				}
				teams[teamName] = ref
			}
			if ref == nil {
				continue
			}
			a.Team = ref
		}
		p.Roles = append(p.Roles, a)
	}
	return p, errors.Join(errs...)
}

// clientObjects reads the objects from a cluster.
type clientObjects struct {
	ctx       context.Context
	c         client.Reader
	namespace string
}

func (o clientObjects) Role(name string) (*v1alpha1.SecurityRole, error) {
	var role v1alpha1.SecurityRole
	if err := o.c.Get(o.ctx, client.ObjectKey{Namespace: o.namespace, Name: name}, &role); err != nil {
		return nil, err
	}
	return &role, nil
}

func (o clientObjects) Team(name string) (*v1alpha1.Team, error) {
	var team v1alpha1.Team
	if err := o.c.Get(o.ctx, client.ObjectKey{Namespace: o.namespace, Name: name}, &team); err != nil {
		return nil, err
	}
	return &team, nil
}

// Run evaluates opts.User's access and writes it to out. Missing objects are errors naming them.
func Run(ctx context.Context, c client.Reader, opts Options, out io.Writer) error {
	switch opts.Output {
	case "", OutputTable, OutputJSON:
	default:
		return fmt.Errorf("unknown output %q: use %q or %q", opts.Output, OutputTable, OutputJSON)
	}
	if opts.User == "" {
		return errors.New("no user given: name a PlatformUser or ApplicationUser")
	}
	s, err := readSubject(ctx, c, opts.Namespace, opts.User)
	if err != nil {
		return err
	}
	var env v1alpha1.Environment
	if err := c.Get(ctx, client.ObjectKey{Namespace: opts.Namespace, Name: s.Environment}, &env); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("environment %q of %s %q not found in namespace %q", s.Environment, s.Kind, s.Name, opts.Namespace)
		}
		return fmt.Errorf("reading environment %q: %w", s.Environment, err)
	}
	p, err := PrincipalOf(s, &env, opts.Namespace, clientObjects{ctx: ctx, c: c, namespace: opts.Namespace})
	if err != nil {
		return err
	}

	res := access.Evaluate(p, butree.Tree(env.BusinessUnitParents()), access.Options{Table: opts.Table})
	if s.Stale {
		res.Notes = append(res.Notes, fmt.Sprintf("the %s's status describes an older generation: the controllers have not caught up with its latest spec, so its roles may change", s.Kind))
	}
	if opts.Output == OutputJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(Report{Kind: s.Kind, Namespace: opts.Namespace, Environment: env.Name, Result: res})
	}
	return printTable(out, s, env.Name, res)
}

func readSubject(ctx context.Context, c client.Reader, ns, name string) (Subject, error) {
	key := client.ObjectKey{Namespace: ns, Name: name}
	var pu v1alpha1.PlatformUser
	err := c.Get(ctx, key, &pu)
	if err == nil {
		return SubjectOfPlatformUser(&pu), nil
	}
	if !apierrors.IsNotFound(err) {
		return Subject{}, fmt.Errorf("reading PlatformUser %q: %w", name, err)
	}
	var au v1alpha1.ApplicationUser
	if err := c.Get(ctx, key, &au); err != nil {
		if apierrors.IsNotFound(err) {
			return Subject{}, fmt.Errorf("no PlatformUser or ApplicationUser %q in namespace %q", name, ns)
		}
		return Subject{}, fmt.Errorf("reading ApplicationUser %q: %w", name, err)
	}
	return SubjectOfApplicationUser(&au), nil
}

func missing(err error, kind, name, ns, what string) error {
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s %q not found in namespace %q (the %s)", kind, name, ns, what)
	}
	return fmt.Errorf("reading %s %q: %w", kind, name, err)
}

func printTable(out io.Writer, s Subject, environment string, res access.Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "User:           %s (%s)\n", s.Name, s.Kind)
	fmt.Fprintf(&b, "Environment:    %s\n", environment)
	fmt.Fprintf(&b, "Business unit:  %s\n", res.BusinessUnit)
	fmt.Fprintf(&b, "Access mode:    %s\n", res.AccessMode)
	fmt.Fprintf(&b, "Enabled:        %t\n", res.Enabled)
	fmt.Fprintf(&b, "Access:         %s\n", res.Access)
	if len(res.Notes) > 0 {
		b.WriteString("Notes:\n")
		for _, n := range res.Notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	b.WriteString("\n")

	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tPRIVILEGE\tLEVEL\tGRANTED-BY")
	if len(res.Tables) == 0 {
		fmt.Fprintln(tw, "-\t-\t-\tno role lists a table")
	}
	for _, ta := range res.Tables {
		for _, pa := range ta.Privileges {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ta.Table, pa.Privilege, level(pa.Level, pa.Granted), grantedBy(pa.Grants, pa.Granted))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, section := range []struct {
		title string
		list  []access.NamedAccess
	}{{"MISCELLANEOUS", res.Miscellaneous}, {"PRIVACY", res.Privacy}} {
		if len(section.list) == 0 {
			continue
		}
		b.WriteString("\n")
		tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "%s\tLEVEL\tGRANTED-BY\n", section.title)
		for _, na := range section.list {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", na.Name, level(na.Level, na.Granted), grantedBy(na.Grants, na.Granted))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// level shows the effective level, and what the roles grant when the access mode lowers it (AM4).
func level(effective, granted v1alpha1.AccessLevel) string {
	if effective == granted {
		return string(effective)
	}
	return fmt.Sprintf("%s (granted %s)", effective, granted)
}

// grantedBy lists the grants as "Role (source)", saying how team-held roles reach the user (TM2,
// TM3) and the level of any grant below the highest.
func grantedBy(grants []access.Grant, granted v1alpha1.AccessLevel) string {
	if len(grants) == 0 {
		return "-"
	}
	parts := make([]string, 0, len(grants))
	for _, g := range grants {
		var how string
		switch {
		case g.Via == access.ViaTeam:
			how = fmt.Sprintf("%s via team, BU %s", g.Source, g.BusinessUnit)
		case g.Team != "":
			how = g.Source + " as member"
		default:
			how = g.Source
		}
		part := fmt.Sprintf("%s (%s)", g.RoleName, how)
		if g.Level != granted {
			part += " at " + string(g.Level)
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
