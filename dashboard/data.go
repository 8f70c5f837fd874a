package dashboard

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/chaosgen/chaosgen/analysis"
	"github.com/chaosgen/chaosgen/bundle"
	"github.com/chaosgen/chaosgen/features"
	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/edge"
	"github.com/chaosgen/chaosgen/sim"
)

// AnomalyMark is the window anomaly score from which a window is marked
// anomalous on the edge charts.
const AnomalyMark = 0.7

// CriticalEdge is the criticality from which an edge is drawn as part of a
// critical path (the share of root requests that use it).
const CriticalEdge = 0.5

// MaxBuckets bounds the points of a time series chart: windows are merged
// into buckets of a whole number of windows so that a chart has at most
// this many.
const MaxBuckets = 288

// Options name the inputs of Load. Only these files are ever read.
type Options struct {
	Analysis string // analysis directory (analyze -o DIR); required
	Bundle   string // bundle.json; optional
	Replay   string // replay directory (replay -o DIR); optional
	// Verify checks the bundle's signature when PublicKey or
	// AllowedSigners is set; otherwise the bundle is decoded strictly and
	// shown as not verified. Verify.Now is the time expiry is checked at.
	Verify bundle.VerifyOptions
	// Spans are the span files a simulation replays; empty: the analysis
	// inputs recorded in summary.json, when they all exist.
	Spans []string
	Mesh  *sim.Mesh // the simulated mesh; nil: sim's default
}

// callerName names a caller's node in the graph (its ids, anchors and
// labels): "ingress" for the empty caller. An edge's text is edge.Edge's.
func callerName(c string) string {
	if c == "" {
		return "ingress"
	}
	return c
}

// Edge is one edge with everything its page shows.
type Edge struct {
	Key      edge.Edge
	Row      analysis.EdgeRow
	Findings []analysis.Finding // sorted by score, highest first
	Score    float64            // best finding score, 0 without findings
	// Resilience is the lowest resilience score of the replayed profiles
	// targeting the edge; nil without a replay or such profiles.
	Resilience *float64
	Profiles   []int // indexes into Data.Bundle.B.Profiles of profiles that target the edge
	windows    []analysis.WindowRow
	forecast   map[string][]analysis.ForecastRow // by metric
	replay     []features.Window                 // the replay's windows of the edge, by start
	simEdge    [2]*sim.EdgeStats                 // baseline, faults
}

// BundleInfo is the bundle and how it was checked.
type BundleInfo struct {
	Path        string
	B           *bundle.Bundle
	Raw         []byte
	Digest      string // sha256 hex of the file
	Verified    bool   // the signature verified against a trusted key
	Signer      string // who signed it, when Verified
	Fingerprint string
	Check       string // one sentence: how the bundle was checked, or why it failed
	Expired     bool
	// VerifyErr is why a signature that was checked did not verify (nil
	// when it verified or was not checked); it wraps bundle.ErrInvalid.
	VerifyErr error
}

// ReplayInfo is what a replay directory holds.
type ReplayInfo struct {
	Dir    string
	Report *sim.Report
	Adapt  *sim.LoopReport // adapt.json, nil when absent
	Learn  *sim.LoopReport // learn.json's learning agent, nil when absent
	spans  bool            // spans.parquet was read
}

// Data is everything the dashboard and the report show, computed once by
// Load. It is read-only afterwards and safe for concurrent use.
type Data struct {
	Summary  *analysis.Summary
	Edges    []*Edge // sorted by caller, callee
	Services []string
	Bundle   *BundleInfo // nil without --bundle
	Replay   *ReplayInfo // nil without --replay
	Layout   *Layout
	Spans    []string // span files for simulations
	Mesh     *sim.Mesh
	Window   time.Duration
	edges    map[edge.Edge]*Edge
}

// Edge returns the edge from caller to callee, or nil.
func (d *Data) Edge(caller, callee string) *Edge {
	return d.edges[edge.Edge{Caller: caller, Callee: callee}]
}

