package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Output formats.
const (
	OutputText     = "text"
	OutputJSON     = "json"
	OutputMarkdown = "markdown"
)

// Write prints rep in format.
func Write(out io.Writer, rep *Report, format string) error {
	switch format {
	case "", OutputText:
		return writeText(out, rep)
	case OutputJSON:
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case OutputMarkdown:
		return writeMarkdown(out, rep)
	}
	return fmt.Errorf("unknown output %q: use text, json or markdown", format)
}

func verdictText(o ObjectResult) string {
	switch {
	case o.Stalled:
		return "Stalled"
	case o.Ready == "True":
		return "Ready"
	}
	return "InProgress"
}

func sourceText(o ObjectResult) string {
	switch {
	case o.BuiltIn:
		return "(built-in, made by its Environment)"
	case o.Source != nil:
		return o.Source.String()
	}
	return ""
}

func refusalWhere(r Refusal) string {
	if r.Line > 0 {
		return fmt.Sprintf("%s:%d", r.Source.File, r.Line)
	}
	return r.Source.String()
}

func summaryLine(rep *Report) string {
	s := rep.Summary
	return fmt.Sprintf("%d refused at admission; %d objects: %d Ready, %d Stalled, %d in progress", s.Refused, s.Objects, s.Ready, s.Stalled, s.Other)
}

