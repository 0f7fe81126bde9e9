package dataverse_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/accessplane/dataverse-access-operator/internal/dataverse"
	"github.com/accessplane/dataverse-access-operator/internal/dataverse/emulator"
)

// BenchmarkClientVsBareHTTP reads one role by id, b.N times through the client and b.N times with a
// bare net/http loop (same server, same http.Client and connections, same URL, headers and JSON
// decoding), in alternating chunks so both see the same machine. It reports requests per second
// of each, the client's extra time per request, and the ratio of the two.
//
//	go test -run '^$' -bench . -benchtime 3s ./internal/dataverse/
func BenchmarkClientVsBareHTTP(b *testing.B) {
	for _, conc := range []int{1, 8} {
		b.Run(map[int]string{1: "serial", 8: "concurrent-8"}[conc], func(b *testing.B) { benchCompare(b, conc) })
	}
}

func benchCompare(b *testing.B, workers int) {
	emu := emulator.New(emulator.Config{StaticTokens: []string{testToken}})
	srv := httptest.NewTLSServer(emu)
	defer srv.Close()
	hc := srv.Client()
	hc.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	opts := dataverse.DefaultOptions()
	// No client-side rate limit in the way: this measures the client's own cost.
	opts.RequestsPerMinute, opts.Burst, opts.MaxConcurrent = 1<<30, 1<<30, 51
	conn, err := dataverse.NewConnector(opts, hc, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	cl, err := conn.Environment(srv.URL+"/env/contoso", staticCred(testToken))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	root, err := cl.RootBusinessUnit(ctx)
	if err != nil {
		b.Fatal(err)
	}
	roleID, err := cl.CreateRole(ctx, "Bench", root.ID, dataverse.InheritanceDirectUserBasicAndTeam)
	if err != nil {
		b.Fatal(err)
	}
	url := srv.URL + "/env/contoso/api/data/v9.2/roles(" + roleID + ")?$select=roleid,name,_businessunitid_value,isinherited,_parentrootroleid_value,ismanaged"

	viaClient := func() error { _, err := cl.GetRole(ctx, roleID); return err }
	bare := func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		req.Header.Set("Accept", "application/json")
		req.Header.Set("OData-MaxVersion", "4.0")
		req.Header.Set("OData-Version", "4.0")
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		var r dataverse.Role
		return json.Unmarshal(data, &r)
	}
	// run does n calls of f over the workers and returns the wall time.
	run := func(n int, f func() error) time.Duration {
		var left atomic.Int64
		left.Store(int64(n))
		var wg sync.WaitGroup
		start := time.Now()
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					if err := f(); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(start)
	}
	run(200, bare) // warm the connections
	run(200, viaClient)

	b.ResetTimer()
	var tBare, tClient time.Duration
	const chunk = 500
	for done := 0; done < b.N; done += chunk {
		n := min(chunk, b.N-done)
		tBare += run(n, bare)
		tClient += run(n, viaClient)
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(n/tClient.Seconds(), "client-req/s")
	b.ReportMetric(n/tBare.Seconds(), "bare-req/s")
	b.ReportMetric(float64((tClient-tBare).Microseconds())/n, "overhead-µs/req")
	b.ReportMetric(tClient.Seconds()/tBare.Seconds(), "client/bare")
	b.ReportMetric(0, "ns/op") // both loops run per op: ns/op would mislead
}
