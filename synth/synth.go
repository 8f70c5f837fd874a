// Package synth generates a realistic synthetic service mesh: span records
// with daily and weekly traffic seasonality, heavy-tailed latency, errors,
// timeouts and retries, and planted incidents whose ground truth is written
// beside the spans, so every later stage can be tested on known answers.
package synth

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"time"

	"github.com/chaosgen/chaosgen/ingest"
	"github.com/chaosgen/chaosgen/internal/atomicfile"
)

// DefaultStart is the first instant of generated data, a Monday: data never
// depends on the wall clock.
var DefaultStart = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)

// Options describe the mesh and its traffic.
type Options struct {
	Days     float64   // length of the data, in days
	RPS      float64   // mean root requests per second over the whole period
	Services int       // number of services
	Seed     uint64    // the same seed gives byte-identical output
	Start    time.Time // first instant; DefaultStart when zero
	Workers  int       // generator goroutines; 0 means GOMAXPROCS
	// Progress, when set, is called with the spans written so far.
	Progress func(spans int64)
	// RowGroupRows overrides the writer's row group size (tests).
	RowGroupRows int64
	// NoIncidents leaves out the planted incidents: fault-free traffic, on
	// which an anomaly detector must stay quiet.
	NoIncidents bool
}

// Truth is the ground truth written to truth.json.
type Truth struct {
	Seed      uint64     `json:"seed"`
	Start     time.Time  `json:"start"`
	End       time.Time  `json:"end"`
	Services  int        `json:"services"`
	Spans     int64      `json:"spans"`
	Traces    int64      `json:"traces"`
	Incidents []Incident `json:"incidents"`
}

// Incident kinds.
const (
	KindLatency    = "latency"     // a latency regression on an edge
	KindErrors     = "errors"      // an error burst on an edge
	KindCapacity   = "capacity"    // a capacity-limited service at traffic peaks
	KindRetryStorm = "retry_storm" // failures amplified by retries on an edge
)

