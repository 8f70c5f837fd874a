package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/dashboard/internal/fixture"
	"github.com/chaosgen/chaosgen/inject"
	"github.com/chaosgen/chaosgen/sim"
)

var (
	fixOnce sync.Once
	fixSet  *fixture.Set
	fixErr  error
	fixDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if fixDir != "" {
		os.RemoveAll(fixDir)
	}
	os.Exit(code)
}

// testFixture builds, once per run, a 30-service synthetic mesh with its
// analysis, a signed bundle and a replay of it.
func testFixture(t testing.TB) *fixture.Set {
	t.Helper()
	fixOnce.Do(func() {
		fixDir, fixErr = os.MkdirTemp("", "chaosgen-dashboard-test-")
		if fixErr != nil {
			return
		}
		fixSet, fixErr = fixture.Build(context.Background(), fixDir, fixture.Options{Services: 30, Days: 0.05, RPS: 5, Replay: true})
	})
	if fixErr != nil {
		t.Fatal(fixErr)
	}
	return fixSet
}

// loadFixture loads the fixture with the bundle copied into its own
// directory, so that saves of one test do not meet another's.
func loadFixture(t *testing.T, replay bool) (*fixture.Set, *Data) {
	t.Helper()
	fx := testFixture(t)
	dir := t.TempDir()
	b := filepath.Join(dir, "bundle.json")
	for _, p := range []string{"", ".sig"} {
		data, err := os.ReadFile(fx.Bundle + p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(b+p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	o := Options{Analysis: fx.Analysis, Bundle: b, Spans: []string{fx.Spans},
		Verify: bundle.VerifyOptions{PublicKey: fx.Pub, Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)}}
	if replay {
		o.Replay = fx.Replay
	}
	d, err := Load(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return fx, d
}

// fakeSimulator returns a report whose profile scores are 100 × (1 − rate)
// and whose root success rate falls with the sum of the rates.
func fakeSimulator(calls *int) Simulator {
	var mu sync.Mutex
	return func(ctx context.Context, b *bundle.Bundle) (*sim.Report, error) {
		mu.Lock()
		*calls++
		mu.Unlock()
		r := &sim.Report{Baseline: &sim.Result{}, Faults: &sim.Result{}, Guards: &sim.GuardReport{}}
		total := 0.0
		for _, p := range b.Profiles {
			sc := 100 * (1 - p.Rate)
			r.Profiles = append(r.Profiles, sim.ProfileReport{ID: p.ID, Rate: p.Rate, Score: &sc, Verdict: "graceful", Injected: 10})
			total += p.Rate
		}
		r.Faults.Root.SuccessRate = 1 - total
		r.Faults.Root.P99Ms = 100
		return r, nil
	}
}

type env struct {
	fx    *fixture.Set
	d     *Data
	s     *Server
	ts    *httptest.Server
	inj   *inject.Injector
	injTS *httptest.Server
	sims  int
}

const injToken = "inj-secret"

// newEnv starts the dashboard (loopback only, a fake simulator, the key
// of the fixture) and a real injector's admin API.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{}
	e.fx, e.d = loadFixture(t, true)
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	inj, err := inject.New(e.d.Bundle.B, inject.Options{Service: e.d.Bundle.B.Profiles[0].Target.Callee, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	e.inj = inj
	e.injTS = httptest.NewServer(inj.AdminHandler(injToken))
	t.Cleanup(e.injTS.Close)
	ic, err := NewInjectorClient(e.injTS.URL, injToken)
	if err != nil {
		t.Fatal(err)
	}
	e.s, err = NewServer(e.d, ServerOptions{LoopbackOnly: true, Signer: e.fx.Signer, Simulate: fakeSimulator(&e.sims), Injector: ic, Token: "test-token"})
	if err != nil {
		t.Fatal(err)
	}
	e.ts = httptest.NewServer(e.s.Handler())
	t.Cleanup(e.ts.Close)
	return e
}

func get(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(body)
}

// post sends body as JSON with the given headers (a nil map: the right
// token and origin).
func (e *env) post(t *testing.T, path string, body any, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case string:
		rd = strings.NewReader(b)
	default:
		data, _ := json.Marshal(b)
		rd = bytes.NewReader(data)
	}
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+path, rd)
	if hdr == nil {
		hdr = map[string]string{TokenHeader: "test-token", "Origin": e.ts.URL, "Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if h := hdr["Host"]; h != "" {
		req.Host = h
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("POST %s: %d: not JSON: %s", path, resp.StatusCode, data)
	}
	return resp.StatusCode, out
}

// topFinding is the fixture's best finding, with its edge.
func topFinding(t *testing.T, d *Data) (*Edge, string) {
	t.Helper()
	if len(d.Summary.Findings) == 0 {
		t.Fatal("the fixture has no findings")
	}
	f := d.Summary.Findings[0]
	e := d.Edge(f.Caller, f.Callee)
	if e == nil {
		t.Fatalf("finding on unknown edge %s->%s", f.Caller, f.Callee)
	}
	return e, f.Explanation
}

func TestRoutes(t *testing.T) {
	e := newEnv(t)
	edge, expl := topFinding(t, e.d)
	p0 := e.d.Bundle.B.Profiles[0]
	tests := []struct {
		path  string
		code  int
		ctype string
		want  []string
	}{
		{"/", 200, "text/html", []string{"Top findings", `id="guard-activity"`, "injector trip", htmlEsc(expl), "Valid signature", "Resilience by replay round", "Live injector", "Injecting", `content="test-token"`}},
		{"/graph", 200, "text/html", []string{`<svg id="graph"`, `class="node ingress"`, "critical (≥ 50% of requests)", "anomaly 0", `data-resilience=`}},
		{edgeURL(edge.Key), 200, "text/html", []string{htmlEsc(edge.Key.String()), `data-chart="calls"`, "p99 latency", "95% band", "Injected calls by fault type", "System response", "with faults"}},
		{"/edge?caller=nobody&callee=nothing", 404, "text/html", []string{"Unknown edge", "nobody → nothing"}},
		{"/edge", 400, "text/html", []string{"needs ?caller="}},
		{"/edge?caller=%3Cscript%3E&callee=x", 404, "text/html", []string{"&lt;script&gt; → x"}},
		{"/profiles", 200, "text/html", []string{`id="profiles-table"`, p0.ID, "Simulate", "Save as new bundle", `data-orig="{`}},
		{"/scenarios", 200, "text/html", []string{"Live profiles", "Kill switch…", "Start…", p0.ID, e.injTS.URL}},
		{"/api/injector/status", 200, "application/json", []string{`"injecting": true`, `"digest": "sha256:`}},
		{"/static/app.js", 200, "text/javascript", []string{"X-Chaosgen-Token"}},
		{"/static/style.css", 200, "text/css", []string{"--accent"}},
		{"/static/nope.css", 404, "text/plain", []string{"no such asset"}},
		{"/static/..%2fserver.go", 404, "text/plain", nil},
		{"/nope", 404, "text/html", []string{"There is no page /nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			code, h, body := get(t, e.ts.URL+tt.path)
			if code != tt.code {
				t.Fatalf("GET %s: %d, want %d: %.300s", tt.path, code, tt.code, body)
			}
			if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
				t.Errorf("Content-Type %q, want %s", ct, tt.ctype)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s: body lacks %q", tt.path, w)
				}
			}
			if got := h.Get("Content-Security-Policy"); !strings.Contains(got, "default-src 'self'") || !strings.Contains(got, "frame-ancestors 'none'") || strings.Contains(got, "unsafe-inline") {
				t.Errorf("CSP %q", got)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" {
				t.Errorf("headers %v", h)
			}
			if strings.HasPrefix(tt.ctype, "text/html") && strings.Contains(body, "<script>") {
				t.Errorf("inline script in %s", tt.path)
			}
		})
	}
}

func htmlEsc(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\'':
			b.WriteString("&#39;")
		case '"':
			b.WriteString("&#34;")
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestParallel fetches every page concurrently (run under -race) and checks
// each answer equals the sequential one.
func TestParallel(t *testing.T) {
	e := newEnv(t)
	edge, _ := topFinding(t, e.d)
	paths := []string{"/", "/graph", edgeURL(edge.Key), "/profiles", "/scenarios", "/static/app.js", "/nope", "/edge?caller=a&callee=b"}
	want := map[string]string{}
	for _, p := range paths {
		_, _, want[p] = get(t, e.ts.URL+p)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := 0; i < 6; i++ {
		for _, p := range paths {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := http.Get(e.ts.URL + p)
				if err != nil {
					errs <- err.Error()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != want[p] {
					errs <- p + ": body differs from the sequential fetch"
				}
			}()
		}
	}
	// and simulations alongside: at most one runs at a time
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data, _ := json.Marshal(EditRequest{Edits: []ProfileEdit{{ID: e.d.Bundle.B.Profiles[0].ID, Rate: ptr(0.01)}}})
			req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/api/simulate", bytes.NewReader(data))
			req.Header.Set(TokenHeader, "test-token")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 && resp.StatusCode != 409 {
				errs <- fmt.Sprintf("simulate: %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestRefusals(t *testing.T) {
	e := newEnv(t)
	id := e.d.Bundle.B.Profiles[0].ID
	good := EditRequest{Edits: []ProfileEdit{{ID: id, Rate: ptr(0.02)}}}
	ok := map[string]string{TokenHeader: "test-token", "Content-Type": "application/json", "Origin": e.ts.URL, "Sec-Fetch-Site": "same-origin"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range ok {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name string
		path string
		body any
		hdr  map[string]string
		code int
		msg  string
	}{
		{"no token", "/api/save", good, with(TokenHeader, ""), 403, "X-Chaosgen-Token"},
		{"wrong token", "/api/save", good, with(TokenHeader, "guess"), 403, "X-Chaosgen-Token"},
		{"other origin", "/api/save", good, with("Origin", "http://evil.example"), 403, "another origin"},
		{"cross-site fetch", "/api/simulate", good, with("Sec-Fetch-Site", "cross-site"), 403, "cross-site"},
		{"form post", "/api/save", good, with("Content-Type", "application/x-www-form-urlencoded"), 415, "application/json"},
		{"bad json", "/api/save", `{"edits": [`, nil, 400, "reading the request"},
		{"unknown field", "/api/save", `{"edits": [], "x": 1}`, nil, 400, "unknown field"},
		{"trailing data", "/api/simulate", `{"edits": []} {}`, nil, 400, "after the JSON"},
		{"unknown profile", "/api/save", EditRequest{Edits: []ProfileEdit{{ID: "no-such-profile", Rate: ptr(0.1)}}}, nil, 400, "no profile"},
		{"rate above 1", "/api/simulate", EditRequest{Edits: []ProfileEdit{{ID: id, Rate: ptr(1.5)}}}, nil, 400, "outside [0, 1]"},
		{"bad fault", "/api/save", EditRequest{Edits: []ProfileEdit{{ID: id, Fault: &bundle.Fault{Type: "abort", HTTPStatus: 200}}}}, nil, 400, "httpStatus"},
		{"bad severity", "/api/save", EditRequest{Edits: []ProfileEdit{{ID: id, Severity: "apocalyptic"}}}, nil, 400, "severity"},
		{"nothing to save", "/api/save", EditRequest{}, nil, 400, "nothing to save"},
		{"scenario unconfirmed", "/api/injector/scenario", ScenarioRequest{Profile: id, Duration: "1m"}, nil, 400, "not confirmed"},
		{"scenario unknown profile", "/api/injector/scenario", ScenarioRequest{Profile: "nope", Duration: "1m", Confirm: true}, nil, 400, "no profile"},
		{"scenario long", "/api/injector/scenario", ScenarioRequest{Profile: id, Duration: "48h", Confirm: true}, nil, 400, "between 1s and 24h"},
		{"kill unconfirmed", "/api/injector/kill", ConfirmRequest{}, nil, 400, "not confirmed"},
		{"kill without token", "/api/injector/kill", ConfirmRequest{Confirm: true}, with(TokenHeader, ""), 403, "X-Chaosgen-Token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := e.post(t, tt.path, tt.body, tt.hdr)
			if code != tt.code {
				t.Fatalf("%d, want %d: %v", code, tt.code, out)
			}
			if msg, _ := out["error"].(string); !strings.Contains(msg, tt.msg) {
				t.Errorf("error %q lacks %q", msg, tt.msg)
			}
		})
	}
	// nothing was saved, simulated or sent to the injector
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(e.d.Bundle.Path), "*.edited*")); len(m) > 0 {
		t.Errorf("refused requests saved %v", m)
	}
	if e.sims != 0 {
		t.Errorf("refused requests ran %d simulations", e.sims)
	}
	if st := e.inj.Status(); st.Killed || len(st.Scenarios) > 0 {
		t.Errorf("refused requests changed the injector: %+v", st)
	}
	// GET on a POST route
	if code, _, _ := get(t, e.ts.URL+"/api/save"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET /api/save: %d", code)
	}
}

// TestRebinding is a remote client of a dashboard bound to every address:
// it asks for a page with a Host of its own (DNS rebinding, or any client
// that reaches the port) to read the token, then posts the kill switch with
// an Origin matching that Host. Both are refused unless the Host is allowed,
// and the Origin is checked against the dashboard's own addresses, never
// against the request's Host.
func TestRebinding(t *testing.T) {
	e := newEnv(t)
	for _, allowed := range [][]string{nil, {"dash.internal"}} {
		s, err := NewServer(e.d, ServerOptions{Token: "test-token", Injector: e.s.o.Injector, AllowedHosts: allowed})
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(s.Handler())
		defer ts.Close()
		getHost := func(host string) (int, string) {
			req, _ := http.NewRequest(http.MethodGet, ts.URL+"/", nil)
			req.Host = host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(ts.URL, "http://"))
		for _, host := range []string{"evil.example:" + port, "evil.example", "192.0.2.1:" + port} {
			code, body := getHost(host)
			if code != http.StatusMisdirectedRequest || strings.Contains(body, "test-token") {
				t.Errorf("allowed %v: GET / with Host %s: %d, token served: %v", allowed, host, code, strings.Contains(body, "test-token"))
			}
		}
		post := func(host, origin string) int {
			code, _ := (&env{ts: ts}).post(t, "/api/injector/kill", ConfirmRequest{Confirm: true}, map[string]string{"Host": host, TokenHeader: "test-token", "Content-Type": "application/json", "Origin": origin})
			return code
		}
		if code := post("evil.example:"+port, "http://evil.example:"+port); code != http.StatusMisdirectedRequest {
			t.Errorf("allowed %v: kill with Host evil.example: %d", allowed, code)
		}
		// Another web server on this machine is another origin, even when
		// the request's Host says that server's address.
		if code := post("localhost:3000", "http://localhost:3000"); code != http.StatusForbidden {
			t.Errorf("allowed %v: kill from origin localhost:3000: %d", allowed, code)
		}
		if code := post("127.0.0.1:"+port, "http://evil.example"); code != http.StatusForbidden {
			t.Errorf("allowed %v: kill from origin evil.example: %d", allowed, code)
		}
		if allowed != nil {
			if code, body := getHost("dash.internal:" + port); code != 200 || !strings.Contains(body, "test-token") {
				t.Errorf("GET / with an allowed Host: %d", code)
			}
			if code := post("dash.internal:"+port, "http://dash.internal:"+port); code != 200 {
				t.Errorf("kill from the allowed origin: %d", code)
			}
			e.inj.Resume()
		}
		if code := post("127.0.0.1:"+port, "http://localhost:"+port); code != 200 {
			t.Errorf("allowed %v: kill from the loopback origin: %d", allowed, code)
		}
		e.inj.Resume()
	}
}

// TestLoopbackOnly calls the handler as other clients would reach it.
func TestLoopbackOnly(t *testing.T) {
	_, d := loadFixture(t, false)
	s, err := NewServer(d, ServerOptions{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	tests := []struct {
		remote, host string
		code         int
	}{
		{"127.0.0.1:5555", "127.0.0.1:8080", 200},
		{"[::1]:5555", "localhost:8080", 200},
		{"[::1]:5555", "[::1]:8080", 200},
		{"192.0.2.7:5555", "127.0.0.1:8080", 403},
		{"10.1.2.3:5555", "localhost", 403},
		{"127.0.0.1:5555", "evil.example:8080", 421}, // DNS rebinding
		{"127.0.0.1:5555", "192.0.2.1:8080", 421},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr, req.Host = tt.remote, tt.host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != tt.code {
			t.Errorf("%s Host %s: %d, want %d", tt.remote, tt.host, w.Code, tt.code)
		}
	}
	// without LoopbackOnly (bound elsewhere on purpose), other clients are
	// served when they name an allowed host
	s2, _ := NewServer(d, ServerOptions{AllowedHosts: []string{"dash.internal", "example.com:8080"}})
	for _, tt := range []struct {
		host string
		code int
	}{
		{"dash.internal:9000", 200},
		{"DASH.internal", 200},
		{"example.com:8080", 200},
		{"example.com:9090", 421},
		{"example.com", 421},
		{"127.0.0.1:9000", 200},
		{"evil.example", 421},
	} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr, req.Host = "192.0.2.7:5555", tt.host
		w := httptest.NewRecorder()
		s2.Handler().ServeHTTP(w, req)
		if w.Code != tt.code {
			t.Errorf("not loopback-only, Host %s: %d, want %d", tt.host, w.Code, tt.code)
		}
	}
	if s.Token() == s2.Token() || len(s.Token()) != 64 {
		t.Errorf("tokens %q %q: want distinct random 32-byte tokens", s.Token(), s2.Token())
	}
}

func TestSimulateAndSave(t *testing.T) {
	e := newEnv(t)
	p := e.d.Bundle.B.Profiles[0]
	edit := EditRequest{Edits: []ProfileEdit{{ID: p.ID, Rate: ptr(0.004), Severity: bundle.SeverityCritical}}}
	code, out := e.post(t, "/api/simulate", edit, nil)
	if code != 200 {
		t.Fatalf("simulate: %d %v", code, out)
	}
	html, _ := out["html"].(string)
	for _, w := range []string{"before and after", p.ID, "edited", "99.6"} {
		if !strings.Contains(html, w) {
			t.Errorf("simulation fragment lacks %q:\n%s", w, html)
		}
	}
	after := out["after"].(map[string]any)["profileScores"].(map[string]any)
	if got := after[p.ID].(float64); got != 100*(1-0.004) {
		t.Errorf("the edited bundle was not simulated: score %v", got)
	}
	// the unedited bundle is simulated once and kept
	e.post(t, "/api/simulate", edit, nil)
	if e.sims != 3 {
		t.Errorf("%d simulations, want 3 (before once, after twice)", e.sims)
	}

	orig, _ := os.ReadFile(e.d.Bundle.Path)
	var paths []string
	for i := 0; i < 2; i++ {
		code, out = e.post(t, "/api/save", edit, nil)
		if code != 200 {
			t.Fatalf("save: %d %v", code, out)
		}
		paths = append(paths, out["path"].(string))
		if !strings.Contains(out["diff"].(string), "rate") || !strings.Contains(out["diff"].(string), "critical") {
			t.Errorf("diff: %s", out["diff"])
		}
	}
	dir := filepath.Dir(e.d.Bundle.Path)
	if paths[0] != filepath.Join(dir, "bundle.edited.json") || paths[1] != filepath.Join(dir, "bundle.edited-2.json") {
		t.Errorf("saved to %v", paths)
	}
	if now, _ := os.ReadFile(e.d.Bundle.Path); !bytes.Equal(now, orig) {
		t.Error("the original bundle changed")
	}
	for _, path := range paths {
		b, info, err := bundle.Verify(path, bundle.VerifyOptions{PublicKey: e.fx.Pub, Now: time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			t.Fatalf("verify %s: %v", path, err)
		}
		if info.Principal != "key@chaosgen.test" {
			t.Errorf("signer %q", info.Principal)
		}
		var got *bundle.Profile
		for i := range b.Profiles {
			if b.Profiles[i].ID == p.ID {
				got = &b.Profiles[i]
			}
		}
		if got.Rate != 0.004 || got.Severity != bundle.SeverityCritical {
			t.Errorf("saved profile %+v", got)
		}
		if b.Metadata.Params["editedFrom"] != "sha256:"+e.d.Bundle.Digest {
			t.Errorf("editedFrom %q", b.Metadata.Params["editedFrom"])
		}
		raw, _ := os.ReadFile(path)
		if c, err := bundle.Canonical(raw); err != nil || !bytes.Equal(c, raw) {
			t.Errorf("%s is not canonical: %v", path, err)
		}
	}
	// a stale signature blocks a name: never paired with another bundle
	os.WriteFile(filepath.Join(dir, "bundle.edited-3.json.sig"), []byte("stale"), 0o644)
	_, out = e.post(t, "/api/save", edit, nil)
	if out["path"] != filepath.Join(dir, "bundle.edited-4.json") {
		t.Errorf("saved beside a stale signature: %v", out["path"])
	}
}

func TestSimulateUnavailable(t *testing.T) {
	_, d := loadFixture(t, false)
	s, _ := NewServer(d, ServerOptions{LoopbackOnly: true, Token: "t"})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	data, _ := json.Marshal(EditRequest{Edits: []ProfileEdit{{ID: d.Bundle.B.Profiles[0].ID, Rate: ptr(0.01)}}})
	req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/simulate", bytes.NewReader(data))
	req.Header.Set(TokenHeader, "t")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotImplemented || !strings.Contains(string(body), "--spans") {
		t.Errorf("%d %s", resp.StatusCode, body)
	}
	// unsigned save, with a warning in the page
	req, _ = http.NewRequest(http.MethodPost, ts.URL+"/api/save", bytes.NewReader(data))
	req.Header.Set(TokenHeader, "t")
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var res SaveResult
	json.NewDecoder(resp.Body).Decode(&res)
	resp.Body.Close()
	if res.Signed || res.SigPath != "" || !strings.Contains(string(res.HTML), "unsigned") {
		t.Errorf("unsigned save: %+v", res)
	}
	if _, err := os.Stat(res.Path + ".sig"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a signature was written: %v", err)
	}
}

// TestReplaySimulator runs the real replay on the fixture's spans.
func TestReplaySimulator(t *testing.T) {
	if testing.Short() {
		t.Skip("replays the fixture twice")
	}
	fx, d := loadFixture(t, true)
	p := d.Bundle.B.Profiles[0]
	nb, _, err := ApplyEdits(d.Bundle.B, []ProfileEdit{{ID: p.ID, Rate: ptr(0.3), MaxRate: ptr(0.5)}})
	if err != nil {
		t.Fatal(err)
	}
	// lift the caps and the abortIf breakers, so that the rate alone
	// decides how many faults fire
	nb.Guards.MaxActiveFaults, nb.Guards.MaxGlobalRate, nb.Guards.AbortIf, nb.Guards.Injectors = 0, 1, bundle.AbortIf{}, nil
	rep, err := ReplaySimulator([]string{fx.Spans}, nil, 1)(context.Background(), nb)
	if err != nil {
		t.Fatal(err)
	}
	var pr *sim.ProfileReport
	for i := range rep.Profiles {
		if rep.Profiles[i].ID == p.ID {
			pr = &rep.Profiles[i]
		}
	}
	if pr == nil || pr.Rate != 0.3 || pr.Injected == 0 {
		t.Fatalf("edited profile not replayed: %+v", pr)
	}
	// many more faults than the fixture's replay of the same profile
	for _, q := range d.Replay.Report.Profiles {
		if q.ID == p.ID && 5*q.Injected >= pr.Injected {
			t.Errorf("rate 0.3 injected %d, rate %g injected %d", pr.Injected, q.Rate, q.Injected)
		}
	}
}

func TestInjectorActions(t *testing.T) {
	e := newEnv(t)
	p := e.d.Bundle.B.Profiles[0]
	code, out := e.post(t, "/api/injector/scenario", ScenarioRequest{Profile: p.ID, Rate: ptr(0.05), Duration: "5m", Confirm: true}, nil)
	if code != 200 {
		t.Fatalf("scenario: %d %v", code, out)
	}
	st := e.inj.Status()
	if len(st.Scenarios) != 1 || st.Scenarios[0].ID != "scn-"+p.ID || st.Scenarios[0].Rate != 0.05 {
		t.Fatalf("injector scenarios %+v", st.Scenarios)
	}
	_, _, page := get(t, e.ts.URL+"/scenarios")
	if !strings.Contains(page, `id="running"`) || !strings.Contains(page, "5%") {
		t.Error("the scenarios page does not show the running scenario")
	}
	if code, out = e.post(t, "/api/injector/kill", ConfirmRequest{Confirm: true}, nil); code != 200 || !e.inj.Status().Killed {
		t.Fatalf("kill: %d %v", code, out)
	}
	_, _, page = get(t, e.ts.URL+"/scenarios")
	if !strings.Contains(page, "Resume injecting…") || !strings.Contains(page, ">Killed<") {
		t.Error("the scenarios page does not show the kill switch")
	}
	if code, out = e.post(t, "/api/injector/resume", ConfirmRequest{Confirm: true}, nil); code != 200 || e.inj.Status().Killed {
		t.Fatalf("resume: %d %v", code, out)
	}

	// a wrong injector token is the injector's refusal, passed on
	ic, _ := NewInjectorClient(e.injTS.URL, "wrong")
	s2, _ := NewServer(e.d, ServerOptions{Injector: ic, Token: "test-token"})
	ts2 := httptest.NewServer(s2.Handler())
	defer ts2.Close()
	e2 := &env{ts: ts2}
	code, out = e2.post(t, "/api/injector/kill", ConfirmRequest{Confirm: true}, map[string]string{TokenHeader: "test-token", "Content-Type": "application/json"})
	if code != http.StatusBadGateway || !strings.Contains(out["error"].(string), "401") {
		t.Errorf("wrong injector token: %d %v", code, out)
	}
	// an unreachable injector shows on the pages, not as a failure
	ic3, _ := NewInjectorClient("http://127.0.0.1:1", "x")
	s3, _ := NewServer(e.d, ServerOptions{Injector: ic3})
	ts3 := httptest.NewServer(s3.Handler())
	defer ts3.Close()
	for _, p := range []string{"/", "/scenarios"} {
		code, _, body := get(t, ts3.URL+p)
		if code != 200 || !strings.Contains(body, "Unreachable") {
			t.Errorf("%s with unreachable injector: %d", p, code)
		}
	}
	// without an injector, its actions are refused
	s4, _ := NewServer(e.d, ServerOptions{Token: "test-token"})
	ts4 := httptest.NewServer(s4.Handler())
	defer ts4.Close()
	code, out = (&env{ts: ts4}).post(t, "/api/injector/kill", ConfirmRequest{Confirm: true}, map[string]string{TokenHeader: "test-token", "Content-Type": "application/json"})
	if code != http.StatusConflict || !strings.Contains(out["error"].(string), "--injector") {
		t.Errorf("no injector: %d %v", code, out)
	}
}

func TestNewInjectorClient(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "127.0.0.1:9901", "http://"} {
		if _, err := NewInjectorClient(u, ""); err == nil {
			t.Errorf("%q accepted", u)
		}
	}
	c, err := NewInjectorClient("http://127.0.0.1:9901/", "t\n")
	if err != nil || c.URL() != "http://127.0.0.1:9901" || c.token != "t" {
		t.Errorf("%v %+v", err, c)
	}
	if err := (&InjectorClient{base: mustURL("http://127.0.0.1:1"), hc: http.DefaultClient}).Kill(context.Background()); err == nil || !strings.Contains(err.Error(), "no injector token") {
		t.Errorf("kill without a token: %v", err)
	}
}

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

// TestOverviewListsEverything checks that the overview lists every finding
// and every edge, each linking to its edge page, and that "and N more"
// links to the full list instead of ending the page.
func TestOverviewListsEverything(t *testing.T) {
	_, d := loadFixture(t, false)
	sum := *d.Summary
	for len(sum.Findings) < 3*TopFindings {
		f := sum.Findings[len(sum.Findings)%len(d.Summary.Findings)]
		f.Explanation = fmt.Sprintf("finding number %d.", len(sum.Findings))
		sum.Findings = append(sum.Findings, f)
	}
	d.Summary = &sum
	s, err := NewServer(d, ServerOptions{Token: "t"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	code, _, page := get(t, ts.URL+"/")
	if code != 200 {
		t.Fatalf("GET /: %d", code)
	}
	more := fmt.Sprintf(`<a href="#all-findings">and %d more: all %d findings</a>`, len(sum.Findings)-TopFindings, len(sum.Findings))
	if !strings.Contains(page, more) || !strings.Contains(page, `id="all-findings"`) {
		t.Errorf("no link from %q to the full list", more)
	}
	for _, f := range sum.Findings {
		if !strings.Contains(page, template.HTMLEscapeString(f.Explanation)) {
			t.Errorf("finding %q is not listed", f.Explanation)
		}
	}
	for _, e := range d.Edges {
		link := `<a href="` + template.HTMLEscapeString(edgeURL(e.Key)) + `">` + template.HTMLEscapeString(e.Key.String()) + `</a>`
		if !strings.Contains(page, link) {
			t.Errorf("edge %s is not listed with its link", e.Key)
		}
	}
}
