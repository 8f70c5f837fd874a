package analysis

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/testseed"
	"github.com/chaosgen/chaosgen/synth"
)

// TestCalibration is the calibration of docs/analysis.md: on fault-free
// traffic at most 1% of edge-windows reach the anomaly threshold of the
// findings, and at most 1% of service-windows a root-cause score of 0.5
// (a combined z of 3), on every edge and service alike.
func TestCalibration(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIPPED in -short: analyzes two days of fault-free synthetic traffic")
	}
	for _, seed := range []uint64{3, 11} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			dir := t.TempDir()
			spans := filepath.Join(dir, "spans.parquet")
			if _, err := synth.Generate(context.Background(), spans, synth.Options{Days: 1, RPS: 1, Services: 16, Seed: seed, NoIncidents: true}); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "an")
			sum, err := Run(context.Background(), []string{spans}, out, Options{})
			if err != nil {
				t.Fatal(err)
			}
			ws, err := ReadParquet[WindowRow](filepath.Join(out, WindowsFile))
			if err != nil {
				t.Fatal(err)
			}
			above := map[string]int{}
			n := 0
			for _, w := range ws {
				if w.AnomalyScore >= anomalyCut {
					above[w.Caller+"→"+w.Callee]++
					n++
				}
			}
			share := float64(n) / float64(len(ws))
			t.Logf("seed %d: %d of %d edge-windows (%.3f%%) score >= %.1f", seed, n, len(ws), 100*share, anomalyCut)
			if share > 0.01 {
				t.Errorf("%.2f%% of fault-free edge-windows reach the anomaly threshold, want <= 1%%: %v", 100*share, above)
			}
			ss, err := ReadParquet[ServiceRow](filepath.Join(out, ServicesFile))
			if err != nil {
				t.Fatal(err)
			}
			hi := 0
			for _, s := range ss {
				if s.RootCauseScore >= 0.5 {
					hi++
				}
			}
			sshare := float64(hi) / float64(len(ss))
			t.Logf("seed %d: %d of %d service-windows (%.3f%%) have a root-cause score >= 0.5", seed, hi, len(ss), 100*sshare)
			if sshare > 0.01 {
				t.Errorf("%.2f%% of fault-free service-windows score >= 0.5, want <= 1%%", 100*sshare)
			}
			if len(sum.Findings) > 0 {
				t.Errorf("%d findings on fault-free traffic, first: %s", len(sum.Findings), sum.Findings[0].Explanation)
			}
		})
	}
}

// mesh is a small hand-built mesh for the root-cause tests: the gateway
// calls api, which calls db then cache in sequence; one root operation.
type meshFault struct {
	svc        string
	from, to   int // windows
	slow       float64
	throwFirst bool // the service fails before making its calls
}

func meshSpans(r *rand.Rand, windows, perWindow int, f meshFault) []ingest.Span {
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC).UnixNano()
	var out []ingest.Span
	id := 0
	next := func() string { id++; return fmt.Sprintf("%016x", id) }
	ms := func(x float64) int64 { return int64(x * 1e6) }
	for w := range windows {
		faulty := w >= f.from && w < f.to
		for i := range perWindow {
			trace := fmt.Sprintf("%032x", r.Uint64())
			start := t0 + int64(w)*int64(time.Minute) + int64(i)*int64(time.Minute)/int64(perWindow)
			self := func(svc string, base float64) int64 {
				x := base * math.Exp(0.3*r.NormFloat64())
				if faulty && svc == f.svc {
					x *= f.slow
				}
				return ms(x)
			}
			throws := faulty && f.throwFirst
			// the leaves
			dbDur := self("db", 4)
			cacheDur := self("cache", 1)
			apiPre, apiPost := self("api", 2), self("api", 2)
			apiID, gwID := next(), next()
			var kids []ingest.Span
			apiStart := start + ms(1)
			at := apiStart + apiPre
			apiDur := apiPre + apiPost
			if !(throws && f.svc == "api") {
				kids = append(kids, ingest.Span{TraceID: trace, SpanID: next(), ParentSpanID: apiID, Caller: "api", Callee: "db", Operation: "query", Depth: 2, StartUnixNano: at, DurationNano: dbDur, StatusCode: 200})
				at += dbDur
				apiDur += dbDur
				if !(throws && f.svc == "db") {
					kids = append(kids, ingest.Span{TraceID: trace, SpanID: next(), ParentSpanID: apiID, Caller: "api", Callee: "cache", Operation: "get", Depth: 2, StartUnixNano: at, DurationNano: cacheDur, StatusCode: 200})
					apiDur += cacheDur
				}
			}
			gwDur := apiDur + self("gateway", 1) + ms(1)
			out = append(out,
				ingest.Span{TraceID: trace, SpanID: gwID, Callee: "gateway", Operation: "GET /", Depth: 0, StartUnixNano: start, DurationNano: gwDur, StatusCode: 200},
				ingest.Span{TraceID: trace, SpanID: apiID, ParentSpanID: gwID, Caller: "gateway", Callee: "api", Operation: "handle", Depth: 1, StartUnixNano: apiStart, DurationNano: apiDur, StatusCode: 200})
			out = append(out, kids...)
		}
	}
	return out
}

