package main

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/accessplane/dataverse-access-operator/controllers"
)

func TestParseWatchNamespaces(t *testing.T) {
	cases := []struct {
		name    string
		value   string
		want    []string
		wantErr string // a part of the error; empty: no error
	}{
		{name: "empty: every namespace", value: "", want: nil},
		{name: "blank: every namespace", value: "  ", want: nil},
		{name: "one", value: "contoso", want: []string{"contoso"}},
		{name: "several, sorted", value: "fabrikam,contoso,adatum", want: []string{"adatum", "contoso", "fabrikam"}},
		{name: "blanks around names", value: " contoso , fabrikam ", want: []string{"contoso", "fabrikam"}},
		{name: "duplicates removed", value: "contoso,fabrikam,contoso", want: []string{"contoso", "fabrikam"}},
		{name: "digits and dashes", value: "team-1,2024", want: []string{"2024", "team-1"}},
		{name: "63 characters", value: strings.Repeat("a", 63), want: []string{strings.Repeat("a", 63)}},
		{name: "64 characters", value: strings.Repeat("a", 64), wantErr: "is not a namespace name"},
		{name: "upper case", value: "contoso,Fabrikam", wantErr: `"Fabrikam" is not a namespace name`},
		{name: "a dot (a subdomain, not a label)", value: "contoso.sales", wantErr: `"contoso.sales" is not a namespace name`},
		{name: "underscore", value: "contoso_sales", wantErr: "is not a namespace name"},
		{name: "leading dash", value: "-contoso", wantErr: "is not a namespace name"},
		{name: "an empty name between commas", value: "contoso,,fabrikam", wantErr: "name 2 is empty"},
		{name: "a trailing comma", value: "contoso,", wantErr: "name 2 is empty"},
		{name: "only a comma", value: ",", wantErr: "name 1 is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseWatchNamespaces(c.value)
			if c.wantErr != "" {
				if err == nil {
					t.Fatalf("parseWatchNamespaces(%q) = %v, want an error with %q", c.value, got, c.wantErr)
				}
				if !strings.Contains(err.Error(), c.wantErr) || !strings.HasPrefix(err.Error(), "--watch-namespaces=") {
					t.Fatalf("error %q: want it to name the flag and contain %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseWatchNamespaces(%q): %v", c.value, err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("parseWatchNamespaces(%q) = %#v, want %#v", c.value, got, c.want)
			}
		})
	}
}

func TestLeaderElectionID(t *testing.T) {
	id := func(flagValue, namespaces string) string {
		t.Helper()
		ns, err := parseWatchNamespaces(namespaces)
		if err != nil {
			t.Fatal(err)
		}
		got, err := leaderElectionID(flagValue, ns)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := id("", ""); got != defaultLeaderElectionID {
		t.Errorf("every namespace: %q, want the lease of unsharded releases %q", got, defaultLeaderElectionID)
	}
	shard := id("", "contoso,fabrikam")
	for _, same := range []string{"fabrikam,contoso", " contoso , fabrikam ", "contoso,fabrikam,contoso"} {
		if got := id("", same); got != shard {
			t.Errorf("%q: %q, want the lease of the same set %q", same, got, shard)
		}
	}
	if shard == defaultLeaderElectionID {
		t.Errorf("a shard shares the unsharded lease")
	}
	distinct := map[string]string{shard: "contoso,fabrikam"}
	for _, other := range []string{"contoso", "fabrikam", "contoso,fabrikam,adatum", "shard-a", "shard-b"} {
		got := id("", other)
		if prev, ok := distinct[got]; ok {
			t.Errorf("%q and %q share the lease %q", other, prev, got)
		}
		distinct[got] = other
	}
	for got := range distinct {
		if len(got) > 253 || !strings.HasSuffix(got, ".access.accessplane.io") {
			t.Errorf("lease name %q", got)
		}
	}
	var many []string
	for i := 0; i < 500; i++ {
		many = append(many, fmt.Sprintf("team-%03d", i))
	}
	if got := id("", strings.Join(many, ",")); len(got) > 253 {
		t.Errorf("500 namespaces: lease name of %d characters", len(got))
	}
	if got := id("shard-east", "contoso"); got != "shard-east" {
		t.Errorf("--leader-election-id: %q, want it as given", got)
	}
	if _, err := leaderElectionID("Shard_East", nil); err == nil || !strings.HasPrefix(err.Error(), "--leader-election-id=") {
		t.Errorf("an invalid --leader-election-id: %v, want an error naming the flag", err)
	}
}

func TestWatchNamespacesCache(t *testing.T) {
	base := controllers.CacheOptions()
	if got := watchNamespacesCache(base, nil); got.DefaultNamespaces != nil || got.DefaultTransform == nil {
		t.Errorf("every namespace: DefaultNamespaces %v, transform kept %v", got.DefaultNamespaces, got.DefaultTransform != nil)
	}
	got := watchNamespacesCache(base, []string{"shard-a", "shard-b"})
	if got.DefaultTransform == nil {
		t.Errorf("the managed-fields transform of controllers.CacheOptions was dropped")
	}
	if want := map[string]cache.Config{"shard-a": {}, "shard-b": {}}; !reflect.DeepEqual(got.DefaultNamespaces, want) {
		t.Errorf("DefaultNamespaces %v, want %v", got.DefaultNamespaces, want)
	}
	if base.DefaultNamespaces != nil {
		t.Errorf("the base options were changed")
	}
}
