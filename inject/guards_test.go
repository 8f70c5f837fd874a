package inject

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
	"github.com/chaosgen/chaosgen/ingest"
)

func TestPerSecondCap(t *testing.T) {
	clk := newClock()
	b := bundletest.Bundle(bundle.Profile{ID: "capped", Target: bundle.Target{Callee: "cart"}, Rate: 1, PerSecond: 5,
		Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}})
	inj, err := New(b, Options{Service: "cart", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	h := inj.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	count := func(n int) (faults int) {
		for i := 0; i < n; i++ {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
			if rec.Code == 503 {
				faults++
			}
		}
		return faults
	}
	if got := count(100); got != 5 {
		t.Errorf("first second: %d faults, want the burst of 5", got)
	}
	clk.Advance(time.Second)
	if got := count(100); got != 5 {
		t.Errorf("next second: %d faults, want 5", got)
	}
	clk.Advance(200 * time.Millisecond)
	if got := count(100); got != 1 {
		t.Errorf("after 200ms: %d faults, want 1", got)
	}
	if st := inj.Status().Profiles[0]; st.Injected != 11 || st.Suppressed != 289 || st.Fired != 300 {
		t.Errorf("counts %+v", st)
	}
}

func TestMaxGlobalRate(t *testing.T) {
	clk := newClock()
	b := bundletest.Bundle(profile("all", "cart", 1, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}))
	b.Guards.MaxGlobalRate = 0.1
	inj, _ := New(b, Options{Service: "cart", Now: clk.Now})
	h := inj.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	faults := 0
	for i := 0; i < 1000; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
		if rec.Code == 503 {
			faults++
		}
	}
	if faults != 100 {
		t.Errorf("%d of 1000 requests faulted under maxGlobalRate 0.1, want 100", faults)
	}
}

func TestMaxActiveFaults(t *testing.T) {
	b := bundletest.Bundle(profile("slow", "cart", 1, bundle.Fault{Type: bundle.FaultLatency, DelayMs: 300}))
	b.Guards.MaxActiveFaults = 2
	inj, _ := New(b, Options{Service: "cart", Now: time.Now})
	h := inj.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	var wg sync.WaitGroup
	var mu sync.Mutex
	faulted := 0
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
			if rec.Header().Get(HeaderFault) != "" {
				mu.Lock()
				faulted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if faulted != 2 {
		t.Errorf("%d concurrent faults, want maxActiveFaults 2", faulted)
	}
	if inj.guard.Active() != 0 {
		t.Errorf("active %d after all finished", inj.guard.Active())
	}
}

func TestAbortIfTripsBreaker(t *testing.T) {
	for _, tc := range []struct {
		name    string
		abortIf bundle.AbortIf
		path    string
		guard   string
	}{
		{"error rate", bundle.AbortIf{RootErrorRate: 0.2}, "/fail", "root error rate"},
		{"p99", bundle.AbortIf{RootP99Ms: 20}, "/slow", "root p99 latency"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			b := bundletest.Bundle(profile("lat", "cart", 1, bundle.Fault{Type: bundle.FaultLatency, DelayMs: 0.001}))
			b.Guards.AbortIf = tc.abortIf
			var logs bytes.Buffer
			inj, _ := New(b, Options{Service: "cart", Now: clk.Now, Logger: newTextLogger(&logs)})
			h := inj.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/fail":
					w.WriteHeader(500)
				case "/slow":
					clk.Advance(50 * time.Millisecond) // the fake clock sees a slow call
				}
			}))
			serve := func(path string) *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
				return rec
			}
			for i := 0; i < 30; i++ {
				serve("/ok")
			}
			inj.CheckGuards()
			if inj.guard.Tripped() != nil {
				t.Fatal("tripped on healthy traffic")
			}
			for i := 0; i < 10; i++ {
				serve(tc.path)
			}
			inj.CheckGuards()
			st := inj.Status()
			if !st.Guards.Tripped || !strings.Contains(st.Guards.TripReason, tc.guard) || st.Injecting {
				t.Fatalf("guards %+v", st.Guards)
			}
			if !strings.Contains(logs.String(), "guard tripped") {
				t.Errorf("no log line: %s", logs.String())
			}
			if rec := serve("/ok"); rec.Header().Get(HeaderFault) != "" {
				t.Error("injected with the breaker open")
			}
			inj.Resume()
			if rec := serve("/ok"); rec.Header().Get(HeaderFault) != "lat" {
				t.Error("not injecting after resume")
			}
		})
	}
}