// topService runs analyze on spans and returns the services ranked by their
// highest root-cause score over windows [from, to).
func topServices(t *testing.T, spans []ingest.Span, from, to int) []string {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "spans.parquet")
	if err := ingest.WriteFile(p, spans); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "an")
	if _, err := Run(context.Background(), []string{p}, out, Options{}); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadParquet[ServiceRow](filepath.Join(out, ServicesFile))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC).UnixNano()
	best := map[string]float64{}
	for _, r := range rows {
		k := int((r.WindowStartUnixNano - t0) / int64(time.Minute))
		if k >= from && k < to {
			best[r.Service] = max(best[r.Service], r.RootCauseScore)
		}
	}
	var svcs []string
	for s := range best {
		svcs = append(svcs, s)
	}
	slices.SortFunc(svcs, func(a, b string) int {
		if best[a] != best[b] {
			if best[a] > best[b] {
				return -1
			}
			return 1
		}
		return 0
	})
	t.Logf("scores: %v", best)
	return svcs
}

// TestRootCauseNotSymptom: a slow leaf makes every service above it slower;
// the leaf, not its callers, is the root cause.
func TestRootCauseNotSymptom(t *testing.T) {
	for _, svc := range []string{"db", "cache", "api"} {
		t.Run(svc, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			spans := meshSpans(r, 40, 60, meshFault{svc: svc, from: 30, to: 33, slow: 4})
			if top := topServices(t, spans, 30, 33); top[0] != svc {
				t.Errorf("a slow %s: ranking %v", svc, top)
			}
		})
	}
}

// TestRootCauseFailFast: a service that throws before making its calls
// changes no latency upward much but ends its traces: it is the root cause.
func TestRootCauseFailFast(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	spans := meshSpans(r, 40, 60, meshFault{svc: "db", from: 30, to: 33, slow: 1, throwFirst: true})
	if top := topServices(t, spans, 30, 33); top[0] != "db" {
		t.Errorf("db throws: ranking %v", top)
	}
}

// TestPoissonZ checks the tail score against tails summed from the
// closed-form pmf, and its direction.
func TestPoissonZ(t *testing.T) {
	for _, mu := range []float64{0.01, 0.3, 2, 17, 150} {
		for _, k := range []float64{0, 1, 2, 5, 20, 60, 180} {
			pmf := func(i float64) float64 {
				lg, _ := math.Lgamma(i + 1)
				return math.Exp(i*math.Log(mu) - mu - lg)
			}
			var want float64
			switch {
			case k > mu:
				upper := 0.5 * pmf(k)
				for i := k + 1; i < k+2000; i++ {
					upper += pmf(i)
				}
				want = -normalQuantile(max(1e-300, upper))
			case k < mu:
				lower := 0.5 * pmf(k)
				for i := 0.0; i < k; i++ {
					lower += pmf(i)
				}
				want = normalQuantile(lower)
			}
			got := poissonZ(k, mu)
			if math.Abs(got-want) > 1e-6*max(1, math.Abs(want)) {
				t.Errorf("poissonZ(%v, %v) = %v, want %v", k, mu, got, want)
			}
			if (k > mu) != (got > 0) && k != mu {
				t.Errorf("poissonZ(%v, %v) = %v: wrong sign", k, mu, got)
			}
		}
	}
	// one failure among a few calls of an edge failing 1 in 100: ordinary
	if z := poissonZ(1, 0.05); z < 1.5 || z > 2.5 {
		t.Errorf("poissonZ(1, 0.05) = %v, want about 2", z)
	}
}

