package export

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	v1alpha1 "github.com/accessplane/dataverse-access-operator/api/v1alpha1"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
	"github.com/accessplane/dataverse-access-operator/internal/graph"
	"github.com/accessplane/dataverse-access-operator/internal/webapi/webapitest"
)

// onEmulator serves seed and people Dataverse users (person%04d) from an in-process emulator and
// returns the clients manager export would use, its limits lifted.
func onEmulator(t *testing.T, seed emulator.DirectorySeed, people int) (*emulator.Emulator, *dataverse.Client, *graph.Client) {
	t.Helper()
	emu := emulator.New(emulator.Config{StaticTokens: []string{"emu-token"}, Directory: &seed})
	srv := httptest.NewTLSServer(emu)
	t.Cleanup(srv.Close)
	for i := range people {
		if _, err := emu.AddUnmanagedUser("contoso", map[string]any{"domainname": fmt.Sprintf("person%04d@contoso.com", i),
			"fullname": fmt.Sprintf("Person %04d", i), "azureactivedirectoryobjectid": fmt.Sprintf("e0a1b2c3-0000-4000-8000-%012d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	emu.ClearRequests()

	dvOpts := dataverse.DefaultOptions()
	dvOpts.RequestsPerMinute, dvOpts.Burst = 100000, 1000
	dvOpts.PageSize = PageSize // as manager export sets it
	conn, err := dataverse.NewConnector(dvOpts, srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	dv, err := conn.Environment(srv.URL+"/env/contoso", &webapitest.Cred{Token: "emu-token"})
	if err != nil {
		t.Fatal(err)
	}
	gOpts := graph.DefaultOptions()
	gOpts.URL, gOpts.RequestsPerMinute, gOpts.Burst = srv.URL+"/graph/v1.0", 100000, 1000
	gconn, err := graph.NewConnector(gOpts, srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gconn.Tenant("contoso.example", &webapitest.Cred{Token: "emu-token"})
	if err != nil {
		t.Fatal(err)
	}
	return emu, dv, g
}

// TestReadFiveThousandPeopleInBoundedRequests reads an environment of 5,000 people through the
// real clients against the emulator (Dataverse and Graph over HTTPS) and counts what it cost:
// pages, not objects — a read per table and page in Dataverse, a $batch per 20 people in Graph.
func TestReadFiveThousandPeopleInBoundedRequests(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 people")
	}
	const people = 5000
	seed := emulator.DirectorySeed{SubscribedSkus: []emulator.SubscribedSku{{SkuPartNumber: "DYN365_ENTERPRISE_PLAN1", PrepaidUnits: emulator.PrepaidUnits{Enabled: people}}}}
	sg := emulator.DirectoryGroup{ID: "5b0c4f7e-1d2a-4c3b-9e8f-0a1b2c3d4e5f", DisplayName: "contoso-users"}
	for i := range people {
		id := fmt.Sprintf("e0a1b2c3-0000-4000-8000-%012d", i)
		seed.Users = append(seed.Users, emulator.DirectoryUser{ID: id, UserPrincipalName: fmt.Sprintf("person%04d@contoso.com", i),
			AssignedLicenses: []emulator.AssignedLicense{{SkuPartNumber: "DYN365_ENTERPRISE_PLAN1"}}})
		if i%2 == 0 {
			sg.Members = append(sg.Members, id)
		}
	}
	seed.Groups = []emulator.DirectoryGroup{sg}
	emu, dv, g := onEmulator(t, seed, people)
	src, err := Read(context.Background(), dv, g, ReadOptions{URL: dv.URL(), SecurityGroup: "contoso-users"})
	if err != nil {
		t.Fatal(err)
	}
	objs, _, err := Build(src, Options{Namespace: "contoso", Name: "contoso"})
	if err != nil {
		t.Fatal(err)
	}
	if len(objs.PlatformUsers) != people {
		t.Fatalf("exported %d people, want %d", len(objs.PlatformUsers), people)
	}
	inGroup, licensed := 0, 0
	for _, u := range objs.PlatformUsers {
		if len(u.Spec.SecurityGroups) == 1 && u.Spec.SecurityGroups[0] == sg.ID {
			inGroup++
		}
		if u.Spec.License == "DYN365_ENTERPRISE_PLAN1" && u.Spec.AccessMode == v1alpha1.AccessModeReadWrite {
			licensed++
		}
	}
	if inGroup != people/2 || licensed != people {
		t.Errorf("%d in the security group (want %d), %d licensed (want %d)", inGroup, people/2, licensed, people)
	}

	var dvN, graphTop, graphBatched int
	for _, r := range emu.Requests() {
		switch {
		case strings.HasPrefix(r.Path, "/graph/") && r.BatchID != "":
			graphBatched++
		case strings.HasPrefix(r.Path, "/graph/"):
			graphTop++
		default:
			dvN++
		}
	}
	// Dataverse: WhoAmI and ten tables, systemusers in two pages of 5,000; Graph: subscribedSkus,
	// the group resolved by name, its members in pages of 999, and ⌈5,000/20⌉ $batches.
	wantDV := 1 + 10 + 1
	wantGraph := 1 + 1 + (people/2+998)/999 + people/20
	t.Logf("5,000 people exported in %d Dataverse requests and %d Graph requests (%d people read inside $batches); one by one it would be >= %d",
		dvN, graphTop, graphBatched, 2*people)
	if dvN > wantDV || graphTop > wantGraph {
		t.Errorf("requests: Dataverse %d (bound %d), Graph %d (bound %d)", dvN, wantDV, graphTop, wantGraph)
	}
	if graphBatched != people {
		t.Errorf("%d people read in $batches, want %d", graphBatched, people)
	}
}

// TestReadFailsWholeAndSaysWhat: a table Dataverse will not serve (here 503s past the client's
// retries) fails the read with the table named, and nothing is built from half an environment.
func TestReadFailsWholeAndSaysWhat(t *testing.T) {
	emu, dv, g := onEmulator(t, emulator.DirectorySeed{}, 3)
	emu.AddFault(emulator.Fault{Method: "GET", PathContains: "teammemberships", Status: 503, Count: 100})
	_, err := Read(context.Background(), dv, g, ReadOptions{URL: "https://contoso.example"})
	if err == nil || !strings.Contains(err.Error(), "team members") {
		t.Fatalf("Read = %v, want an error naming the team members", err)
	}
	retried := 0
	for _, r := range emu.Requests() {
		if strings.Contains(r.Path, "teammemberships") {
			retried++
		}
	}
	if retried < 2 {
		t.Errorf("a 503 on a read is retried: %d attempts", retried)
	}
}