func writeText(out io.Writer, rep *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Plan: %s\n", summaryLine(rep))
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "Note: %s\n", n)
	}
	for _, ig := range rep.Ignored {
		fmt.Fprintf(&b, "Note: %s: %s %s (%s) is not an object of this operator and is not planned\n", ig.Source, ig.Kind, ig.Name, ig.APIVersion)
	}

	if len(rep.Refused) > 0 {
		fmt.Fprintf(&b, "\nRefused at admission (%d): kubectl apply would fail on these\n", len(rep.Refused))
		for _, r := range rep.Refused {
			fmt.Fprintf(&b, "  %s: %s %s: %s: %s\n", refusalWhere(r), r.Kind, r.Name, r.Field, r.Message)
		}
	}

	fmt.Fprintf(&b, "\nObjects (%d), as the operator would decide them once converged\n", len(rep.Objects))
	tw := tabwriter.NewWriter(&b, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAMESPACE\tKIND\tNAME\tVERDICT\tREASON\tSOURCE")
	for _, o := range rep.Objects {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", o.Namespace, o.Kind, o.Name, verdictText(o), o.Reason, sourceText(o))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var stalled []ObjectResult
	for _, o := range rep.Objects {
		if o.Stalled {
			stalled = append(stalled, o)
		}
	}
	if len(stalled) > 0 {
		fmt.Fprintf(&b, "\nStalled (%d): a person must change something\n", len(stalled))
		for _, o := range stalled {
			fmt.Fprintf(&b, "  %s %s: %s: %s\n", o.Kind, o.Name, o.Reason, o.Message)
		}
	}

	if rep.Diff != nil {
		b.WriteString("\n")
		writeDiffText(&b, rep.Diff)
	}
	_, err := io.WriteString(out, b.String())
	return err
}

// writeDiffText prints the changes against the base: access, then slots and seats, then Ready.
func writeDiffText(b *strings.Builder, d *Diff) {
	b.WriteString("Access changes\n")
	if len(d.Access) == 0 {
		b.WriteString("  none\n")
	}
	for _, p := range d.Access {
		fmt.Fprintf(b, "  %s %s", p.Kind, p.Name)
		if p.AccessFrom != p.AccessTo {
			fmt.Fprintf(b, ": access %s -> %s", p.AccessFrom, p.AccessTo)
		}
		b.WriteString("\n")
		tw := tabwriter.NewWriter(b, 0, 8, 2, ' ', 0)
		for _, c := range p.Changes {
			fmt.Fprintf(tw, "    %s\t%s\t%s\t%s -> %s\t%s\n", arrow(c), c.Table, c.Privilege, c.From, c.To, throughText(c))
		}
		_ = tw.Flush() // a strings.Builder does not fail
	}
	b.WriteString("\nSlots and seats\n")
	if len(d.Allocation) == 0 {
		b.WriteString("  no change\n")
	}
	for _, a := range d.Allocation {
		fmt.Fprintf(b, "  %s: %s %s: %s -> %s\n", a.Environment, a.Resource, a.Name, a.From, a.To)
	}
	b.WriteString("\nReady changes\n")
	if len(d.Ready) == 0 {
		b.WriteString("  none\n")
	}
	for _, r := range d.Ready {
		fmt.Fprintf(b, "  %s %s: %s -> %s\n", r.Kind, r.Name, r.From, r.To)
	}
}

func arrow(c AccessChange) string {
	if c.Rises() {
		return "+"
	}
	return "-"
}

func throughText(c AccessChange) string {
	if len(c.Through) == 0 {
		return ""
	}
	word := "through"
	if !c.Rises() {
		word = "was through"
	}
	return word + " " + strings.Join(c.Through, ", ")
}

// md escapes a table cell.
func md(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;").Replace(s)
}

// writeMarkdown is for a pull-request comment: what needs attention first, the full listing folded.
func writeMarkdown(out io.Writer, rep *Report) error {
	var b strings.Builder
	icon := "✅"
	if rep.Failed() {
		icon = "❌"
	}
	fmt.Fprintf(&b, "### %s Access plan\n\n%s.\n\n", icon, summaryLine(rep))
	for _, n := range rep.Notes {
		fmt.Fprintf(&b, "> %s\n", n)
	}
	for _, ig := range rep.Ignored {
		fmt.Fprintf(&b, "> `%s`: %s %s (%s) is not an object of this operator and is not planned\n", ig.Source, ig.Kind, ig.Name, ig.APIVersion)
	}
	if len(rep.Refused) > 0 {
		fmt.Fprintf(&b, "\n#### Refused at admission (%d)\n\n| Where | Object | Field | Message |\n|---|---|---|---|\n", len(rep.Refused))
		for _, r := range rep.Refused {
			fmt.Fprintf(&b, "| `%s` | %s `%s` | `%s` | %s |\n", refusalWhere(r), r.Kind, r.Name, r.Field, md(r.Message))
		}
	}
	if d := rep.Diff; d != nil {
		b.WriteString("\n#### Access changes\n\n")
		if len(d.Access) == 0 {
			b.WriteString("No principal gains or loses access.\n")
		} else {
			b.WriteString("| Principal | Table | Privilege | Change | Through |\n|---|---|---|---|---|\n")
			for _, p := range d.Access {
				who := fmt.Sprintf("%s `%s`", p.Kind, p.Name)
				if p.AccessFrom != p.AccessTo {
					fmt.Fprintf(&b, "| %s | | access | %s → %s | |\n", who, p.AccessFrom, p.AccessTo)
				}
				for _, c := range p.Changes {
					fmt.Fprintf(&b, "| %s | `%s` | %s | %s %s → %s | %s |\n", who, c.Table, c.Privilege, map[bool]string{true: "⬆", false: "⬇"}[c.Rises()], c.From, c.To, md(strings.Join(c.Through, ", ")))
				}
			}
		}
		if len(d.Allocation) > 0 {
			b.WriteString("\n#### Slots and seats\n\n| Environment | Resource | Principal | Before | After |\n|---|---|---|---|---|\n")
			for _, a := range d.Allocation {
				fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s | %s |\n", a.Environment, a.Resource, a.Name, a.From, a.To)
			}
		}
		if len(d.Ready) > 0 {
			b.WriteString("\n#### Ready changes\n\n| Object | Before | After | Message |\n|---|---|---|---|\n")
			for _, r := range d.Ready {
				fmt.Fprintf(&b, "| %s `%s` | %s | %s | %s |\n", r.Kind, r.Name, r.From, r.To, md(r.Message))
			}
		}
	}
	var stalled []ObjectResult
	for _, o := range rep.Objects {
		if o.Stalled {
			stalled = append(stalled, o)
		}
	}
	if len(stalled) > 0 {
		fmt.Fprintf(&b, "\n#### Stalled (%d)\n\n| Object | Reason | Message |\n|---|---|---|\n", len(stalled))
		for _, o := range stalled {
			fmt.Fprintf(&b, "| %s `%s` | %s | %s |\n", o.Kind, o.Name, o.Reason, md(o.Message))
		}
	}
	fmt.Fprintf(&b, "\n<details><summary>Every object (%d)</summary>\n\n| Object | Verdict | Reason | Source |\n|---|---|---|---|\n", len(rep.Objects))
	for _, o := range rep.Objects {
		fmt.Fprintf(&b, "| %s `%s` | %s | %s | %s |\n", o.Kind, o.Name, verdictText(o), o.Reason, md(sourceText(o)))
	}
	b.WriteString("\n</details>\n")
	_, err := io.WriteString(out, b.String())
	return err
}
