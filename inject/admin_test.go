package inject

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/bundle/bundletest"
	"github.com/chaosgen/chaosgen/ingest"
)

// served is a running Serve with its addresses.
type served struct {
	proxy, admin string
	cancel       func()
	done         chan error
	hup          chan os.Signal
}

func serve(t *testing.T, c Config) *served {
	t.Helper()
	ready := make(chan [2]string, 1)
	c.Ready = func(p, a string) { ready <- [2]string{p, a} }
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	if c.Admin == "" {
		c.Admin = "127.0.0.1:0"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Poll == 0 {
		c.Poll = 50 * time.Millisecond
	}
	s := &served{done: make(chan error, 1), hup: make(chan os.Signal, 1)}
	c.Hangup = s.hup
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- Serve(ctx, c) }()
	select {
	case a := <-ready:
		s.proxy, s.admin = "http://"+a[0], "http://"+a[1]
	case err := <-s.done:
		cancel()
		t.Fatalf("Serve: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-s.done; err != nil {
			t.Errorf("Serve returned %v", err)
		}
	})
	return s
}

func adminDo(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func status(t *testing.T, admin string) Status {
	t.Helper()
	code, body := adminDo(t, "GET", admin+"/status", "", "")
	if code != 200 {
		t.Fatalf("GET /status: %d %s", code, body)
	}
	var st Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestServeRefusesBadBundles(t *testing.T) {
	up := okUpstream(t)
	dir := t.TempDir()
	path, pub := signed(t, dir, bundletest.Bundle(profile("a", "cart", 1, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503})))
	base := Config{Bundle: path, Verify: bundle.VerifyOptions{PublicKey: pub}, Listen: "127.0.0.1:0", Upstream: up.URL, Service: "cart", Now: time.Now}

	data, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(data, []byte(`"rate": 1`), []byte(`"rate": 0.5`), 1), 0o644)
	err := Serve(context.Background(), base)
	if !errors.Is(err, bundle.ErrBadSignature) || !errors.Is(err, bundle.ErrInvalid) {
		t.Errorf("tampered bundle: %v", err)
	}

	writeSigned(t, path, bundletest.Bundle())
	expired := base
	expired.Now = func() time.Time { return time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC) }
	err = Serve(context.Background(), expired)
	if !errors.Is(err, bundle.ErrExpired) || !errors.Is(err, bundle.ErrInvalid) {
		t.Errorf("expired bundle: %v", err)
	}
	if err != nil && !strings.Contains(err.Error(), "refusing to start") {
		t.Errorf("no reason in %q", err)
	}
}

