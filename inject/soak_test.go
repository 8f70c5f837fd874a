package inject

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
)

// soakDuration is how long TestSoak runs: CHAOSGEN_SOAK (e.g. 60s), by
// default 10s.
func soakDuration(t *testing.T) time.Duration {
	if v := os.Getenv("CHAOSGEN_SOAK"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CHAOSGEN_SOAK: %v", err)
		}
		return d
	}
	return 10 * time.Second
}

// soakBusyPoll is the proxy's --busy-poll in the soak test: CHAOSGEN_SOAK_BUSY_POLL,
// default 0 (off).
func soakBusyPoll(t *testing.T) time.Duration {
	v := os.Getenv("CHAOSGEN_SOAK_BUSY_POLL")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("CHAOSGEN_SOAK_BUSY_POLL: %v", err)
	}
	return d
}

// TestSoak runs requests through the proxy at 0% faults while the bundle
// is reloaded every second (alternately by rewriting the files, picked up
// by the poll, and by POST /reload): not one request may fail.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test; CHAOSGEN_SOAK=60s sets its length")
	}
	dur := soakDuration(t)
	body := bytes.Repeat([]byte("x"), 1024)
	up := h2cServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			io.Copy(w, r.Body)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write(body)
	}))
	dir := t.TempDir()
	mk := func(i int) *bundle.Bundle {
		b := bundletest.Bundle(
			profile(fmt.Sprintf("gen-%d-abort", i), "cart", 0, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}),
			profile("drop", "cart", 0, bundle.Fault{Type: bundle.FaultDrop}),
			profile("slow", "cart", 0, bundle.Fault{Type: bundle.FaultLatency, DelayMs: 1000}))
		b.Metadata.Name = fmt.Sprintf("soak-%d", i)
		return b
	}
	path, pub := signed(t, dir, mk(0))
	os.WriteFile(dir+"/token", []byte("tok"), 0o600)
	s := serve(t, Config{Bundle: path, Verify: bundle.VerifyOptions{PublicKey: pub}, Upstream: up.URL, Service: "cart",
		AdminTokenFile: dir + "/token", Records: dir + "/records", Poll: time.Second, BusyPoll: soakBusyPoll(t)})

	const workers = 8
	const maxRequests = 3_000_000
	var total, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}
			if w%4 == 3 {
				c = h2cClient()
				c.Timeout = 10 * time.Second
			}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if total.Add(1) > maxRequests {
					return
				}
				var resp *http.Response
				var err error
				want := body
				if i%3 == 0 {
					payload := fmt.Sprintf("worker %d request %d", w, i)
					want = []byte(payload)
					resp, err = c.Post(s.proxy+"/echo", "text/plain", strings.NewReader(payload))
				} else {
					resp, err = c.Get(s.proxy + "/item")
				}
				if err == nil {
					var got []byte
					got, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil && (resp.StatusCode != 200 || !bytes.Equal(got, want)) {
						err = fmt.Errorf("status %d, %d-byte body", resp.StatusCode, len(got))
					}
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		}(w)
	}
	start := time.Now()
	reloads := 0
	for i := 1; time.Since(start) < dur; i++ {
		time.Sleep(time.Second)
		writeSigned(t, path, mk(i))
		if i%2 == 0 {
			if code, body := adminDo(t, "POST", s.admin+"/reload", "tok", ""); code != 200 {
				t.Errorf("reload %d: %d %s", i, code, body)
			}
		}
		reloads++
	}
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	// The last bundle may have been written by file only: the poll reloads
	// it once its stamps have stayed the same for one tick, i.e. within two
	// ticks (2 s) of the write. Wait for it, up to twice that.
	want := fmt.Sprintf("soak-%d", reloads)
	st := status(t, s.admin)
	for deadline := time.Now().Add(4 * time.Second); st.Bundle.Name != want && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		st = status(t, s.admin)
	}
	n := min(total.Load(), maxRequests)
	t.Logf("soak: %v, %d requests (%.0f/s), %d failed, %d reloads, final bundle %s", elapsed.Round(time.Second), n,
		float64(n)/elapsed.Seconds(), failed.Load(), reloads, st.Bundle.Name)
	if failed.Load() != 0 {
		t.Errorf("%d failed requests; first: %v", failed.Load(), firstErr.Load())
	}
	if st.Bundle.Name != want {
		t.Errorf("running bundle %q, want %q", st.Bundle.Name, want)
	}
	if st.InternalError != 0 {
		t.Errorf("%d internal errors", st.InternalError)
	}
}
