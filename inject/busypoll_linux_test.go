package inject

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
)

// TestBusyPollProxy runs requests through a proxy that polls, one at a time
// and concurrently, and checks the answers and that the accounting returns
// to rest.
func TestBusyPollProxy(t *testing.T) {
	up := h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "ok %s", r.URL.Path)
	}))
	b := bundletest.Bundle(profile("never", "cart", 0, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 500}))
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0))))
	px, _, bp := proxyWithPoll(t, b, Options{Service: "cart"}, up.URL, 5*time.Millisecond)
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	c := &http.Client{Transport: tr}
	get := func(path string) error {
		resp, err := c.Get(px.URL + path)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != 200 || string(body) != "ok "+path {
			return fmt.Errorf("%s: %d %q", path, resp.StatusCode, body)
		}
		return nil
	}
	for i := range 200 {
		if err := get(fmt.Sprintf("/seq/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	hits, misses, _, _ := bp.Stats()
	t.Logf("sequential: %d polls got data, %d gave up", hits, misses)
	if hits == 0 {
		t.Errorf("200 sequential requests to a local upstream: no poll got data (misses %d)", misses)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if err := get(fmt.Sprintf("/par/%d/%d", g, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	tr.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		hits, misses, inflight, spinning := bp.Stats()
		if inflight == 0 && spinning == 0 {
			t.Logf("polls: %d got data, %d gave up", hits, misses)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("accounting not at rest after the clients left: in flight %d, spinning %d", inflight, spinning)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