// Load reads the inputs named by o and computes what the views show.
func Load(ctx context.Context, o Options) (*Data, error) {
	if o.Analysis == "" {
		return nil, errors.New("an analysis directory is required")
	}
	sum, err := analysis.ReadSummary(o.Analysis)
	if err != nil {
		return nil, err
	}
	rows, err := analysis.ReadParquet[analysis.EdgeRow](filepath.Join(o.Analysis, analysis.EdgesFile))
	if err != nil {
		return nil, err
	}
	wins, err := analysis.ReadParquet[analysis.WindowRow](filepath.Join(o.Analysis, analysis.WindowsFile))
	if err != nil {
		return nil, err
	}
	fc, err := analysis.ReadParquet[analysis.ForecastRow](filepath.Join(o.Analysis, analysis.ForecastFile))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	d := &Data{Summary: sum, edges: map[edge.Edge]*Edge{}, Mesh: o.Mesh, Window: time.Minute}
	if w, err := time.ParseDuration(sum.Window); err == nil && w > 0 {
		d.Window = w
	}
	services := map[string]bool{}
	for _, r := range rows {
		e := &Edge{Key: edge.Edge{Caller: r.Caller, Callee: r.Callee}, Row: r, forecast: map[string][]analysis.ForecastRow{}}
		d.edges[e.Key] = e
		d.Edges = append(d.Edges, e)
		if r.Caller != "" {
			services[r.Caller] = true
		}
		services[r.Callee] = true
	}
	slices.SortFunc(d.Edges, func(a, b *Edge) int {
		return cmp.Or(cmp.Compare(a.Key.Caller, b.Key.Caller), cmp.Compare(a.Key.Callee, b.Key.Callee))
	})
	d.Services = slices.Sorted(func(yield func(string) bool) {
		for s := range services {
			if !yield(s) {
				return
			}
		}
	})
	for _, w := range wins {
		if e := d.edges[edge.Edge{Caller: w.Caller, Callee: w.Callee}]; e != nil {
			e.windows = append(e.windows, w)
		}
	}
	for _, f := range fc {
		if e := d.edges[edge.Edge{Caller: f.Caller, Callee: f.Callee}]; e != nil {
			e.forecast[f.Metric] = append(e.forecast[f.Metric], f)
		}
	}
	for _, e := range d.Edges {
		slices.SortFunc(e.windows, func(a, b analysis.WindowRow) int {
			return cmp.Compare(a.WindowStartUnixNano, b.WindowStartUnixNano)
		})
		for _, s := range e.forecast {
			slices.SortFunc(s, func(a, b analysis.ForecastRow) int { return cmp.Compare(a.TUnixNano, b.TUnixNano) })
		}
	}
	for _, f := range sum.Findings {
		if e := d.edges[edge.Edge{Caller: f.Caller, Callee: f.Callee}]; e != nil {
			e.Findings = append(e.Findings, f)
			e.Score = max(e.Score, f.Score)
		}
	}
	for _, e := range d.Edges {
		slices.SortStableFunc(e.Findings, func(a, b analysis.Finding) int {
			return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.FromUnixNano, b.FromUnixNano), cmp.Compare(a.Kind, b.Kind))
		})
	}
	if o.Bundle != "" {
		if d.Bundle, err = loadBundle(o.Bundle, o.Verify); err != nil {
			return nil, err
		}
		d.linkProfiles()
	}
	if o.Replay != "" {
		if d.Replay, err = loadReplay(ctx, o.Replay, d); err != nil {
			return nil, err
		}
	}
	d.Spans = o.Spans
	if len(d.Spans) == 0 {
		d.Spans = existingInputs(sum)
	}
	d.Layout = LayoutGraph(d.layoutEdges())
	return d, nil
}

// existingInputs returns the analysis inputs when every one still exists.
func existingInputs(s *analysis.Summary) []string {
	var files []string
	for _, in := range s.Inputs {
		if st, err := os.Stat(in.Path); err != nil || !st.Mode().IsRegular() {
			return nil
		}
		files = append(files, in.Path)
	}
	return files
}

func (d *Data) layoutEdges() []LayoutEdge {
	out := make([]LayoutEdge, 0, len(d.Edges))
	for _, e := range d.Edges {
		from := e.Key.Caller
		if from == "" {
			from = Ingress
		}
		out = append(out, LayoutEdge{From: from, To: e.Key.Callee})
	}
	return out
}