// Incident is one planted incident.
type Incident struct {
	Caller string `json:"caller"`
	Callee string `json:"callee"`
	Kind   string `json:"kind"`
	// StartUnixNano and EndUnixNano bound the incident; an open-ended
	// regression ends at the end of the data.
	StartUnixNano int64     `json:"start_unix_nano"`
	EndUnixNano   int64     `json:"end_unix_nano"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	// Magnitude is the latency factor (latency, capacity: at the peak) or the
	// error rate (errors, retry_storm) during the incident.
	Magnitude   float64 `json:"magnitude"`
	Description string  `json:"description"`
}

// Check reports options out of range, naming the command-line flag.
func (opt Options) Check() error {
	if opt.Days <= 0 || math.IsNaN(opt.Days) || opt.Days > 366 {
		return fmt.Errorf("--days must be in (0, 366], got %g", opt.Days)
	}
	if opt.RPS <= 0 || math.IsNaN(opt.RPS) || opt.RPS > 1e6 {
		return fmt.Errorf("--rps must be in (0, 1e6], got %g", opt.RPS)
	}
	if opt.Services < 3 || opt.Services > 10000 {
		return fmt.Errorf("--services must be in [3, 10000], got %d", opt.Services)
	}
	return nil
}

const chunk = 10 * time.Minute

// lookaheadBatches bounds the batches of spans (batchSpans each) held by
// the chunks generated ahead of the one being written, over all workers.
const lookaheadBatches = 64

// Generate writes spans to path and the ground truth to truth.json in the
// same directory, both atomically.
func Generate(ctx context.Context, path string, opt Options) (*Truth, error) {
	if err := opt.Check(); err != nil {
		return nil, err
	}
	if opt.Start.IsZero() {
		opt.Start = DefaultStart
	}
	start := opt.Start.UTC()
	end := start.Add(time.Duration(opt.Days * float64(24*time.Hour)))
	m, err := newMesh(opt.Seed, opt.Services, start, end, !opt.NoIncidents)
	if err != nil {
		return nil, err
	}
	w, err := ingest.Create(path, ingest.WriterOptions{RowGroupRows: opt.RowGroupRows})
	if err != nil {
		return nil, err
	}
	defer w.Abort()

	nChunks := int((end.Sub(start) + chunk - 1) / chunk)
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Chunks are generated in parallel, each from its own random stream,
	// and written in order: the output does not depend on the schedule.
	// Each chunk streams batches of whole traces through a channel; the
	// chunks ahead of the one being written block when theirs is full, so
	// memory stays bounded whatever the rate and the length.
	type batch struct {
		spans  []ingest.Span
		traces int64
	}
	ahead := max(2, lookaheadBatches/(workers+1))
	results := make([]chan batch, nChunks)
	for i := range results {
		results[i] = make(chan batch, ahead)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, workers+1) // bounds chunks in flight
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for c := 0; c < nChunks; c++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer close(results[c])
				from := start.Add(time.Duration(c) * chunk)
				to := from.Add(chunk)
				if to.After(end) {
					to = end
				}
				g := &generator{m: m, r: rand.New(rand.NewPCG(opt.Seed, uint64(c)+1)), rps: opt.RPS}
				g.emit = func(spans []ingest.Span, traces int64) bool {
					select {
					case results[c] <- batch{spans, traces}:
						return true
					case <-ctx.Done():
						return false
					}
				}
				g.run(from.UnixNano(), to.UnixNano())
			}()
		}
	}()
	truth := &Truth{Seed: opt.Seed, Start: start, End: end, Services: opt.Services, Incidents: m.incidents}
	stop := func(err error) (*Truth, error) {
		cancel()
		wg.Wait()
		return nil, err
	}
	for c := 0; c < nChunks; c++ {
		for {
			var b batch
			var ok bool
			select {
			case b, ok = <-results[c]:
			case <-ctx.Done():
				return stop(ctx.Err())
			}
			if !ok {
				break
			}
			if err := w.Write(b.spans); err != nil {
				return stop(err)
			}
			truth.Spans += int64(len(b.spans))
			truth.Traces += b.traces
			if opt.Progress != nil {
				opt.Progress(truth.Spans)
			}
		}
		<-sem
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(truth, "", "  ")
	if err != nil {
		return nil, err
	}
	tp := filepath.Join(filepath.Dir(path), "truth.json")
	if err := atomicfile.WriteFile(tp, append(b, '\n')); err != nil {
		return nil, fmt.Errorf("writing %s: %w", tp, err)
	}
	return truth, nil
}

// mesh is the topology plus the traffic model and planted incidents.
type mesh struct {
	*topology
	start, end int64
	incidents  []Incident
	capSvc     int // capacity-limited service, -1 when none
}

// Traffic model: the root request rate follows a daily cycle (peak at 14:00
// UTC, trough at 02:00, ratio 3:1) and a weekly one (weekends at 70%),
// scaled so that its mean over a week is RPS.
const (
	dailyAmp    = 0.5
	weekendFac  = 0.7
	capKnee     = 0.8 // capacity knee as a fraction of the weekday peak level
	capSteep    = 6.0 // latency factor at the peak is 1 + capSteep
	weeklyMean  = (5 + 2*weekendFac) / 7
	peakLevel   = (1 + dailyAmp) / weeklyMean
	regressMult = 2.5
)

// level returns the traffic level at t relative to the mean (mean 1).
func level(t int64) float64 {
	tt := time.Unix(0, t).UTC()
	h := float64(tt.Hour()) + float64(tt.Minute())/60 + float64(tt.Second())/3600
	d := 1 + dailyAmp*math.Cos(2*math.Pi*(h-14)/24)
	if wd := tt.Weekday(); wd == time.Saturday || wd == time.Sunday {
		d *= weekendFac
	}
	return d / weeklyMean
}

// capacityFactor is the latency factor of the capacity-limited service at t.
func capacityFactor(t int64) float64 {
	x := level(t)/peakLevel - capKnee
	if x <= 0 {
		return 1
	}
	x /= 1 - capKnee
	return 1 + capSteep*x*x
}

func newMesh(seed uint64, services int, start, end time.Time, plant bool) (*mesh, error) {
	r := rand.New(rand.NewPCG(seed, 0))
	t, err := buildTopology(r, services)
	if err != nil {
		return nil, err
	}
	m := &mesh{topology: t, start: start.UnixNano(), end: end.UnixNano(), capSvc: -1}
	if plant {
		m.plant(r)
	}
	return m, nil
}

// traffic returns each edge's expected calls per root request.
func (t *topology) traffic() []float64 {
	reach := make([]float64, len(t.services))
	calls := make([]float64, len(t.edges))
	for i, e := range t.roots {
		calls[e.id] = t.rootW[i]
		reach[e.to] += t.rootW[i]
	}
	// services in layer order: callers before callees
	order := make([]int, len(t.services))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return t.services[order[a]].layer < t.services[order[b]].layer })
	for _, si := range order {
		for _, e := range t.services[si].calls {
			calls[e.id] = reach[si] * e.prob
			reach[e.to] += calls[e.id]
		}
	}
	return calls
}

// plant picks the edges and times of the planted incidents.
func (m *mesh) plant(r *rand.Rand) {
	calls := m.traffic()
	var cand []*edge
	for _, e := range m.edges {
		if e.from >= 0 && calls[e.id] >= 0.2 {
			cand = append(cand, e)
		}
	}
	if len(cand) < 3 {
		for _, e := range m.edges {
			if e.from >= 0 && calls[e.id] < 0.2 {
				cand = append(cand, e)
			}
		}
	}
	sort.SliceStable(cand, func(a, b int) bool { return calls[cand[a].id] > calls[cand[b].id] })
	r.Shuffle(len(cand), func(i, j int) { cand[i], cand[j] = cand[j], cand[i] })
	span := m.end - m.start
	at := func(frac float64) int64 {
		t := m.start + int64(frac*float64(span))
		return t - (t-m.start)%int64(time.Minute)
	}
	name := func(i int) string {
		if i < 0 {
			return ""
		}
		return m.services[i].name
	}
	used := map[int]bool{}
	add := func(e *edge, kind string, from, to int64, mag float64, desc string) {
		m.incidents = append(m.incidents, Incident{
			Caller: name(e.from), Callee: name(e.to), Kind: kind,
			StartUnixNano: from, EndUnixNano: to,
			Start: time.Unix(0, from).UTC(), End: time.Unix(0, to).UTC(),
			Magnitude: mag, Description: desc,
		})
		used[e.to] = true
	}
	pick := func() *edge {
		for i, e := range cand {
			if e != nil && !used[e.to] && !used[e.from] {
				cand[i] = nil
				return e
			}
		}
		for i, e := range cand {
			if e != nil {
				cand[i] = nil
				return e
			}
		}
		return nil
	}
	if e := pick(); e != nil {
		e.regressFrom = at(0.6)
		e.slowdown = regressMult
		add(e, KindLatency, e.regressFrom, m.end, regressMult,
			fmt.Sprintf("%s's calls to %s became %.1fx slower from this time on", name(e.from), name(e.to), regressMult))
	}
	if e := pick(); e != nil {
		e.burstFrom, e.burstTo, e.burstRate = at(0.35), at(0.35)+int64(20*time.Minute), 0.4
		add(e, KindErrors, e.burstFrom, e.burstTo, e.burstRate,
			fmt.Sprintf("%.0f%% of %s's calls to %s failed for 20 minutes", 100*e.burstRate, name(e.from), name(e.to)))
	}
	if e := pick(); e != nil {
		e.stormFrom, e.stormTo, e.stormRate = at(0.8), at(0.8)+int64(30*time.Minute), 0.6
		e.retries = 3
		add(e, KindRetryStorm, e.stormFrom, e.stormTo, e.stormRate,
			fmt.Sprintf("%s failed %.0f%% of calls for 30 minutes and %s retried each up to 3 times", name(e.to), 100*e.stormRate, name(e.from)))
	}
	// the capacity-limited service: the busiest non-entry service not yet used
	best, bestCalls := -1, 0.0
	in := make([]float64, len(m.services))
	for _, e := range m.edges {
		in[e.to] += calls[e.id]
	}
	for i, s := range m.services {
		if s.layer > 0 && !used[i] && in[i] > bestCalls {
			best, bestCalls = i, in[i]
		}
	}
	if best < 0 {
		return
	}
	m.capSvc = best
	m.services[best].capacity = capKnee
	// one incident per caller edge and per peak window where the factor exceeds 1.5
	for _, e := range m.edges {
		if e.to != best {
			continue
		}
		for _, w := range m.peakWindows(1.5) {
			add(e, KindCapacity, w[0], w[1], capacityFactorMax(w),
				fmt.Sprintf("%s is capacity-limited: its latency climbs steeply at the daily traffic peak", name(best)))
		}
	}
}

// peakWindows returns the minute-aligned windows where the capacity factor
// exceeds f.
func (m *mesh) peakWindows(f float64) [][2]int64 {
	var out [][2]int64
	var from int64 = -1
	for t := m.start; t < m.end; t += int64(time.Minute) {
		hot := capacityFactor(t) > f
		switch {
		case hot && from < 0:
			from = t
		case !hot && from >= 0:
			out = append(out, [2]int64{from, t})
			from = -1
		}
	}
	if from >= 0 {
		out = append(out, [2]int64{from, m.end})
	}
	return out
}

func capacityFactorMax(w [2]int64) float64 {
	best := 1.0
	for t := w[0]; t < w[1]; t += int64(time.Minute) {
		best = max(best, capacityFactor(t))
	}
	return math.Round(best*100) / 100
}
