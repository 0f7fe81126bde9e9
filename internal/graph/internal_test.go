package graph

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/accessplane/dataverse-access-operator/internal/webapi/webapitest"
)

// TestDeleteRefOnly: the client's one DELETE refuses, before sending anything, a URL that is not
// a reference: DELETE /groups/{id}/members/{userId} would delete the user.
func TestDeleteRefOnly(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Errorf("sent %s %s", r.Method, r.URL) }))
	defer srv.Close()
	opts := DefaultOptions()
	opts.URL = srv.URL + "/v1.0"
	conn, err := NewConnector(opts, srv.Client(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := conn.Tenant("contoso.onmicrosoft.com", &webapitest.Cred{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	const g, u = "0e226165-c685-41ce-8bfc-df8360ab325d", "87d349ed-44d7-43e1-9a83-5f2406dee5bd"
	err = cl.deleteRef(context.Background(), "RemoveMember", cl.base+"/groups/"+g+"/members/"+u)
	if err == nil || !strings.Contains(err.Error(), "references (/$ref) only") {
		t.Fatalf("got %v", err)
	}
	if got, want := cl.memberRef(g, u), srv.URL+"/v1.0/groups/"+g+"/members/"+u+"/$ref"; got != want {
		t.Fatalf("memberRef %s, want %s", got, want)
	}
}