func TestAdminAPI(t *testing.T) {
	up := okUpstream(t)
	dir := t.TempDir()
	abort := profile("cart-abort", "cart", 1, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503})
	abort.Target.Operation = "GET /cart"
	path, pub := signed(t, dir, bundletest.Bundle(abort))
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600)
	s := serve(t, Config{Bundle: path, Verify: bundle.VerifyOptions{PublicKey: pub}, Upstream: up.URL, Service: "cart",
		AdminTokenFile: tokenFile, Records: filepath.Join(dir, "records"), BusyPoll: 50 * time.Microsecond})

	st := status(t, s.admin)
	if st.Bundle.Signer != "ci@test" || !strings.HasPrefix(st.Bundle.Digest, "sha256:") || len(st.Profiles) != 1 || st.Killed || !st.Injecting {
		t.Fatalf("status: %+v", st)
	}
	oldDigest := st.Bundle.Digest

	// mutations need the token
	for _, tok := range []string{"", "wrong"} {
		for _, p := range []string{"/kill", "/resume", "/reload", "/scenarios"} {
			if code, _ := adminDo(t, "POST", s.admin+p, tok, "{}"); code != 401 {
				t.Errorf("POST %s with token %q: %d, want 401", p, tok, code)
			}
		}
	}
	if got := getStatus(t, s.proxy+"/cart"); got != 503 {
		t.Fatalf("before kill: %d", got)
	}

	// the kill switch stops injection from the next request on
	if code, body := adminDo(t, "POST", s.admin+"/kill", "s3cret", ""); code != 200 {
		t.Fatalf("kill: %d %s", code, body)
	}
	if got := getStatus(t, s.proxy+"/cart"); got != 200 {
		t.Errorf("after kill: %d, want 200", got)
	}
	if st := status(t, s.admin); !st.Killed || st.Injecting {
		t.Errorf("status after kill: killed=%v injecting=%v", st.Killed, st.Injecting)
	}
	adminDo(t, "POST", s.admin+"/resume", "s3cret", "")
	if got := getStatus(t, s.proxy+"/cart"); got != 503 {
		t.Errorf("after resume: %d, want 503", got)
	}

	// a tampered bundle is rejected on reload and the old one keeps running
	data, _ := os.ReadFile(path)
	os.WriteFile(path, bytes.Replace(data, []byte(`"httpStatus": 503`), []byte(`"httpStatus": 500`), 1), 0o644)
	code, body := adminDo(t, "POST", s.admin+"/reload", "s3cret", "")
	if code != 422 || !strings.Contains(body, "does not match the bundle") {
		t.Errorf("reload of a tampered bundle: %d %s", code, body)
	}
	if got := getStatus(t, s.proxy+"/cart"); got != 503 {
		t.Errorf("after a rejected reload: %d, want the old bundle's 503", got)
	}
	if st := status(t, s.admin); st.Bundle.Digest != oldDigest {
		t.Errorf("digest changed to %s after a rejected reload", st.Bundle.Digest)
	}

	// a good bundle written in place is picked up by the file poll
	abort.Fault.HTTPStatus = 502
	writeSigned(t, path, bundletest.Bundle(abort))
	deadline := time.Now().Add(5 * time.Second)
	for getStatus(t, s.proxy+"/cart") != 502 {
		if time.Now().After(deadline) {
			t.Fatal("the changed bundle was not loaded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// and SIGHUP reloads too
	abort.Fault.HTTPStatus = 504
	writeSigned(t, path, bundletest.Bundle(abort))
	s.hup <- os.Interrupt
	deadline = time.Now().Add(5 * time.Second)
	for getStatus(t, s.proxy+"/cart") != 504 {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// scenarios
	sc := `{"profile": {"id": "cart-slow", "target": {"callee": "cart", "operation": "GET /slow"}, "fault": {"type": "latency", "delayMs": 1}, "rate": 1}, "duration": "5m"}`
	if code, body := adminDo(t, "POST", s.admin+"/scenarios", "s3cret", sc); code != 201 {
		t.Fatalf("POST /scenarios: %d %s", code, body)
	}
	if code, body := adminDo(t, "POST", s.admin+"/scenarios", "s3cret", `{"profile": {"id": "BAD ID", "target": {"callee": "cart"}, "fault": {"type": "drop"}, "rate": 2}, "duration": "5m"}`); code != 400 || !strings.Contains(body, "rate") {
		t.Errorf("invalid scenario: %d %s", code, body)
	}
	code, body = adminDo(t, "GET", s.admin+"/scenarios", "", "")
	if code != 200 || !strings.Contains(body, "cart-slow") {
		t.Errorf("GET /scenarios: %d %s", code, body)
	}
	resp, err := http.Get(s.proxy + "/slow")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get(HeaderFault) != "cart-slow" {
		t.Errorf("scenario not applied: %v", resp.Header)
	}

	// metrics
	code, body = adminDo(t, "GET", s.admin+"/metrics", "", "")
	for _, want := range []string{"chaosgen_inject_requests_total", `chaosgen_inject_injections_total{profile="cart-abort",type="abort"}`,
		"chaosgen_inject_active_faults", "chaosgen_inject_decision_seconds_bucket", "chaosgen_inject_guard_trips_total",
		`chaosgen_inject_busy_polls_total{result="data"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// the tampered bundle was rejected; a file poll that saw a bundle
	// before its new .sig was written (writeSigned writes one, then the
	// other) was rejected too, and the next poll loaded it
	if !regexp.MustCompile(`(?m)^chaosgen_inject_bundle_reloads_total\{result="rejected"\} [1-9][0-9]*$`).MatchString(body) {
		t.Errorf("/metrics counts no rejected reload:\n%s", body)
	}
	_ = code
}

func TestAdminWithoutTokenRefusesMutations(t *testing.T) {
	inj, err := New(bundletest.Bundle(), Options{Service: "cart", Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	h := inj.AdminHandler("")
	for _, p := range []string{"/kill", "/resume", "/reload", "/scenarios"} {
		rec := newRecorderResponse()
		h.ServeHTTP(rec, mustRequest("POST", p, "anything"))
		if rec.code != 403 {
			t.Errorf("POST %s without a configured token: %d, want 403", p, rec.code)
		}
	}
	if inj.killed.Load() {
		t.Error("an unauthenticated kill went through")
	}
	rec := newRecorderResponse()
	h.ServeHTTP(rec, mustRequest("GET", "/status", ""))
	if rec.code != 200 {
		t.Errorf("GET /status: %d", rec.code)
	}
}

type recorderResponse struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func newRecorderResponse() *recorderResponse    { return &recorderResponse{h: http.Header{}} }
func (r *recorderResponse) Header() http.Header { return r.h }
func (r *recorderResponse) WriteHeader(c int) {
	if r.code == 0 {
		r.code = c
	}
}
func (r *recorderResponse) Write(p []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return r.body.Write(p)
}

func mustRequest(method, path, token string) *http.Request {
	req, _ := http.NewRequest(method, "http://admin"+path, strings.NewReader("{}"))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

// A scenario applies until its duration has passed on the injector's
// clock, then disappears by itself.
func TestScenarioExpires(t *testing.T) {
	up := okUpstream(t)
	clk := newClock()
	px, inj := proxyFor(t, bundletest.Bundle(), Options{Service: "cart", Now: clk.Now}, up.URL)
	p := bundle.Profile{ID: "edge-slow", Target: bundle.Target{Callee: "cart"}, Rate: 1, Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}}
	sc, err := inj.AddScenario(p, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if !sc.Expires.Equal(clk.Now().Add(5 * time.Minute)) {
		t.Errorf("expires %v", sc.Expires)
	}
	if got := getStatus(t, px.URL+"/x"); got != 503 {
		t.Errorf("during the scenario: %d", got)
	}
	clk.Advance(5*time.Minute - time.Second)
	if got := getStatus(t, px.URL+"/x"); got != 503 {
		t.Errorf("a second before expiry: %d", got)
	}
	clk.Advance(time.Second)
	if got := getStatus(t, px.URL+"/x"); got != 200 {
		t.Errorf("at expiry: %d, want 200", got)
	}
	if n := len(inj.Scenarios()); n != 0 {
		t.Errorf("%d scenarios listed after expiry", n)
	}
}

func TestBundleExpiresAtRuntime(t *testing.T) {
	up := okUpstream(t)
	clk := newClock()
	b := bundletest.Bundle(profile("a", "cart", 1, bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}))
	b.Metadata.NotAfter = clk.Now().Add(time.Hour)
	px, inj := proxyFor(t, b, Options{Service: "cart", Now: clk.Now}, up.URL)
	if got := getStatus(t, px.URL+"/x"); got != 503 {
		t.Fatalf("before notAfter: %d", got)
	}
	clk.Advance(time.Hour + time.Second)
	if got := getStatus(t, px.URL+"/x"); got != 200 {
		t.Errorf("after notAfter: %d, want 200", got)
	}
	if st := inj.Status(); !st.Bundle.Expired || st.Injecting {
		t.Errorf("status: expired=%v injecting=%v", st.Bundle.Expired, st.Injecting)
	}
}

func TestRecords(t *testing.T) {
	up := okUpstream(t)
	dir := t.TempDir()
	clk := newClock()
	rec, err := NewRecorder(RecorderOptions{Dir: dir, Now: clk.Now, MaxFileBytes: 2000})
	if err != nil {
		t.Fatal(err)
	}
	b := bundletest.Bundle(bundle.Profile{ID: "cart-abort", Target: bundle.Target{Callee: "cart", Operation: "POST /checkout"}, Rate: 1,
		Fault: bundle.Fault{Type: bundle.FaultAbort, HTTPStatus: 503}})
	px, _ := proxyFor(t, b, Options{Service: "cart", Caller: "frontend", Now: clk.Now, Records: rec}, up.URL)
	trace := "4bf92f3577b34da6a3ce929d0e0e4736"
	for i := 0; i < 3; i++ { // the same trace and operation: retries 0, 1, 2
		req, _ := http.NewRequest("POST", px.URL+"/checkout", nil)
		req.Header.Set("traceparent", "00-"+trace+"-00f067aa0ba902b7-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	for i := 0; i < 40; i++ {
		req, _ := http.NewRequest("GET", px.URL+"/items", nil)
		req.Header.Set(HeaderCaller, "search")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	files := rec.Files()
	if len(files) < 2 {
		t.Errorf("%d files: want rotation by size", len(files))
	}
	var spans []ingest.Span
	for _, f := range files {
		s, err := ingest.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		spans = append(spans, s...)
	}
	if len(spans) != 43 {
		t.Fatalf("%d records, want 43", len(spans))
	}
	var injected, plain int
	for _, s := range spans {
		switch s.Operation {
		case "POST /checkout":
			injected++
			if !s.Injected || s.FaultType != "abort" || s.FaultProfileID != "cart-abort" || s.InjectedAtUnixNano != clk.Now().UnixNano() ||
				s.StatusCode != 503 || !s.Error || s.TraceID != trace || s.ParentSpanID != "00f067aa0ba902b7" || s.Caller != "frontend" || s.Callee != "cart" {
				t.Errorf("injected record: %+v", s)
			}
			if s.RetryCount != int32(injected-1) {
				t.Errorf("retry_count %d, want %d", s.RetryCount, injected-1)
			}
		case "GET /items":
			plain++
			if s.Injected || s.FaultType != "" || s.StatusCode != 200 || s.Error || s.Caller != "search" || len(s.TraceID) != 32 || s.RetryCount != 0 {
				t.Errorf("plain record: %+v", s)
			}
		default:
			t.Errorf("record for %q", s.Operation)
		}
	}
	if injected != 3 || plain != 40 {
		t.Errorf("%d injected, %d plain records", injected, plain)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestRecorderNeverBlocks(t *testing.T) {
	rec, err := NewRecorder(RecorderOptions{Dir: t.TempDir(), Now: time.Now, Buffer: 1})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000; i++ {
				rec.Record(&ingest.Span{TraceID: "t", Callee: "c", Operation: "GET /"})
			}
		}()
	}
	wg.Wait()
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("80000 records took %v", d)
	}
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if rec.Dropped() == 0 {
		t.Error("a 1-record buffer dropped nothing")
	}
	if rec.Dropped()+rec.Written() != 80000 {
		t.Errorf("dropped %d + written %d != 80000", rec.Dropped(), rec.Written())
	}
}

// TestRecorderWakesByTickAndByFill: the writer takes waiting records on its
// tick, and before it when a quarter of the buffer waits; never one by one.
func TestRecorderWakesByTickAndByFill(t *testing.T) {
	waitTaken := func(rec *Recorder, want int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for rec.taken.Load() != want {
			if time.Now().After(deadline) {
				t.Fatalf("the writer took %d records, want %d", rec.taken.Load(), want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	span := &ingest.Span{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", Callee: "c", Operation: "GET /"}

	// by tick: 3 records, far below a quarter of the buffer
	rec, err := NewRecorder(RecorderOptions{Dir: t.TempDir(), Now: time.Now, FlushInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rec.Record(span)
	}
	waitTaken(rec, 3)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}

	// by fill: no tick within the test; the 4th record of a 16-record
	// buffer wakes the writer, the 3 before it wait
	rec, err = NewRecorder(RecorderOptions{Dir: t.TempDir(), Now: time.Now, FlushInterval: time.Hour, Buffer: 16})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		rec.Record(span)
	}
	time.Sleep(50 * time.Millisecond)
	if n := rec.taken.Load(); n != 0 {
		t.Errorf("the writer took %d records before the buffer was a quarter full, want 0", n)
	}
	rec.Record(span)
	waitTaken(rec, 4)
	// Close writes what waits
	rec.Record(span)
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	if rec.Written() != 5 || rec.Dropped() != 0 {
		t.Errorf("after Close: written %d, dropped %d; want 5 and 0", rec.Written(), rec.Dropped())
	}
	if rec.Record(span) || rec.Dropped() != 1 {
		t.Errorf("a record after Close was taken (dropped %d)", rec.Dropped())
	}
}