// A panic in fault code passes the request through unchanged and is counted.
func TestFailOpen(t *testing.T) {
	up := okUpstream(t)
	b := bundletest.Bundle(
		bundle.Profile{ID: "abort", Target: bundle.Target{Callee: "cart", Operation: "/a"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}},
		bundle.Profile{ID: "corrupt", Target: bundle.Target{Callee: "cart", Operation: "/c"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultCorrupt, Mode: "truncate"}},
	)
	px, inj := proxyFor(t, b, Options{Service: "cart"}, up.URL)
	hook := func(p *bundle.Profile) { panic("fault code bug in " + p.ID) }
	faultHook.Store(&hook)
	defer faultHook.Store(nil)
	direct, _ := http.Get(up.URL + "/a")
	want, _ := io.ReadAll(direct.Body)
	direct.Body.Close()
	for _, path := range []string{"/a", "/c"} {
		resp, err := http.Get(px.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Equal(body, want) || resp.Header.Get(HeaderFault) != "" {
			t.Errorf("%s: status %d, body %q, fault header %q", path, resp.StatusCode, body, resp.Header.Get(HeaderFault))
		}
	}
	if n := inj.internalErrors.Load(); n != 2 {
		t.Errorf("internal errors %d, want 2", n)
	}
}

func TestHandlerAndTransport(t *testing.T) {
	b := bundletest.Bundle(
		bundle.Profile{ID: "srv-abort", Target: bundle.Target{Callee: "cart", Caller: "frontend"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}},
		bundle.Profile{ID: "cli-drop", Target: bundle.Target{Callee: "127.0.0.1", Operation: "/drop"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultDrop}},
		bundle.Profile{ID: "cli-abort", Target: bundle.Target{Callee: "127.0.0.1", Operation: "/abort"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultAbort, GRPCStatus: 14}},
		bundle.Profile{ID: "cli-corrupt", Target: bundle.Target{Callee: "127.0.0.1", Operation: "/corrupt"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultCorrupt, Mode: "empty"}},
		bundle.Profile{ID: "cli-slow", Target: bundle.Target{Callee: "127.0.0.1", Operation: "/slow"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultLatency, DelayMs: 50}},
	)
	srv := httptest.NewServer(Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}), b, Options{Service: "cart", Now: time.Now}))
	defer srv.Close()
	// Handler: the caller comes from the header
	req, _ := http.NewRequest("GET", srv.URL+"/x", nil)
	req.Header.Set(HeaderCaller, "frontend")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get(HeaderFault) != "srv-abort" {
		t.Errorf("Handler: %d %q", resp.StatusCode, resp.Header.Get(HeaderFault))
	}
	if got := getStatus(t, srv.URL+"/x"); got != 200 {
		t.Errorf("Handler, other caller: %d", got)
	}

	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"a":1}`)
	}))
	defer plain.Close()
	c := &http.Client{Transport: Transport(nil, b, Options{Service: "frontend", Now: time.Now})}
	if _, err := c.Get(plain.URL + "/drop"); !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("Transport drop: %v", err)
	}
	resp, err = c.Get(plain.URL + "/abort")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get(HeaderFault) != "cli-abort" {
		t.Errorf("Transport abort: %d %v", resp.StatusCode, resp.Header)
	}
	resp, err = c.Get(plain.URL + "/corrupt")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if len(body) != 0 || resp.ContentLength != 0 || resp.Header.Get("Content-Length") != "0" {
		t.Errorf("Transport corrupt: %q, length %d", body, resp.ContentLength)
	}
	start := time.Now()
	resp, err = c.Get(plain.URL + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if time.Since(start) < 50*time.Millisecond || string(body) != `{"a":1}` {
		t.Errorf("Transport latency: %v, %q", time.Since(start), body)
	}
	resp, err = c.Get(plain.URL + "/other")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get(HeaderFault) != "" {
		t.Errorf("Transport pass-through: %d %v", resp.StatusCode, resp.Header)
	}
}

// A recorder killed with SIGKILL leaves only complete files: every
// .parquet in the directory reads back, and the next recorder removes the
// temporary leftovers.
func TestRecordsSurviveKill(t *testing.T) {
	if dir := os.Getenv("CHAOSGEN_RECORDER_CHILD"); dir != "" {
		rec, err := NewRecorder(RecorderOptions{Dir: dir, Now: time.Now, MaxFileBytes: 20000})
		if err != nil {
			os.Exit(2)
		}
		for i := 0; ; i++ {
			rec.Record(&ingest.Span{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Callee: "cart", Operation: "GET /x", DurationNano: int64(i)})
			if i%100 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecordsSurviveKill$")
	cmd.Env = append(os.Environ(), "CHAOSGEN_RECORDER_CHILD="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
		tmp, _ := filepath.Glob(filepath.Join(dir, ".*"))
		if len(files) >= 2 && len(tmp) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	files, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if len(files) < 2 {
		t.Fatalf("%d files before the kill", len(files))
	}
	for _, f := range files {
		if _, err := ingest.ReadFile(f); err != nil {
			t.Errorf("torn file after kill -9: %v", err)
		}
	}
	rec, err := NewRecorder(RecorderOptions{Dir: dir, Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	rec.Close()
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*")); len(tmp) != 0 {
		t.Errorf("temporary files left after restart: %v", tmp)
	}
}