// loadBundle reads the bundle; a signature that does not verify is shown,
// not fatal, but a bundle that does not decode is an error.
func loadBundle(path string, vo bundle.VerifyOptions) (*BundleInfo, error) {
	op, err := bundle.Open(path, bundle.VerifyOptions{})
	if err != nil {
		return nil, err
	}
	bi := &BundleInfo{Path: path, Raw: op.Raw, Digest: op.Digest, B: op.Bundle}
	if !vo.Enabled() {
		bi.Check = "signature not checked (start with --pub or --allowed-signers and --identity)"
		bi.Expired = !vo.Now.IsZero() && op.CheckExpiry(vo.Now) != nil
		return bi, nil
	}
	switch v, verr := bundle.Open(path, vo); {
	case verr == nil:
		bi.B, bi.Raw, bi.Digest = v.Bundle, v.Raw, v.Digest // the bytes that were verified
		bi.Verified, bi.Signer, bi.Fingerprint = true, v.Sig.Principal, v.Sig.Fingerprint
		bi.Check = "signature verified: signed by " + v.Sig.Principal
	case errors.Is(verr, bundle.ErrExpired):
		bi.Expired = true
		bi.Check = verr.Error()
	default:
		bi.Check, bi.VerifyErr = verr.Error(), verr
	}
	return bi, nil
}

func (d *Data) linkProfiles() {
	for i := range d.Bundle.B.Profiles {
		t := d.Bundle.B.Profiles[i].Target
		for _, e := range d.Edges {
			if e.Key.Callee == t.Callee && (t.Caller == "" || t.Caller == e.Key.Caller) {
				e.Profiles = append(e.Profiles, i)
			}
		}
	}
}

// learnFile is learn.json.
type learnFile struct {
	Learn    *sim.LoopReport `json:"learn"`
	Adaptive *sim.LoopReport `json:"adaptive"`
}

func loadReplay(ctx context.Context, dir string, d *Data) (*ReplayInfo, error) {
	ri := &ReplayInfo{Dir: dir, Report: &sim.Report{}}
	if err := readJSON(filepath.Join(dir, "report.json"), ri.Report); err != nil {
		return nil, err
	}
	var a sim.LoopReport
	switch err := readJSON(filepath.Join(dir, "adapt.json"), &a); {
	case err == nil:
		ri.Adapt = &a
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	var l learnFile
	switch err := readJSON(filepath.Join(dir, "learn.json"), &l); {
	case err == nil:
		ri.Learn = l.Learn
		if ri.Adapt == nil {
			ri.Adapt = l.Adaptive
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	for i, res := range []*sim.Result{ri.Report.Baseline, ri.Report.Faults} {
		if res == nil {
			continue
		}
		for j := range res.Edges {
			es := &res.Edges[j]
			if e := d.edges[edge.Edge{Caller: es.Caller, Callee: es.Callee}]; e != nil {
				e.simEdge[i] = es
			}
		}
	}
	for _, p := range ri.Report.Profiles {
		if p.Score == nil {
			continue
		}
		for _, e := range d.Edges {
			if e.Key.Callee == p.Callee && (p.Caller == "" || p.Caller == e.Key.Caller) {
				if e.Resilience == nil || *p.Score < *e.Resilience {
					s := *p.Score
					e.Resilience = &s
				}
			}
		}
	}
	spans := filepath.Join(dir, "spans.parquet")
	if _, err := os.Stat(spans); err == nil {
		t, err := replayFeatures(ctx, spans, d.Window)
		if err != nil {
			return nil, err
		}
		for i, fe := range t.Edges {
			if e := d.edges[edge.Edge{Caller: fe.Caller, Callee: fe.Callee}]; e != nil {
				e.replay = t.EdgeWindows(i)
			}
		}
		ri.spans = true
	}
	return ri, nil
}

func readJSON(path string, v any) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

// Resilience is the overall resilience score of a replay: the mean of the
// scores of the profiles that fired on root requests, and how many did.
func Resilience(profiles []sim.ProfileReport) (score float64, n int) {
	sum := 0.0
	for _, p := range profiles {
		if p.Score != nil {
			sum += *p.Score
			n++
		}
	}
	if n == 0 {
		return math.NaN(), 0
	}
	return sum / float64(n), n
}

// RoundResilience is the same mean for one round of a loop.
func RoundResilience(r sim.Round) float64 {
	sum, n := 0.0, 0
	for _, p := range r.Profiles {
		if p.Score != nil {
			sum += *p.Score
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// replayFeatures aggregates a replay's spans per edge and window with
// features.Build, the aggregation analyze uses.
func replayFeatures(ctx context.Context, path string, window time.Duration) (*features.Table, error) {
	of, err := ingest.Open([]string{path})
	if err != nil {
		return nil, err
	}
	defer of.Close()
	return features.Build(ctx, of, features.Options{Window: window})
}

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
