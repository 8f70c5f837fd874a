// Package e2e drives the dashboard and the HTML report in a real headless
// Chromium: the graph, an edge page, editing a profile, simulating,
// saving (the saved bundle must verify), a scenario on a live injector, and
// report.html opened from disk. It saves a screenshot of each view in
// $CHAOSGEN_SHOTS (default /tmp/chaosgen-shots).
//
// Without Chromium the tests skip loudly; with CHAOSGEN_REQUIRE_SHARED=1
// (CI) they fail instead. Debian: apt-get install -y chromium.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/dashboard"
	"github.com/chaosgen/chaosgen/dashboard/internal/fixture"
	"github.com/chaosgen/chaosgen/inject"
	"github.com/chaosgen/chaosgen/internal/edge"
	"github.com/chaosgen/chaosgen/internal/shared"
	"github.com/chaosgen/chaosgen/synth"
	"github.com/chromedp/chromedp"
)

// findChromium returns the browser, or skips (fails in CI).
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{os.Getenv("CHAOSGEN_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"} {
		if name == "" {
			continue
		}
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "SKIPPED: no chromium on PATH: the dashboard's browser tests did not run (Debian: apt-get install -y chromium)"
	if os.Getenv(shared.EnvRequire) == "1" {
		t.Fatal(strings.Replace(msg, "SKIPPED", "FAILED", 1) + "; " + shared.EnvRequire + "=1 requires them")
	}
	fmt.Fprintln(os.Stderr, "chaosgen e2e: "+msg)
	t.Skip(msg)
	return ""
}

func shotsDir(t *testing.T) string {
	dir := os.Getenv("CHAOSGEN_SHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "chaosgen-shots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser starts Chromium with the flags CI needs (root, no GPU, no
// network beyond the test servers) and a fresh profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	path := findChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("hide-scrollbars", true), chromedp.Flag("font-render-hinting", "none"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1440, 900),
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1440, 900)); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	v, err := chromedp.Run(c, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	run(t, ctx, what, chromedp.Steps(steps...))
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	return run(t, ctx, js, chromedp.Evaluate[T](js))
}

func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := run(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(shotsDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}

func TestDashboardInBrowser(t *testing.T) {
	ctx := browser(t)
	dir := t.TempDir()
	fx, err := fixture.Build(context.Background(), dir, fixture.Options{Services: 30, Days: 0.05, RPS: 5, Replay: true})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	d, err := dashboard.Load(context.Background(), dashboard.Options{Analysis: fx.Analysis, Bundle: fx.Bundle, Replay: fx.Replay,
		Spans: []string{fx.Spans}, Verify: bundle.VerifyOptions{PublicKey: fx.Pub, Now: at}})
	if err != nil {
		t.Fatal(err)
	}
	inj, err := inject.New(d.Bundle.B, inject.Options{Service: d.Bundle.B.Profiles[0].Target.Callee, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	injTS := httptest.NewServer(inj.AdminHandler("admin-token"))
	defer injTS.Close()
	ic, err := dashboard.NewInjectorClient(injTS.URL, "admin-token")
	if err != nil {
		t.Fatal(err)
	}
	s, err := dashboard.NewServer(d, dashboard.ServerOptions{LoopbackOnly: true, Signer: fx.Signer,
		Simulate: dashboard.ReplaySimulator([]string{fx.Spans}, nil, 1), Injector: ic})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	top := d.Summary.Findings[0]

	t.Run("overview", func(t *testing.T) {
		do(t, ctx, "overview", chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible(chromedp.CSS("ol.findings")))
		text := run(t, ctx, "findings", chromedp.Text(chromedp.CSS("ol.findings")))
		if !strings.Contains(text, top.Explanation) {
			t.Errorf("overview lacks the top finding %q", top.Explanation)
		}
		if got := eval[string](t, ctx, `document.querySelector(".status").textContent`); got != "Valid signature" {
			t.Errorf("bundle status %q", got)
		}
		shot(t, ctx, "1-overview")
	})

	t.Run("graph", func(t *testing.T) {
		do(t, ctx, "graph", chromedp.Navigate(ts.URL+"/graph"), chromedp.WaitVisible(chromedp.CSS("#graph")))
		if n := eval[int](t, ctx, `document.querySelectorAll("#graph g.node").length`); n != len(d.Services)+1 {
			t.Errorf("%d nodes, want %d services and the ingress", n, len(d.Services))
		}
		if n := eval[int](t, ctx, `document.querySelectorAll("#graph path.edge").length`); n != len(d.Edges) {
			t.Errorf("%d edges, want %d", n, len(d.Edges))
		}
		shot(t, ctx, "2-graph")
		// zoom, colour by resilience, find a service
		before := eval[string](t, ctx, `document.getElementById("graph").getAttribute("viewBox")`)
		do(t, ctx, "zoom", chromedp.Click(chromedp.CSS(`[data-zoom="in"]`)))
		if after := eval[string](t, ctx, `document.getElementById("graph").getAttribute("viewBox")`); after == before {
			t.Error("zoom in did not change the viewBox")
		}
		do(t, ctx, "resilience", chromedp.Click(chromedp.CSS(`[data-color="resilience"]`)))
		if ok := eval[bool](t, ctx, `Array.from(document.querySelectorAll("#graph path.edge")).every(p => p.getAttribute("stroke") === p.getAttribute("data-resilience"))`); !ok {
			t.Error("colour by resilience did not recolour the edges")
		}
		do(t, ctx, "filter", chromedp.Click(chromedp.CSS(`[data-zoom="fit"]`)), chromedp.SendKeys(chromedp.CSS("#graphfilter"), top.Callee))
		if n := eval[int](t, ctx, `document.querySelectorAll("#graph g.node.match").length`); n < 1 {
			t.Errorf("finding %q highlighted %d nodes", top.Callee, n)
		}
		shot(t, ctx, "3-graph-resilience-filtered")
	})

	t.Run("edge", func(t *testing.T) {
		do(t, ctx, "graph", chromedp.Navigate(ts.URL+"/graph"), chromedp.WaitVisible(chromedp.CSS("#graph")))
		// click the top finding's edge in the graph
		sel := fmt.Sprintf(`#graph path.edge[data-from=%q][data-to=%q]`, callerName(top.Caller), top.Callee)
		if ok := eval[bool](t, ctx, `(() => { const p = document.querySelector(`+jsString(sel)+`); if (!p) return false;
			p.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true})); return true })()`); !ok {
			t.Fatalf("no edge %s in the graph", sel)
		}
		do(t, ctx, "edge page", chromedp.WaitVisible(chromedp.CSS(`[data-chart="calls"] svg`)))
		h1 := run(t, ctx, "title", chromedp.Text(chromedp.CSS("section.edgehead h1")))
		if want := (edge.Edge{Caller: top.Caller, Callee: top.Callee}).String(); h1 != want {
			t.Errorf("edge page of %q, want %q", h1, want)
		}
		for _, c := range []string{"calls", "p99", "errors", "injection", "response"} {
			if n := eval[int](t, ctx, `document.querySelectorAll('[data-chart="`+c+`"] svg path.series, [data-chart="`+c+`"] svg rect').length`); n == 0 {
				t.Errorf("chart %s is empty", c)
			}
		}
		if n := eval[int](t, ctx, `document.querySelectorAll('[data-chart="calls"] polygon.band').length`); n != 1 {
			t.Errorf("%d forecast bands on the calls chart", n)
		}
		shot(t, ctx, "4-edge")
	})

	var saved string
	t.Run("profiles", func(t *testing.T) {
		p := d.Bundle.B.Profiles[0]
		do(t, ctx, "profiles", chromedp.Navigate(ts.URL+"/profiles"), chromedp.WaitVisible(chromedp.CSS("#profiles-table")))
		rows := eval[int](t, ctx, `document.querySelectorAll("#profiles-table tbody tr").length`)
		if rows != len(d.Bundle.B.Profiles) {
			t.Errorf("%d rows, want %d", rows, len(d.Bundle.B.Profiles))
		}
		// sort by rate, then filter
		do(t, ctx, "sort", chromedp.Click(chromedp.CSS(`#profiles-table th:nth-child(4)`)))
		if ok := eval[bool](t, ctx, `(() => { const v = Array.from(document.querySelectorAll("#profiles-table tbody tr .c-rate")).map(c => +c.dataset.v); return v.every((x, i) => i == 0 || v[i-1] <= x) })()`); !ok {
			t.Error("rows not sorted by rate")
		}
		shot(t, ctx, "5-profiles")
		do(t, ctx, "filter", chromedp.SendKeys(chromedp.CSS("#profilefilter"), p.ID))
		if n := eval[int](t, ctx, `Array.from(document.querySelectorAll("#profiles-table tbody tr")).filter(r => !r.hidden).length`); n != 1 {
			t.Errorf("filter on %q shows %d rows", p.ID, n)
		}
		// edit the rate
		do(t, ctx, "edit",
			chromedp.Click(chromedp.CSS(fmt.Sprintf(`[data-edit=%q]`, p.ID))),
			chromedp.WaitVisible(chromedp.CSS("#editor")),
			chromedp.SetValue(chromedp.CSS("#ed-rate"), "0.004"),
			chromedp.Click(chromedp.CSS("#ed-apply")),
		)
		if got := run(t, ctx, "pending", chromedp.Text(chromedp.CSS("#pending"))); got != "1 profile edited." {
			t.Errorf("pending %q", got)
		}
		if got := eval[string](t, ctx, `document.querySelector('#profiles-table tr.edited .c-rate').textContent`); got != "0.4%" {
			t.Errorf("edited rate shows %q", got)
		}
		// simulate: the real replay, before and after
		do(t, ctx, "simulate", chromedp.Click(chromedp.CSS("#simulate")), chromedp.WaitVisible(chromedp.CSS(".simres, .result .error")))
		res := run(t, ctx, "simulation", chromedp.Text(chromedp.CSS("#result")))
		if !strings.Contains(res, "before and after") || !strings.Contains(res, p.ID) || !strings.Contains(res, "0.4%") {
			t.Fatalf("simulation result: %s", res)
		}
		shot(t, ctx, "6-profiles-simulated")
		// save: a new signed bundle beside the original
		do(t, ctx, "save", chromedp.Click(chromedp.CSS("#save")), chromedp.WaitVisible(chromedp.CSS("#saved-path, .result .error")))
		saved = run(t, ctx, "saved path", chromedp.Text(chromedp.CSS("#saved-path")))
		if saved != filepath.Join(dir, "bundle.edited.json") {
			t.Errorf("saved to %q", saved)
		}
		b, info, err := bundle.Verify(saved, bundle.VerifyOptions{PublicKey: fx.Pub, Now: at})
		if err != nil {
			t.Fatalf("the saved bundle does not verify: %v", err)
		}
		if info.Principal != "key@chaosgen.test" {
			t.Errorf("signed by %q", info.Principal)
		}
		for _, q := range b.Profiles {
			if q.ID == p.ID && q.Rate != 0.004 {
				t.Errorf("saved rate %g", q.Rate)
			}
		}
		diff := run(t, ctx, "diff", chromedp.Text(chromedp.CSS("pre.diff")))
		if !strings.Contains(diff, p.ID) {
			t.Errorf("diff: %s", diff)
		}
		shot(t, ctx, "7-profiles-saved")
	})

	t.Run("scenarios", func(t *testing.T) {
		p := d.Bundle.B.Profiles[0]
		do(t, ctx, "scenarios", chromedp.Navigate(ts.URL+"/scenarios"), chromedp.WaitVisible(chromedp.CSS("#inj-state")))
		if got := run(t, ctx, "state", chromedp.Text(chromedp.CSS("#inj-state"))); got != "Injecting" {
			t.Errorf("injector state %q", got)
		}
		shot(t, ctx, "8-scenarios")
		do(t, ctx, "start", chromedp.Click(chromedp.CSS(`[data-action="scenario"]`)), chromedp.WaitVisible(chromedp.CSS("#confirm")))
		if len(inj.Status().Scenarios) != 0 {
			t.Fatal("a scenario started before the confirmation")
		}
		shot(t, ctx, "9-scenarios-confirm")
		do(t, ctx, "confirm", chromedp.Click(chromedp.CSS("#confirm-yes")))
		deadline := time.Now().Add(10 * time.Second)
		for len(inj.Status().Scenarios) == 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
		if sc := inj.Status().Scenarios; len(sc) != 1 || !strings.HasSuffix(sc[0].ID, p.ID) {
			t.Fatalf("injector scenarios after confirming: %+v", sc)
		}
	})

	t.Run("report", func(t *testing.T) {
		var buf bytes.Buffer
		if err := dashboard.WriteReport(&buf, d, dashboard.ReportOptions{}); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "report.html")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		do(t, ctx, "report", chromedp.Navigate("file://"+path), chromedp.WaitVisible(chromedp.CSS("#findings-table")))
		text := run(t, ctx, "findings", chromedp.Text(chromedp.CSS("#findings-table")))
		for _, f := range d.Summary.Findings {
			if !strings.Contains(text, f.Explanation) {
				t.Errorf("report lacks finding %q", f.Explanation)
			}
		}
		if n := eval[int](t, ctx, `document.querySelectorAll("#graph path.edge").length`); n != len(d.Edges) {
			t.Errorf("report graph: %d edges, want %d", n, len(d.Edges))
		}
		// the inline script runs under the report's CSP: zoom works
		before := eval[string](t, ctx, `document.getElementById("graph").getAttribute("viewBox")`)
		do(t, ctx, "zoom", chromedp.Click(chromedp.CSS(`[data-zoom="in"]`)))
		if after := eval[string](t, ctx, `document.getElementById("graph").getAttribute("viewBox")`); after == before {
			t.Error("the report's script did not run (zoom)")
		}
		do(t, ctx, "fit", chromedp.Click(chromedp.CSS(`[data-zoom="fit"]`)))
		shot(t, ctx, "10-report")
	})
}

func callerName(c string) string {
	if c == "" {
		return "ingress"
	}
	return c
}

func jsString(s string) string {
	return "`" + strings.NewReplacer("`", "\\`", "\\", "\\\\", "$", "\\$").Replace(s) + "`"
}

// TestGraph200InBrowser draws the graph of a 200-service mesh and zooms
// into it.
func TestGraph200InBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("synthesizes 4M spans")
	}
	ctx := browser(t)
	dir := t.TempDir()
	spans := filepath.Join(dir, "spans.parquet")
	bg := context.Background()
	if _, err := synth.Generate(bg, spans, synth.Options{Days: 0.05, RPS: 20, Services: 200, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := analysis.Run(bg, []string{spans}, filepath.Join(dir, "analysis"), analysis.Options{Models: analysis.ModelOptions{Seed: 1}}); err != nil {
		t.Fatal(err)
	}
	d, err := dashboard.Load(bg, dashboard.Options{Analysis: filepath.Join(dir, "analysis")})
	if err != nil {
		t.Fatal(err)
	}
	s, err := dashboard.NewServer(d, dashboard.ServerOptions{LoopbackOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	do(t, ctx, "graph", chromedp.Navigate(ts.URL+"/graph"), chromedp.WaitVisible(chromedp.CSS("#graph")))
	if n := eval[int](t, ctx, `document.querySelectorAll("#graph g.node").length`); n != 201 {
		t.Errorf("%d nodes, want 200 services and the ingress", n)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll("#graph path.edge").length`); n != len(d.Edges) {
		t.Errorf("%d edges, want %d", n, len(d.Edges))
	}
	shot(t, ctx, "11-graph-200")
	for range 4 {
		do(t, ctx, "zoom", chromedp.Click(chromedp.CSS(`[data-zoom="in"]`)))
	}
	shot(t, ctx, "12-graph-200-zoomed")
}