// TestNoEventsScoreZero checks what countSeriesZ relies on to skip the
// windows without events: at any expected count, even beyond the normal
// approximation (mu > 200), a count of 0 has a Poisson z ≤ 0, so it scores
// 0 with either floor; and countSeriesZ gives those windows 0 beside
// windows that do score.
func TestNoEventsScoreZero(t *testing.T) {
	for _, mu := range []float64{0, 1e-9, 1e-4, 0.3, 0.7, 1, 2.5, 17, 199, 200, 201, 5000, 1e9} {
		z := poissonZ(0, mu)
		if z > 0 {
			t.Errorf("poissonZ(0, %v) = %v > 0", mu, z)
		}
		for _, floor := range []float64{0, countFloor} {
			if s := clampZ(max(0, z-floor)); math.Float64bits(s) != 0 {
				t.Errorf("poissonZ(0, %v) scores %v with floor %v, want +0", mu, s, floor)
			}
		}
	}
	k := []float64{0, 0, 9, 0, 1, 0, 0, 40}
	n := []float64{100, 0, 100, 50, 100, 100, 80, 100}
	z := countSeriesZ(k, n, 0.01, 0, nil)
	for j := range k {
		if k[j] == 0 && math.Float64bits(z[j]) != 0 {
			t.Errorf("window %d without events scores %v", j, z[j])
		}
	}
	if z[2] <= 0 || z[7] <= z[2] {
		t.Errorf("the windows with 9 and 40 events of 100 at a rate of 1%% score %v and %v", z[2], z[7])
	}
}

// TestTraceEndZ checks rootCauses' trace-end z, which walks each root's run
// of the table's trace ends, against its definition: per root and service,
// the count z (countSeriesZ) of the traces of the root that ended at the
// service out of the root's traces, over every window of the root, a
// service-window taking the highest over the roots. Roots share windows
// and services but skip some windows, a service may have no row in a
// window, and one root's traces never end at one service.
func TestTraceEndZ(t *testing.T) {
	r := rand.New(rand.NewPCG(testseed.Seed(t), 20))
	const w = int64(time.Minute)
	roots, svcs := []string{"a GET /", "b POST /x", "c GET /y"}, []string{"api", "cart", "db", "pay"}
	tab := &features.Table{}
	for _, svc := range svcs {
		for k := range int64(40) {
			if k == 30 || r.IntN(10) > 0 {
				tab.Services = append(tab.Services, features.ServiceWindow{Service: svc, StartUnixNano: k * w, Calls: 1 + r.Int64N(50)})
			}
		}
	}
	for _, root := range roots {
		for k := range int64(40) {
			if k != 30 && r.IntN(8) == 0 {
				continue // a window without the root's traces
			}
			for _, svc := range svcs {
				episode := k == 30 && svc == "db"     // traces ending at db
				if svc != "pay" || root != roots[2] { // no trace of c ends at pay
					n := 20 + r.Int64N(5)
					if episode {
						n += 100
					}
					tab.TraceEnds = append(tab.TraceEnds, features.TraceEnd{Root: root, StartUnixNano: k * w, Service: svc, Traces: n})
				}
			}
		}
	}
	// the definition, series by series
	want := make([]float64, len(tab.Services))
	for _, root := range roots {
		var wins []int64
		perWin := map[int64]float64{}
		var rootTotal float64
		for _, e := range tab.TraceEnds {
			if e.Root == root {
				if !slices.Contains(wins, e.StartUnixNano) {
					wins = append(wins, e.StartUnixNano)
				}
				perWin[e.StartUnixNano] += float64(e.Traces)
				rootTotal += float64(e.Traces)
			}
		}
		for _, svc := range svcs {
			ends, n := make([]float64, len(wins)), make([]float64, len(wins))
			var total float64
			seen := false
			for j, win := range wins {
				n[j] = perWin[win]
				for _, e := range tab.TraceEnds {
					if e.Root == root && e.Service == svc && e.StartUnixNano == win {
						ends[j], seen = float64(e.Traces), true
						total += ends[j]
					}
				}
			}
			if !seen {
				continue
			}
			for j, z := range countSeriesZ(ends, n, total/rootTotal, 0, nil) {
				for i, s := range tab.Services {
					if s.Service == svc && s.StartUnixNano == wins[j] {
						want[i] = max(want[i], z)
					}
				}
			}
		}
	}
	rows := rootCauses(tab, map[string][]string{})
	flagged := false
	for i, row := range rows {
		if math.Float64bits(row.TraceEndZ) != math.Float64bits(round6(want[i])) {
			t.Fatalf("%s at window %d: trace-end z %v, want %v", row.Service, row.WindowStartUnixNano/w, row.TraceEndZ, round6(want[i]))
		}
		flagged = flagged || row.Service == "db" && row.WindowStartUnixNano == 30*w && row.TraceEndZ > 3
	}
	if !flagged {
		t.Error("the episode of traces ending at db scores no trace-end z above 3")
	}
}
