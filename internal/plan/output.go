package plan

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/accessplane/dataverse-access-operator/api/v1alpha1"
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
		if note := accessNote(p); note != "" {
			fmt.Fprintf(b, " (%s)", note)
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

// accessNote explains levels a principal cannot use yet: a disabled user's roles still change
// (they apply the moment it gets in), and the diff shows them so a reviewer sees it coming.
func accessNote(p PrincipalChange) string {
	if p.AccessTo == v1alpha1.AccessNoAccess && len(p.Changes) > 0 {
		return "reaches nothing until it gets in: the levels are what its roles give then"
	}
	return ""
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

// markdownRowsPerTable bounds each table of the markdown: a pull-request comment holds at most
// 65,536 characters, and a role change can reach thousands of principals. The JSON has it all.
const markdownRowsPerTable = 100

// table writes a markdown table of at most markdownRowsPerTable rows, and says how many it left out.
func table(b *strings.Builder, header string, rows []string) {
	b.WriteString(header)
	for i, r := range rows {
		if i == markdownRowsPerTable {
			fmt.Fprintf(b, "\n… and %d more: `manager plan -o json` lists every one.\n", len(rows)-i)
			return
		}
		b.WriteString(r)
	}
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
		var rows []string
		for _, r := range rep.Refused {
			rows = append(rows, fmt.Sprintf("| `%s` | %s `%s` | `%s` | %s |\n", refusalWhere(r), r.Kind, r.Name, r.Field, md(r.Message)))
		}
		table(&b, fmt.Sprintf("\n#### Refused at admission (%d)\n\n| Where | Object | Field | Message |\n|---|---|---|---|\n", len(rep.Refused)), rows)
	}
	if d := rep.Diff; d != nil {
		b.WriteString("\n#### Access changes\n\n")
		if len(d.Access) == 0 {
			b.WriteString("No principal gains or loses access.\n")
		} else {
			var rows []string
			for _, p := range d.Access {
				who := fmt.Sprintf("%s `%s`", p.Kind, p.Name)
				if note := accessNote(p); note != "" {
					who += " (" + note + ")"
				}
				if p.AccessFrom != p.AccessTo {
					rows = append(rows, fmt.Sprintf("| %s | | access | %s → %s | |\n", who, p.AccessFrom, p.AccessTo))
				}
				for _, c := range p.Changes {
					rows = append(rows, fmt.Sprintf("| %s | `%s` | %s | %s %s → %s | %s |\n", who, c.Table, c.Privilege, map[bool]string{true: "⬆", false: "⬇"}[c.Rises()], c.From, c.To, md(strings.Join(c.Through, ", "))))
				}
			}
			table(&b, fmt.Sprintf("%d principals' access changes.\n\n| Principal | Table | Privilege | Change | Through |\n|---|---|---|---|---|\n", len(d.Access)), rows)
		}
		if len(d.Allocation) > 0 {
			var rows []string
			for _, a := range d.Allocation {
				rows = append(rows, fmt.Sprintf("| `%s` | %s | `%s` | %s | %s |\n", a.Environment, a.Resource, a.Name, a.From, a.To))
			}
			table(&b, "\n#### Slots and seats\n\n| Environment | Resource | Principal | Before | After |\n|---|---|---|---|---|\n", rows)
		}
		if len(d.Ready) > 0 {
			var rows []string
			for _, r := range d.Ready {
				rows = append(rows, fmt.Sprintf("| %s `%s` | %s | %s | %s |\n", r.Kind, r.Name, r.From, r.To, md(r.Message)))
			}
			table(&b, "\n#### Ready changes\n\n| Object | Before | After | Message |\n|---|---|---|---|\n", rows)
		}
	}
	var stalled []string
	for _, o := range rep.Objects {
		if o.Stalled {
			stalled = append(stalled, fmt.Sprintf("| %s `%s` | %s | %s |\n", o.Kind, o.Name, o.Reason, md(o.Message)))
		}
	}
	if len(stalled) > 0 {
		table(&b, fmt.Sprintf("\n#### Stalled (%d)\n\n| Object | Reason | Message |\n|---|---|---|\n", len(stalled)), stalled)
	}
	var all []string
	for _, o := range rep.Objects {
		all = append(all, fmt.Sprintf("| %s `%s` | %s | %s | %s |\n", o.Kind, o.Name, verdictText(o), o.Reason, md(sourceText(o))))
	}
	table(&b, fmt.Sprintf("\n<details><summary>Every object (%d)</summary>\n\n| Object | Verdict | Reason | Source |\n|---|---|---|---|\n", len(rep.Objects)), all)
	b.WriteString("\n</details>\n")
	text := b.String()
	if len(text) > markdownMaxBytes {
		// Cut at a line, close a folded block left open, and say so.
		text = text[:strings.LastIndexByte(text[:markdownMaxBytes], '\n')+1]
		if strings.Count(text, "<details>") > strings.Count(text, "</details>") {
			text += "\n</details>\n"
		}
		text += "\n… cut to fit a pull-request comment: `manager plan -o json` has everything.\n"
	}
	_, err := io.WriteString(out, text)
	return err
}

// markdownMaxBytes keeps the comment under GitHub's 65,536-character limit with room to spare.
const markdownMaxBytes = 60000
