package butree

import "testing"

func TestValidate(t *testing.T) {
	cases := []struct {
		name    string
		tree    Tree
		wantErr string
	}{
		{"EV2 single root", Tree{"root": ""}, ""},
		{"EV2 valid tree", Tree{"root": "", "sales": "root", "emea": "sales"}, ""},
		{"EV2 two roots", Tree{"a": "", "b": ""}, "the business-unit tree needs exactly one root, found 2 (a, b)"},
		{"EV2 unknown parent", Tree{"root": "", "x": "nowhere"}, `business unit "x" names parent "nowhere", which is not listed`},
		{"EV2 cycle", Tree{"root": "", "a": "b", "b": "a"}, "business units form a cycle: a -> b -> a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.tree.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.wantErr {
				t.Fatalf("Validate() = %q, want %q", got, c.wantErr)
			}
		})
	}
}

func TestIsAtOrBelow(t *testing.T) {
	tree := Tree{"root": "", "sales": "root", "emea": "sales", "it": "root"}
	cases := []struct {
		unit, ancestor string
		want           bool
	}{
		{"emea", "root", true}, {"emea", "sales", true}, {"emea", "emea", true},
		{"sales", "emea", false}, {"it", "sales", false}, {"unknown", "root", false},
	}
	for _, c := range cases {
		if got := tree.IsAtOrBelow(c.unit, c.ancestor); got != c.want {
			t.Errorf("SR5 IsAtOrBelow(%q, %q) = %v, want %v", c.unit, c.ancestor, got, c.want)
		}
	}
	cyclic := Tree{"a": "b", "b": "a"}
	if cyclic.IsAtOrBelow("a", "root") {
		t.Error("IsAtOrBelow on a cycle must terminate and answer false")
	}
}

func TestRoot(t *testing.T) {
	cases := []struct {
		name string
		tree Tree
		want string
	}{
		{"EV2 one root", Tree{"contoso": "", "sales": "contoso"}, "contoso"},
		{"EV2 several roots (invalid): the first by name, whatever the map order", Tree{"zeta": "", "alpha": "", "sales": "zeta"}, "alpha"},
		{"EV2 no root", Tree{"a": "b", "b": "a"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.tree.Root(); got != c.want {
				t.Errorf("Root() = %q, want %q", got, c.want)
			}
		})
	}
}
