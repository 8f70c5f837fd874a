package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/internal/edge"
)

func TestReport(t *testing.T) {
	fx, d := loadFixture(t, true)
	var a, b bytes.Buffer
	if err := WriteReport(&a, d, ReportOptions{TopEdges: 5}); err != nil {
		t.Fatal(err)
	}
	// a second Load of the same files gives the same bytes
	d2, err := Load(context.Background(), Options{Analysis: fx.Analysis, Bundle: d.Bundle.Path, Replay: fx.Replay,
		Verify: bundle.VerifyOptions{PublicKey: fx.Pub, Now: d.Bundle.B.Metadata.NotAfter}})
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteReport(&b, d2, ReportOptions{TopEdges: 5}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two reports of the same inputs differ")
	}
	page := a.String()
	for _, f := range d.Summary.Findings {
		if !strings.Contains(page, htmlEsc(f.Explanation)) {
			t.Errorf("report lacks finding %q", f.Explanation)
		}
	}
	top := d.topEdges(5)
	for _, e := range top {
		if !strings.Contains(page, `id="`+anchorOf(e.Key)+`"`) || !strings.Contains(page, `href="#`+anchorOf(e.Key)+`"`) {
			t.Errorf("report lacks the section of %s or a link to it", e.Key)
		}
	}
	if n := strings.Count(page, `class="edgesection"`); n != 5 {
		t.Errorf("%d edge sections, want 5", n)
	}
	for _, w := range []string{"Valid signature", "Resilience by replay round", `<svg id="graph"`, `id="profiles-table"`, "95% band", `id="guard-activity"`, "Replay: faults fired, injected and held back", "held back by"} {
		if !strings.Contains(page, w) {
			t.Errorf("report lacks %q", w)
		}
	}
	// ids are unique: the script finds the graph by its id
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(` id="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if seen[m[1]] {
			t.Errorf("duplicate id %q", m[1])
		}
		seen[m[1]] = true
	}
	// self-contained: no external resource, no link to the dashboard's routes
	for _, bad := range []string{`src="http`, `href="http`, `<link `, `src="/`, `href="/`, `data-edit=`} {
		if strings.Contains(page, bad) {
			t.Errorf("report contains %q", bad)
		}
	}
	// one inline script and one style, each allowed by its hash in the CSP
	csp := regexp.MustCompile(`http-equiv="Content-Security-Policy" content="([^"]*)"`).FindStringSubmatch(page)
	if csp == nil {
		t.Fatal("no CSP")
	}
	policy := html.UnescapeString(csp[1])
	for _, re := range []string{`(?s)<script>(.*?)</script>`, `(?s)<style>(.*?)</style>`} {
		m := regexp.MustCompile(re).FindAllStringSubmatch(page, -1)
		if len(m) != 1 {
			t.Fatalf("%d matches of %s", len(m), re)
		}
		h := sha256.Sum256([]byte(m[0][1]))
		if want := "'sha256-" + base64.StdEncoding.EncodeToString(h[:]) + "'"; !strings.Contains(policy, want) {
			t.Errorf("CSP %q lacks %s", policy, want)
		}
	}
	if !strings.Contains(policy, "default-src 'none'") {
		t.Errorf("CSP %q", policy)
	}
}

// TestEscaping puts markup in service names: it must reach the pages and
// the SVG as text.
func TestEscaping(t *testing.T) {
	edges := []LayoutEdge{{"", `<script>alert(1)</script>`}, {`<script>alert(1)</script>`, `a"b&c`}}
	d := &Data{Layout: LayoutGraph(edges), edges: map[edge.Edge]*Edge{}}
	for _, le := range edges {
		caller := le.From
		e := &Edge{Key: edge.Edge{Caller: caller, Callee: le.To}}
		d.Edges = append(d.Edges, e)
	}
	svg := string(d.graphSVG(graphStyle{link: func(e *Edge) string { return edgeURL(e.Key) }}))
	if strings.Contains(svg, "<script") || strings.Contains(svg, `a"b`) {
		t.Errorf("unescaped name in the graph:\n%s", svg)
	}
	if !strings.Contains(svg, "&lt;script&gt;") || !strings.Contains(svg, "caller=%3Cscript%3E") {
		t.Errorf("escaped name missing:\n%s", svg)
	}
}

func TestApplyEdits(t *testing.T) {
	_, d := loadFixture(t, false)
	p := d.Bundle.B.Profiles[0]
	nb, data, err := ApplyEdits(d.Bundle.B, []ProfileEdit{{ID: p.ID, Rate: ptr(0.9), Fault: &bundle.Fault{Type: bundle.FaultLatency, DelayMs: 250}}})
	if err != nil {
		t.Fatal(err)
	}
	got := nb.Profiles[0]
	if got.Rate != 0.9 || got.MaxRate != 0.9 || got.Fault.Type != bundle.FaultLatency || got.Fault.DelayMs != 250 {
		t.Errorf("edited %+v", got)
	}
	if d.Bundle.B.Profiles[0].Rate != p.Rate {
		t.Error("ApplyEdits changed the original bundle")
	}
	if c, err := bundle.Canonical(data); err != nil || !bytes.Equal(c, data) {
		t.Errorf("not canonical: %v", err)
	}
	for _, bad := range [][]ProfileEdit{
		{{ID: p.ID, Rate: ptr(-0.1)}},
		{{ID: p.ID, Rate: ptr(0.5), MaxRate: ptr(0.2)}},
		{{ID: p.ID}, {ID: p.ID}},
		{{ID: "missing"}},
		{{ID: p.ID, Fault: &bundle.Fault{Type: "explode"}}},
	} {
		if _, _, err := ApplyEdits(d.Bundle.B, bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}
