package plan

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Equal inputs give equal output, byte for byte, in every format: a pull-request comment that
// changes when nothing changed would be noise.
func TestOutputIsStable(t *testing.T) {
	f := baseFixture
	f.teamRoles = "reader, editor"
	f.services = 9
	head, base := f.write(t), baseFixture.write(t)
	for _, format := range []string{OutputText, OutputJSON, OutputMarkdown} {
		var first, second bytes.Buffer
		if err := Write(&first, planDirs(t, head, base), format); err != nil {
			t.Fatal(err)
		}
		if err := Write(&second, planDirs(t, head, base), format); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(first.String(), second.String()); d != "" {
			t.Errorf("%s output differs between two runs:\n%s", format, d)
		}
	}
}

// The markdown fits a pull-request comment whatever the size of the change.
func TestMarkdownFitsAComment(t *testing.T) {
	rep := &Report{Diff: &Diff{}}
	for i := 0; i < 3000; i++ {
		msg := strings.Repeat("a long message that says what to change ", 8)
		rep.Objects = append(rep.Objects, ObjectResult{Kind: "PlatformUser", Name: fmt.Sprintf("user-%04d", i), Ready: "False", Reason: "SeatsExhausted", Message: msg, Stalled: true})
		rep.Diff.Ready = append(rep.Diff.Ready, ReadyChange{Kind: "PlatformUser", Name: fmt.Sprintf("user-%04d", i), From: "absent", To: "SeatsExhausted, Stalled", Message: msg})
		rep.Refused = append(rep.Refused, Refusal{Kind: "PlatformUser", Name: fmt.Sprintf("user-%04d", i), Field: "spec.license", Message: msg})
	}
	var out bytes.Buffer
	if err := Write(&out, rep, OutputMarkdown); err != nil {
		t.Fatal(err)
	}
	if out.Len() > 65536 {
		t.Errorf("the markdown is %d bytes: GitHub refuses comments over 65,536 characters", out.Len())
	}
	if !strings.Contains(out.String(), "`manager plan -o json`") {
		t.Error("the markdown does not say where the rest is")
	}
}
